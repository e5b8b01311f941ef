"""
The polls behind :class:`~airflow_provider_octopods.triggers.events.MessageStatusEventTrigger`: the
WhatsApp listing of one connection, read on a clock-aligned cadence that slows on errors and quickens
while the listing fills fast, and the watermark that tells what is new.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_octopods import api
from airflow_provider_octopods.delivery import LISTING_POLICY
from airflow_provider_octopods.exceptions import OctopodsAuthError, OctopodsError, OctopodsValidationError
from airflow_provider_octopods.models import Channel

if TYPE_CHECKING:
    from airflow_provider_octopods.hooks.octopods import OctopodsAsyncHook
    from airflow_provider_octopods.hooks.triggerer_client import SharedSession
    from airflow_provider_octopods.models import SentMessage

#: The shortest pause between two polls, however fast the listing fills.
FASTEST_POLL = 5.0
#: The pause after a rejected key or a broken connection, which waiting alone does not mend.
LONG_PAUSE = 600.0
#: A poll that finds at least this many messages newer than the previous one halves the pause.
FILLING_FAST = api.LISTING_MAX_LIMIT // 2


@dataclass(frozen=True)
class ListingPoll:
    """
    One poll of the listing, as the shared stream yields it to every watcher.

    :param polled_at: When the listing request started (epoch seconds).
    :param messages: The newest messages, newest first (empty after an error).
    :param error: Why the poll failed, if it did.
    :param next_poll_in: Seconds until the next poll (for the watchers' log lines).
    """

    polled_at: float
    messages: tuple[SentMessage, ...] = ()
    error: OctopodsError | None = None
    next_poll_in: float = 0.0

    @property
    def polled_at_utc(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.polled_at, tz=dt.UTC)


@dataclass
class Cadence:
    """
    When to poll next: on multiples of the current pause (so watchers with the same interval poll at
    the same moments, and share one request), ``poll_interval`` normally, down to
    :data:`FASTEST_POLL` while the listing fills fast, backing off after errors.
    """

    poll_interval: float
    pause: float = field(init=False)
    errors: int = 0

    def __post_init__(self) -> None:
        self.pause = self.poll_interval

    def next_tick(self, now: float) -> float:
        return (math.floor(now / self.pause) + 1) * self.pause

    def after(self, poll: ListingPoll, new_messages: int) -> None:
        longest = max(LONG_PAUSE, self.poll_interval)
        if isinstance(poll.error, OctopodsAuthError | OctopodsValidationError):
            self.errors, self.pause = 0, longest
        elif poll.error is not None:
            self.errors += 1
            self.pause = min(self.poll_interval * 2**self.errors, longest)
        elif new_messages >= FILLING_FAST:
            self.errors, self.pause = 0, max(FASTEST_POLL, self.pause / 2)
        else:
            self.errors, self.pause = 0, min(self.poll_interval, self.pause * 2)


async def listing_polls(conn_id: str, poll_interval: float) -> AsyncIterator[ListingPoll]:
    """
    Poll the listing forever (it never returns and never raises but for cancellation): a shared
    stream that ends fails every watcher, and a watcher trigger that ends is restarted at once.
    """
    from airflow_provider_octopods.hooks.octopods import OctopodsAsyncHook

    cadence = Cadence(poll_interval)
    newest: int | None = None
    hook = OctopodsAsyncHook(octopods_conn_id=conn_id)
    while True:
        tick = cadence.next_tick(time.time())
        await asyncio.sleep(max(0.0, tick - time.time()))
        poll = await _poll(hook, tick)
        arrived = _newer_than(poll.messages, newest)
        if poll.error is None and poll.messages:
            newest = poll.messages[0].message_id
        cadence.after(poll, arrived)
        yield ListingPoll(poll.polled_at, poll.messages, poll.error, next_poll_in=cadence.pause)


async def _poll(hook: OctopodsAsyncHook, tick: float) -> ListingPoll:
    """One poll through the key's shared listing feed (a fetch since ``tick`` serves it)."""
    try:
        settings = await hook.get_settings()
        fingerprint = settings.fingerprint_for(Channel.WHATSAPP)
        async with hook.session() as shared:
            feed = shared.listing_feed(fingerprint, _fetcher(hook, shared))
            snapshot = await feed.snapshot(fresh_since=tick)
    except OctopodsError as error:
        hook.reset_settings()  # a mended connection is read again at the next poll
        return ListingPoll(time.time(), error=error)
    except Exception as error:  # a bug must not end the watcher: it is restarted in a tight loop
        return ListingPoll(time.time(), error=OctopodsError(f"Unexpected {type(error).__name__}: {error}"))
    return ListingPoll(snapshot.fetched_at, snapshot.messages, snapshot.error)


def _fetcher(hook: OctopodsAsyncHook, shared: SharedSession) -> Any:
    request = api.listing_request(api.LISTING_MAX_LIMIT)

    async def fetch() -> list[SentMessage]:
        return await hook.call(shared, request, policy=LISTING_POLICY)  # type: ignore[no-any-return]

    return fetch


def _newer_than(messages: tuple[SentMessage, ...], newest: int | None) -> int:
    """How many listed messages are newer than the previously newest (all, when it dropped out)."""
    if newest is None:
        return 0
    for position, message in enumerate(messages):
        if message.message_id == newest:
            return position
    return len(messages)


@dataclass
class Watermark:
    """
    What one watcher has reported: the ids it reported (or found already there at its baseline)
    among the messages the listing still shows, and the newest message it saw.

    JSON-native (:meth:`to_json`), to live in the asset state store.
    """

    reported: set[int] = field(default_factory=set)
    newest: int | None = None
    started: bool = False

    @classmethod
    def from_json(cls, data: Any) -> Watermark:
        if not isinstance(data, dict):
            return cls()
        reported = {int(item) for item in data.get("reported", []) if isinstance(item, int)}
        newest = data.get("newest")
        return cls(reported, newest if isinstance(newest, int) else None, started=True)

    def to_json(self) -> dict[str, Any]:
        return {"reported": sorted(self.reported), "newest": self.newest}

    def advance(self, messages: tuple[SentMessage, ...], statuses: tuple[str, ...]) -> tuple[list[Any], bool]:
        """
        The messages to report from this poll (none at the baseline), and whether a gap may have
        hidden some; the record then covers them, and forgets ids the listing no longer shows.
        """
        listed = {message.message_id for message in messages}
        matching = [message for message in messages if message.status.value in statuses]
        gap = self.newest is not None and self.newest not in listed and len(messages) >= api.LISTING_MAX_LIMIT
        found = [] if not self.started else [m for m in matching if m.message_id not in self.reported]
        self.reported = {i for i in self.reported if i in listed} | {m.message_id for m in matching}
        if messages:
            self.newest = messages[0].message_id
        self.started = True
        return sorted(found, key=lambda message: message.message_id), gap

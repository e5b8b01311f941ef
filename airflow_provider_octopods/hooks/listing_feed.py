"""
:class:`ListingFeed`: one WhatsApp listing request settles every recent wait of a key.

The listing returns the status of the newest 100 messages of the key in one request, and the
messages a DAG waits for are almost always among them (a mapped send of 50, then a sensor on those
50). So instead of one status request per message and poll, the waits of one key in a triggerer
share a feed: when a wait is due for a poll, it reads the newest listing (fetched for it, or for a
wait due at about the same time), and every response settles, at once, every registered id it shows
settled. Per-message polling remains the fallback, exact: for an id the listing does not show (older
than its newest 100, or sent outside the API), and for any poll whose listing request failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from airflow_provider_octopods import api
from airflow_provider_octopods.exceptions import OctopodsError

if TYPE_CHECKING:
    from airflow_provider_octopods.models import MessageStatus, SentMessage

#: Never more than one listing request per second for one key, whatever the waits' schedules.
MIN_FETCH_INTERVAL = 1.0
#: After a listing answer that is no passing trouble (a 404 from a proxy, a 403, ...), the feed does
#: not ask again for this long: its waits poll each message meanwhile.
UNAVAILABLE_FOR = 300.0

Fetch = Callable[[], Awaitable["list[SentMessage]"]]

Settles = Callable[["MessageStatus"], bool]


def is_passing(error: OctopodsError) -> bool:
    """
    Whether a failed listing is worth asking again at the next poll: what the retry policy would
    retry (5xx, unreadable answers, dropped connections, a 429). Anything else (a 404 from a proxy, a
    403) will not pass by itself.
    """
    return api.RetryPolicy(max_rate_limit_wait=None).is_retryable(error, _LISTING)


_LISTING = api.listing_request(api.LISTING_MAX_LIMIT)


@dataclass(frozen=True)
class Snapshot:
    """
    One listing request: when it started, and the messages it listed (newest first), or its error.

    :param fetched_at: When the request started (the listing is at least this fresh).
    :param messages: The newest messages of the key, as the listing gave them.
    :param error: Why the request failed; its askers then read each message on its own.
    """

    fetched_at: float
    messages: tuple[SentMessage, ...] = ()
    error: OctopodsError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @cached_property
    def statuses(self) -> dict[int, MessageStatus]:
        """The status of each listed id (computed once, for every wait that reads this snapshot)."""
        return {message.message_id: message.to_status() for message in self.messages}


@dataclass
class _Watch:
    settles: Settles
    future: asyncio.Future[MessageStatus] = field(default_factory=asyncio.Future)


class ListingFeed:
    """
    The newest-100 WhatsApp listing of one key, shared by every wait of that key in one event loop.

    The feed has no schedule of its own: a fetch happens when a wait asks for a listing at least as
    fresh as its poll time (:meth:`snapshot`), so the cadence follows the shortest pending schedule of
    the waits, and stops when nobody waits. At most one request is in flight (later askers share it),
    and requests start at least :data:`MIN_FETCH_INTERVAL` apart. A wait can also :meth:`watch` its
    id: any response that shows it settled wakes it before its next poll is due.
    """

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self._latest: Snapshot | None = None
        self._in_flight: asyncio.Future[Snapshot] | None = None
        self._last_started = float("-inf")
        self._unavailable_until = float("-inf")
        self._watches: dict[int, list[_Watch]] = {}
        self._waits: dict[int, int] = {}
        self.requests = 0

    def register(self, message_id: int) -> None:
        """A wait of ``message_id`` starts (:meth:`shared` counts the ids waited for)."""
        self._waits[message_id] = self._waits.get(message_id, 0) + 1

    def unregister(self, message_id: int) -> None:
        remaining = self._waits.get(message_id, 0) - 1
        if remaining > 0:
            self._waits[message_id] = remaining
        else:
            self._waits.pop(message_id, None)

    @property
    def shared(self) -> bool:
        """
        Whether a listing request serves more than one id now, and the listing is not known to fail.

        For a lone id a status request costs the same and says more (the status text, the provider's
        id, the time of the change), so a lone wait polls its message on its own.
        """
        return len(self._waits) > 1 and time.time() >= self._unavailable_until

    async def snapshot(self, *, fresh_since: float) -> Snapshot:
        """
        A listing whose request started at or after ``fresh_since`` (check :attr:`Snapshot.ok`).

        A request in flight is shared when it is fresh enough; otherwise the next one starts once it
        is done and :data:`MIN_FETCH_INTERVAL` has passed since the last start.
        """
        while True:
            latest = self._latest
            if latest is not None and latest.fetched_at >= fresh_since:
                return latest
            in_flight = self._in_flight
            if in_flight is not None:
                result = await asyncio.shield(in_flight)
                if result.fetched_at >= fresh_since:
                    return result
                continue
            self._in_flight = asyncio.get_running_loop().create_future()
            return await self._fetch_now(self._in_flight)

    async def _fetch_now(self, done: asyncio.Future[Snapshot]) -> Snapshot:
        result = Snapshot(time.time(), error=OctopodsError("The listing request was cancelled."))
        try:
            pause = self._last_started + MIN_FETCH_INTERVAL - time.time()
            if pause > 0:
                await asyncio.sleep(pause)
            started = self._last_started = time.time()
            self.requests += 1
            try:
                result = Snapshot(started, tuple(await self._fetch()))
            except OctopodsError as error:
                if not is_passing(error):
                    self._unavailable_until = started + UNAVAILABLE_FOR
                result = Snapshot(started, error=error)  # every asker reads on its own this time
                return result
            self._latest = result
            self._notify(result)
            return result
        finally:
            self._in_flight = None
            if not done.done():
                done.set_result(result)

    def watch(self, message_id: int, settles: Settles) -> asyncio.Future[MessageStatus]:
        """A future resolved by the first listing showing ``message_id`` in a status ``settles`` accepts."""
        entry = _Watch(settles)
        self._watches.setdefault(message_id, []).append(entry)
        entry.future.add_done_callback(lambda _: self._forget(message_id, entry))
        return entry.future

    def _forget(self, message_id: int, entry: _Watch) -> None:
        entries = self._watches.get(message_id)
        if entries is not None:
            entries.remove(entry)
            if not entries:
                del self._watches[message_id]

    def _notify(self, snapshot: Snapshot) -> None:
        watched = self._watches.keys() & snapshot.statuses.keys()
        for message_id in watched:
            status = snapshot.statuses[message_id]
            for entry in list(self._watches.get(message_id, ())):
                if not entry.future.done() and entry.settles(status):
                    entry.future.set_result(status)

    @property
    def watching(self) -> int:
        """How many waits watch an id now (for tests and benchmarks)."""
        return sum(len(entries) for entries in self._watches.values())

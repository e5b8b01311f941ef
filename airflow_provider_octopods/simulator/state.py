"""Messages and how their status moves: time-driven, scripted, or held and set by hand.

Status is computed lazily from the clock — nothing runs in the background — so a server holding a
million messages costs nothing between requests, and a progression is exactly reproducible: the
time of every change is fixed when the message is created (from the seed and the message id) and
stored, so the statistics can report *when* each change happened, not when it was first observed.

Three modes:

* ``timed``: a schedule of ``(status, time)`` entries; the status is the last entry not in the future.
* ``scripted``: one status per read that shows it (a status poll, or a listing that lists the
  message), the last one repeating; a change is recorded at the time of the read that first returned
  it. Nothing else (admin reads, 429s, faults) consumes a step.
* ``fixed``: held at a status, either frozen from one of the above or set by the admin API.

A message whose ``created_at`` is still in the future (traffic laid out ahead, see
:mod:`.traffic`) does not exist yet for the API: the store leaves it out of the listing and the
status lookup until the clock reaches it.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from .clock import format_timestamp
from .rules import Step, Timing
from .statuses import DEFAULT_FAILURES, Channel, Failure, Status

if TYPE_CHECKING:
    import random
    from collections.abc import Sequence


class Mode(StrEnum):
    TIMED = "timed"
    SCRIPTED = "scripted"
    FIXED = "fixed"


@dataclass(frozen=True)
class Entry:
    """A status a message reached, when, and why it failed (failure statuses only)."""

    status: Status
    at: float
    failure: Failure | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status.value,
            "at": round(self.at, 6),
            "at_iso": format_timestamp(self.at, millis=True),
        }
        if self.failure is not None:
            data["failure_reason"] = self.failure.title
            data["failure_code"] = self.failure.code
        return data


@dataclass(frozen=True)
class ScriptItem:
    """One scripted poll answer."""

    status: Status
    failure: Failure | None = None

    @classmethod
    def from_value(cls, value: object) -> ScriptItem:
        step = Step.from_value(value)
        return cls(step.status, step.failure)


def build_schedule(steps: Sequence[Step], start: float, timing: Timing, rng: random.Random) -> list[Entry]:
    """Absolute times for each step: delays resolved from ``timing``, each scaled by seeded jitter.

    A step whose delay is switched off (``read`` with ``read_after`` disabled) ends the schedule.
    """
    entries: list[Entry] = []
    at = start
    for step in steps:
        delay = timing.resolve(step.after)
        if delay is None:
            break
        if delay > 0 and timing.jitter > 0:
            delay *= 1.0 + timing.jitter * rng.uniform(-1.0, 1.0)
        at += delay
        entries.append(Entry(step.status, at, step.failure))
    return entries


@dataclass
class Message:
    """One sent (or seeded) message and its status progression."""

    message_id: int
    channel: Channel
    owner: str
    phone: str
    content: str
    created_at: float
    channel_message_id: str
    mode: Mode
    source: str = "api"
    rule: str = "default"
    template_id: int | None = None
    destination_user_name: str | None = None
    intercom_teammate_id: str | None = None
    intercom_conversation_id: str = ""
    intercom_conversation_part_id: str = ""
    header_attachment_url: str | None = None
    default_failure: Failure | None = None
    schedule: list[Entry] = field(default_factory=list)
    script: list[ScriptItem] = field(default_factory=list)
    script_pos: int = 0
    recorded: list[Entry] = field(default_factory=list)
    polls: int = 0

    # -- reading -----------------------------------------------------------------------------

    def _with_failure(self, entry: Entry) -> Entry:
        if entry.status.is_failure and entry.failure is None:
            failure = self.default_failure or DEFAULT_FAILURES[entry.status]
            return Entry(entry.status, entry.at, failure)
        return entry

    def history(self, now: float) -> list[Entry]:
        """Changes that have happened by ``now`` (scheduled times for timed messages)."""
        if self.mode is Mode.TIMED:
            past = [e for e in self.schedule if e.at <= now]
            if not past and self.schedule:
                past = [self.schedule[0]]
            return [self._with_failure(e) for e in past]
        return [self._with_failure(e) for e in self.recorded]

    def current(self, now: float) -> Entry:
        """The status right now, without consuming a scripted step."""
        if self.mode is Mode.TIMED:
            latest = self.schedule[0]
            for entry in self.schedule:
                if entry.at <= now:
                    latest = entry
                else:
                    break
            return self._with_failure(latest)
        if self.recorded:
            return self._with_failure(self.recorded[-1])
        item = self.script[0]
        return self._with_failure(Entry(item.status, self.created_at, item.failure))

    def visible(self, now: float) -> bool:
        """Whether the message exists for the API yet: its ``created_at`` has come."""
        return self.created_at <= now

    def last_updated(self, now: float) -> float:
        """Time of the latest status change (``created_at`` before any)."""
        past = self.history(now)
        return past[-1].at if past else self.created_at

    # -- changing ----------------------------------------------------------------------------

    def _record(self, entry: Entry) -> None:
        last = self.recorded[-1] if self.recorded else None
        if last is None or last.status is not entry.status or last.failure != entry.failure:
            self.recorded.append(entry)

    def poll(self, now: float) -> Entry:
        """A status request: scripted messages advance one step; returns what to answer."""
        self.polls += 1
        return self.observe(now)

    def observe(self, now: float) -> Entry:
        """
        A read that shows the status (a status request, or a listing that lists the message):
        scripted messages advance one step, whichever endpoint reads them.
        """
        if self.mode is not Mode.SCRIPTED:
            return self.current(now)
        item = self.script[min(self.script_pos, len(self.script) - 1)]
        self.script_pos += 1
        self._record(Entry(item.status, now, item.failure))
        return self._with_failure(self.recorded[-1])

    def hold(self, now: float) -> None:
        """Freeze at the current status; later polls and the clock no longer move it."""
        if self.mode is Mode.FIXED:
            return
        if self.mode is Mode.TIMED:
            self.recorded = [e for e in self.schedule if e.at <= now] or self.schedule[:1]
        elif not self.recorded:
            item = self.script[0]
            self.recorded = [Entry(item.status, now, item.failure)]
        self.mode = Mode.FIXED

    def set_status(self, now: float, status: Status, failure: Failure | None = None) -> None:
        """Move to ``status`` now and stay there (implies :meth:`hold`)."""
        self.hold(now)
        self._record(Entry(status, now, failure if status.is_failure else None))

    # -- admin view --------------------------------------------------------------------------

    def describe(self, now: float) -> dict[str, Any]:
        entry = self.current(now)
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "channel": self.channel.value,
            "owner": self.owner,
            "phone_number": self.phone,
            "content": self.content,
            "created_at": round(self.created_at, 6),
            "created_at_iso": format_timestamp(self.created_at, millis=True),
            "status": entry.status.value,
            "failure_reason": entry.failure.title if entry.failure else None,
            "failure_code": entry.failure.code if entry.failure else None,
            "mode": self.mode.value,
            "rule": self.rule,
            "source": self.source,
            "visible": self.visible(now),
            "template_id": self.template_id,
            "channel_message_id": self.channel_message_id,
            "polls": self.polls,
            "history": [e.to_dict() for e in self.history(now)],
        }
        if self.mode is Mode.TIMED:
            data["schedule"] = [self._with_failure(e).to_dict() for e in self.schedule]
        if self.mode is Mode.SCRIPTED:
            data["script"] = [i.status.value for i in self.script]
            data["script_position"] = self.script_pos
        return data


def _order(message: Message) -> tuple[float, int]:
    """The listing's order: ``created_at``, then id (ids break ties between equal times)."""
    return (message.created_at, message.message_id)


class MessageStore:
    """All messages, by id and by (owner, channel) for the same-key rule and the listing.

    Each (owner, channel) list is kept sorted by ``created_at`` then id, so the listing and the
    visibility check bisect at "now" instead of scanning: a key with tens of thousands of traffic
    messages, most of them still in the future, costs the same per listing as a quiet one.
    """

    def __init__(self, first_id: int) -> None:
        self._next_id = first_id
        self._by_id: dict[int, Message] = {}
        self._by_owner: dict[tuple[str, Channel], list[Message]] = {}

    def allocate_id(self) -> int:
        """Integer ids, increasing, one counter for every channel."""
        value = self._next_id
        self._next_id += 1
        return value

    def add(self, message: Message) -> None:
        """Store one message; a send at "now" lands at the end of its list, so this is an append."""
        self._by_id[message.message_id] = message
        items = self._by_owner.setdefault((message.owner, message.channel), [])
        if not items or _order(items[-1]) < _order(message):
            items.append(message)
        else:
            bisect.insort(items, message, key=_order)

    def add_many(self, messages: Sequence[Message]) -> None:
        """Store a batch (traffic) with one sort per list instead of one insertion per message.

        A batch comes sorted, so each list is two sorted runs that the sort merges in linear time.
        """
        touched: set[tuple[str, Channel]] = set()
        for message in messages:
            self._by_id[message.message_id] = message
            key = (message.owner, message.channel)
            self._by_owner.setdefault(key, []).append(message)
            touched.add(key)
        for key in touched:
            self._by_owner[key].sort(key=_order)

    def get(self, message_id: int) -> Message | None:
        """Any message, visible or not (the admin API sees messages laid out for later)."""
        return self._by_id.get(message_id)

    def find(self, message_id: int, channel: Channel, owner: str, now: float) -> Message | None:
        """The message if it exists by ``now``, on this channel *and* for this key's owner."""
        message = self._by_id.get(message_id)
        if message is None or message.channel is not channel or message.owner != owner:
            return None
        return message if message.visible(now) else None

    def _visible_end(self, items: list[Message], now: float) -> int:
        """Index just past the last message created by ``now``."""
        return bisect.bisect_right(items, (now, math.inf), key=_order)

    def newest(self, owner: str, channel: Channel, limit: int, now: float) -> list[Message]:
        """Newest first by ``created_at`` (then id) among those created by ``now``, at most ``limit``."""
        items = self._by_owner.get((owner, channel), [])
        end = self._visible_end(items, now)
        return items[max(0, end - limit) : end][::-1]

    def all(self) -> list[Message]:
        return list(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

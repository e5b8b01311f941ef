"""The simulator's clock and its timestamp formats.

Every status change, rate-limit bucket and ``created_at`` is read from one :class:`Clock`, so a test
can move simulated time forward (``advance``) instead of sleeping through a 12-second UNKNOWN window,
and everything that depends on time (progressions, token buckets, retry times) moves together.
Without an advance the clock is the machine's wall clock (epoch seconds), unless it was started at
another time (``reset(start)``, the ``clock_start`` option): a clock started yesterday lets a test
replay a day of traffic by advancing through it, while everything outside the simulator keeps the
real time.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime


class Clock:
    """Wall-clock epoch seconds plus an offset, set when the clock (re)starts and grown by :meth:`advance`.

    The clock never runs backwards between resets: a message becomes visible once the clock reaches
    its ``created_at``, so a wall-clock step back (an NTP correction) must not hide a message that
    was just sent.
    """

    def __init__(self, start: float | None = None) -> None:
        self._offset = 0.0
        self._last = -math.inf
        self.reset(start)

    def now(self) -> float:
        """Current simulated time, epoch seconds; never less than a value returned before."""
        value = time.time() + self._offset
        if value < self._last:
            return self._last
        self._last = value
        return value

    @property
    def offset(self) -> float:
        """How far simulated time runs ahead of the wall clock, in seconds (negative: behind it)."""
        return self._offset

    def advance(self, seconds: float) -> float:
        """Jump simulated time forward; returns the new simulated time."""
        if seconds < 0 or math.isnan(seconds):
            raise ValueError("the simulated clock only moves forward")
        self._offset += seconds
        return self.now()

    def reset(self, start: float | None = None) -> None:
        """Back to the wall clock, or to ``start`` (epoch seconds), from where it runs on at wall speed."""
        if start is not None and not math.isfinite(start):
            raise ValueError("the clock start must be a finite time")
        self._offset = 0.0 if start is None else start - time.time()
        self._last = -math.inf


def format_timestamp(epoch: float, *, millis: bool) -> str:
    """ISO 8601 UTC with a ``Z``: ``2026-04-24T12:34:56Z`` or, with millis, ``2023-07-07T11:15:46.000Z``.

    Sub-resolution parts are truncated, as a server that stores whole seconds (or milliseconds) would.
    """
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_timestamp_ceil(epoch: float, *, millis: bool) -> str:
    """Like :func:`format_timestamp` but rounded *up* to the resolution.

    Used for retry times: a client that waits until the printed time must never be early.
    """
    step = 0.001 if millis else 1.0
    return format_timestamp(math.ceil(round(epoch / step, 6)) * step, millis=millis)


def parse_timestamp(value: object) -> float:
    """Epoch seconds from an ISO 8601 string (``Z``/offset, optional fraction) or a number.

    Naive ISO strings are taken as UTC, the only zone the Octopods docs ever show.
    """
    if isinstance(value, bool):
        raise ValueError("a timestamp must be an ISO 8601 string or epoch seconds")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a timestamp must be an ISO 8601 string or epoch seconds")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()

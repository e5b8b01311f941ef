"""
Pacing for one API key in one process, shared by every request of that key (all triggers of a
triggerer): :class:`KeyThrottle`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class KeyThrottle:
    """
    Pacing shared by every request of one API key in this process (all triggers of a triggerer).

    * At most ``max_in_flight`` requests of the key are in flight: the rest wait here, where
      a rate limit can still hold them back, instead of inside the connection pool, where they would
      go out whatever happens.
    * After a 429 the key pauses until the retry time Octopods gave, and from then on requests are
      spaced at a rate: half of what the API accepted in the second before the first 429, halved
      again on each later 429. After a quiet minute the rate grows by a tenth every ten seconds.
      So a thousand waits resume at a pace the API accepts, not in a herd that earns the next 429.
    """

    #: After a 429, no rate increase for this long (seconds).
    COOL_DOWN = 60.0
    #: Then the rate grows by this factor every :attr:`GROWTH_EVERY` seconds without a 429.
    GROWTH = 1.1
    GROWTH_EVERY = 10.0

    def __init__(self, *, max_in_flight: int) -> None:
        self.paused_until = 0.0
        self.rate: float | None = None  # requests per second; None until the first 429
        self._next_slot = 0.0
        self._accepted: deque[float] = deque()
        self._last_limited = 0.0
        self._last_growth = 0.0
        self._in_flight = asyncio.Semaphore(max_in_flight)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the key's in-flight places, once the pause and the pacing allow."""
        async with self._in_flight:
            await self._wait_turn()
            yield

    async def _wait_turn(self) -> None:
        while True:
            now = time.time()
            if now < self.paused_until:
                await asyncio.sleep(self.paused_until - now)
                continue
            if self.rate is None:
                return
            turn = max(now, self._next_slot)
            self._next_slot = turn + 1.0 / self.rate
            if turn > now:
                await asyncio.sleep(turn - now)
            if time.time() >= self.paused_until:  # a 429 may have arrived while this one slept
                return

    def accepted(self) -> None:
        """An answer that was not a 429."""
        now = time.time()
        self._accepted.append(now)
        while self._accepted and self._accepted[0] < now - 1.0:
            self._accepted.popleft()
        if (
            self.rate is not None
            and now - self._last_limited > self.COOL_DOWN
            and now - self._last_growth > self.GROWTH_EVERY
        ):
            self.rate *= self.GROWTH
            self._last_growth = now

    def rate_limited(self, retry_at: float) -> None:
        """A 429: pause until ``retry_at``, and slow down (once per burst of 429s)."""
        now = time.time()
        self.paused_until = max(self.paused_until, retry_at)
        if now - self._last_limited > 1.0:
            recent = sum(1 for moment in self._accepted if moment >= now - 1.0)
            slower = max(1.0, (self.rate if self.rate is not None else recent) / 2)
            self.rate = slower if self.rate is None else min(self.rate, slower)
        self._last_limited = now
        self._next_slot = max(self._next_slot, self.paused_until)

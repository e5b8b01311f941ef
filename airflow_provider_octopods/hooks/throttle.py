"""
Pacing for one API key in one process, shared by every request of that key (all triggers of a
triggerer): :class:`KeyThrottle`.
"""

from __future__ import annotations

import asyncio
import random
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
      spaced at a rate: a little under half (:attr:`FIRST_SHARE`) of what the API accepted in the
      second before the first 429, halved again on each later 429 that answers a request sent at the
      lowered rate (the 429s of requests already on their way when it was lowered say nothing new,
      and are only waited out). Turns already handed out at the old rate are handed out again at the
      new one. So a thousand waits resume at a pace the API accepts, not in a herd that earns the
      next 429.
    * The rate grows back only below the rate that last met a 429: after a quiet minute, by a tenth
      every ten seconds, up to nine tenths of it. Above that it grows only after ten quiet minutes,
      by a tenth a minute. Each triggerer paces its own requests, and several triggerers often share
      a key: none knows what the others send, so a rate that drew a 429 is only tried again after
      long quiet, and the triggerers together stay within the key's limit instead of pushing each
      other past it every minute. That slow growth is also how one finds the capacity another one
      left behind (a triggerer that stopped, waits that ended).
    * Turns are jittered: the first after a pause comes at a random point of one spacing after the
      retry time, and each spacing is drawn within a tenth of its mean. Retry times fall on whole
      seconds; without jitter every turn after a 429 would leave at the same fraction of a second,
      and against another sender that keeps the key at its limit that one phase can be refused
      every time, for the whole wait.
    """

    #: The first rate after a 429: this share of what the API accepted in the second before it. A
    #: little under half, so that two triggerers that each met a full burst of the key's limit (as
    #: each does when it starts its waits) stay a tenth under the limit together, not exactly at it,
    #: where the scatter of arrival times alone would earn the odd 429.
    FIRST_SHARE = 0.45

    #: After a 429, no rate increase for this long (seconds).
    COOL_DOWN = 60.0
    #: Then the rate grows by this factor every :attr:`GROWTH_EVERY` seconds without a 429...
    GROWTH = 1.1
    GROWTH_EVERY = 10.0
    #: ...up to this share of the rate that last met a 429 (:attr:`ceiling`).
    CEILING_SHARE = 0.9
    #: Above that share, growth only after this long without a 429, once every :attr:`PROBE_EVERY`.
    PROBE_AFTER = 600.0
    PROBE_EVERY = 60.0
    #: Each spacing is drawn within this share of its mean, either way.
    SPACING_JITTER = 0.1

    def __init__(self, *, max_in_flight: int) -> None:
        self.paused_until = 0.0
        self.rate: float | None = None  # requests per second; None until the first 429
        self.ceiling: float | None = None  # the rate that last met a 429 (the first: the rate set then)
        self._next_slot = 0.0
        self._accepted: deque[float] = deque()
        self._last_limited = 0.0  # when the latest 429 arrived
        self._last_decrease = float("-inf")  # when the rate was last lowered
        self._last_growth = 0.0
        self._generation = 0  # bumped when the rate is lowered: turns taken at the old rate are taken again
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._random = random.Random()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """
        Hold one of the key's in-flight places, once the pause and the pacing allow; gives the time
        the request may go out (for :meth:`rate_limited`).
        """
        async with self._in_flight:
            await self._wait_turn()
            yield time.time()

    async def _wait_turn(self) -> None:
        while True:
            now = time.time()
            if now < self.paused_until:
                await asyncio.sleep(self.paused_until - now)
                continue
            if self.rate is None:
                return
            generation = self._generation
            turn = max(now, self._next_slot)
            self._next_slot = turn + self._spacing()
            if turn > now:
                await asyncio.sleep(turn - now)
            # A 429 may have arrived while this one slept: then wait out the pause, and after a
            # slowdown take a turn at the new rate (turns already given out were spaced at the old one).
            if generation == self._generation and time.time() >= self.paused_until:
                return

    def _spacing(self) -> float:
        assert self.rate is not None
        jitter = self.SPACING_JITTER
        return self._random.uniform(1.0 - jitter, 1.0 + jitter) / self.rate

    def _first_turn_after_pause(self) -> float:
        assert self.rate is not None
        return self.paused_until + self._random.uniform(0.0, 1.0 / self.rate)

    def accepted(self) -> None:
        """An answer that was not a 429."""
        now = time.time()
        self._accepted.append(now)
        while self._accepted and self._accepted[0] < now - 1.0:
            self._accepted.popleft()
        if self.rate is None or self.ceiling is None:
            return
        quiet = now - self._last_limited
        if quiet <= self.COOL_DOWN:
            return
        cap = self.CEILING_SHARE * self.ceiling
        if self.rate < cap:
            if now - self._last_growth > self.GROWTH_EVERY:
                self.rate = min(self.rate * self.GROWTH, cap)
                self._last_growth = now
        elif quiet > self.PROBE_AFTER and now - self._last_growth > self.PROBE_EVERY:
            self.rate *= self.GROWTH
            self._last_growth = now

    def rate_limited(self, retry_at: float, *, sent_at: float | None = None) -> bool:
        """
        A 429 for a request sent at ``sent_at``: pause until ``retry_at``, and slow down unless the
        request went out before the rate was last lowered (without ``sent_at``: at most once a
        second). Returns whether the rate was lowered.
        """
        now = time.time()
        self.paused_until = max(self.paused_until, retry_at)
        self._last_limited = now
        sent = now - 1.0 if sent_at is None else sent_at
        if sent <= self._last_decrease:
            if self.rate is not None and self._next_slot < self.paused_until:
                self._next_slot = self._first_turn_after_pause()
            return False
        self._generation += 1
        if self.rate is None:
            recent = sum(1 for moment in self._accepted if moment >= now - 1.0)
            self.rate = self.ceiling = max(1.0, recent * self.FIRST_SHARE)
        else:
            self.ceiling = self.rate
            self.rate = max(1.0, self.rate / 2)
        self._next_slot = self._first_turn_after_pause()
        self._last_decrease = now
        return True

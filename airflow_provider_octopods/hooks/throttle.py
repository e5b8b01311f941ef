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

    * At most ``max_in_flight`` requests of the key are in flight (and a quarter as many sends): the
      rest wait here, where a rate limit can still hold them back, instead of inside the connection
      pool, where they would go out whatever happens.
    * After a 429 the key pauses until the retry time Octopods gave, and from then on requests are
      spaced at a rate: a little under half (:attr:`FIRST_SHARE`) of what the API accepted in the
      second before the first 429, halved again on each later 429 that answers a request sent at the
      lowered rate (the 429s of requests already on their way when it was lowered say nothing new,
      and are only waited out). A turn is handed out only when it is due, so a pause or a slowdown
      applies at once to every request still waiting. So a thousand waits resume at a pace the API
      accepts, not in a herd that earns the next 429.
    * Sends and reads wait for their turns in queues of their own, served in turn while both hold
      requests: a send is not stuck behind a thousand queued polls, and polls are not starved by a
      flood of sends either; each gets at least half of the pace.
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
        self._in_flight = asyncio.Semaphore(max_in_flight)
        # Sends hold places of their own (a quarter as many), so they never queue behind polls here.
        self._sends_in_flight = asyncio.Semaphore(max(1, max_in_flight // 4))
        self._random = random.Random()
        # Requests waiting for a turn once paced, sends and reads apart, and the task handing turns out.
        self._sends: deque[asyncio.Future[None]] = deque()
        self._reads: deque[asyncio.Future[None]] = deque()
        self._read_served_last = False
        self._turns: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def slot(self, *, send: bool = False) -> AsyncIterator[float]:
        """
        Hold one of the key's in-flight places, then wait for a turn once the pause and the pacing
        allow; gives the time the request may go out (for :meth:`rate_limited`).

        :param send: A send (in-flight places and a turn queue of its own, served in turn with the
            reads): a thousand waits' polls queued first must not hold back a send for as long as
            they take to go out.
        """
        async with self._sends_in_flight if send else self._in_flight:
            if self.rate is not None:  # paced since the first 429
                await self._wait_turn(self._sends if send else self._reads)
            yield time.time()

    async def _wait_turn(self, queue: deque[asyncio.Future[None]]) -> None:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(turn)
        if self._turns is None or self._turns.done():
            self._turns = asyncio.ensure_future(self._hand_out_turns())
        await turn  # cancelled with its waiter: the turn goes to the next one

    async def _hand_out_turns(self) -> None:
        """
        One turn at a time, at the pace, alternating between sends and reads while both wait. A
        turn is only given when it is due, so a 429 that pauses or slows the key applies at once to
        every request still waiting.
        """
        while self._has_waiters():
            now = time.time()
            due = max(self.paused_until, self._next_slot)
            if now < due:
                await asyncio.sleep(due - now)
                continue  # a 429 meanwhile may have moved the turn
            # The next turn one spacing after this one was due, or after now when this task woke
            # later than that: a busy event loop slows the pace a little rather than sending the
            # turns it missed in a bunch, which could put a whole second past the key's limit.
            spacing = self._spacing()
            self._next_slot = (due if now - due < spacing else now) + spacing
            self._next_waiter().set_result(None)

    def _has_waiters(self) -> bool:
        for queue in (self._sends, self._reads):
            while queue and queue[0].done():  # cancelled while waiting
                queue.popleft()
        return bool(self._sends or self._reads)

    def _next_waiter(self) -> asyncio.Future[None]:
        first, second = (self._sends, self._reads) if self._read_served_last else (self._reads, self._sends)
        queue = first if first else second
        self._read_served_last = queue is self._reads
        return queue.popleft()

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
        if self.rate is None:
            recent = sum(1 for moment in self._accepted if moment >= now - 1.0)
            self.rate = self.ceiling = max(1.0, recent * self.FIRST_SHARE)
        else:
            self.ceiling = self.rate
            self.rate = max(1.0, self.rate / 2)
        self._next_slot = self._first_turn_after_pause()
        self._last_decrease = now
        return True

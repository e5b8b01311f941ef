"""KeyThrottle: the pause after a 429, the pace it sets, how the pace grows back, and its lifetime."""

from __future__ import annotations

import asyncio
import time
import types

import pytest

from airflow_provider_octopods.hooks import throttle as throttle_module
from airflow_provider_octopods.hooks.throttle import KeyThrottle
from airflow_provider_octopods.hooks.triggerer_client import TriggererClient


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttle_module, "time", fake)
    return fake


def accept(throttle: KeyThrottle, clock: Clock, count: int, *, over: float) -> None:
    """``count`` accepted answers spread over ``over`` seconds."""
    for _ in range(count):
        clock.now += over / count
        throttle.accepted()


def test_first_429_pauses_and_paces_under_half_of_what_the_api_accepted(clock: Clock) -> None:
    throttle = KeyThrottle(max_in_flight=8)
    accept(throttle, clock, 30, over=3.0)  # 10 a second
    clock.now += 0.05
    assert throttle.rate is None
    assert throttle.rate_limited(clock.now + 1.5, sent_at=clock.now) is True
    assert throttle.paused_until == clock.now + 1.5
    assert throttle.rate == pytest.approx(4.5)
    assert throttle.ceiling == pytest.approx(4.5)


def test_429s_of_requests_sent_before_the_slowdown_only_extend_the_pause(clock: Clock) -> None:
    throttle = KeyThrottle(max_in_flight=8)
    accept(throttle, clock, 20, over=1.0)
    sent_before = clock.now - 0.05
    assert throttle.rate_limited(clock.now + 1.0, sent_at=clock.now - 0.01)
    assert throttle.rate == pytest.approx(9.0)
    for _ in range(20):  # the rest of the herd that was already on its way
        clock.now += 0.01
        assert throttle.rate_limited(clock.now + 1.0, sent_at=sent_before) is False
    assert throttle.rate == pytest.approx(9.0)
    assert throttle.paused_until == clock.now + 1.0
    # A request sent at the new pace that still meets a 429: slower again, and the ceiling drops.
    clock.now += 2.0
    assert throttle.rate_limited(clock.now + 1.0, sent_at=clock.now - 0.01)
    assert (throttle.rate, throttle.ceiling) == (pytest.approx(4.5), pytest.approx(9.0))


def test_without_the_send_time_at_most_one_slowdown_a_second(clock: Clock) -> None:
    throttle = KeyThrottle(max_in_flight=8)
    accept(throttle, clock, 20, over=1.0)
    assert throttle.rate_limited(clock.now + 1.0)
    clock.now += 0.5
    assert not throttle.rate_limited(clock.now + 1.0)
    clock.now += 0.6
    assert throttle.rate_limited(clock.now + 1.0)
    assert throttle.rate == pytest.approx(4.5)


def test_never_slower_than_one_request_a_second(clock: Clock) -> None:
    throttle = KeyThrottle(max_in_flight=8)
    throttle.rate_limited(clock.now + 1.0, sent_at=clock.now)  # nothing accepted before it
    assert throttle.rate == 1.0
    clock.now += 2.0
    throttle.rate_limited(clock.now + 1.0, sent_at=clock.now)
    assert throttle.rate == 1.0


def test_the_rate_grows_back_to_nine_tenths_of_the_rate_that_met_a_429_then_waits(clock: Clock) -> None:
    throttle = KeyThrottle(max_in_flight=8)
    accept(throttle, clock, 40, over=0.99)
    throttle.rate_limited(clock.now + 1.0, sent_at=clock.now)  # 18/s, the first ceiling
    clock.now += 2.0
    throttle.rate = 20.0  # as if it had grown back above it...
    throttle.rate_limited(clock.now + 1.0, sent_at=clock.now)  # ...and met a 429 at 20/s: 10/s
    assert (throttle.rate, throttle.ceiling) == (10.0, 20.0)

    accept(throttle, clock, 55, over=55.0)  # a quiet minute is not over yet: no growth
    assert throttle.rate == 10.0
    rates = []
    for _ in range(120):  # then a tenth every ten seconds, up to 18/s
        accept(throttle, clock, 1, over=1.0)
        rates.append(throttle.rate)
    assert rates[10] == pytest.approx(11.0)
    assert max(rates) == pytest.approx(18.0)
    assert rates.index(max(rates)) < 80

    # Above that only after ten quiet minutes, a tenth a minute.
    accept(throttle, clock, 400, over=400.0)
    assert throttle.rate == pytest.approx(18.0)
    accept(throttle, clock, 120, over=120.0)  # past ten minutes since the 429
    assert throttle.rate == pytest.approx(18.0 * 1.1**2)


def test_after_the_first_429_growth_waits_for_ten_quiet_minutes(clock: Clock) -> None:
    """The first pace is also the first ceiling: a process that does not know who else uses the key
    does not go back to the rate that drew a 429 before long quiet."""
    throttle = KeyThrottle(max_in_flight=8)
    accept(throttle, clock, 20, over=0.99)
    throttle.rate_limited(clock.now + 1.0, sent_at=clock.now)
    assert throttle.rate == pytest.approx(9.0)
    accept(throttle, clock, 590, over=590.0)
    assert throttle.rate == pytest.approx(9.0)
    accept(throttle, clock, 70, over=70.0)
    assert throttle.rate == pytest.approx(9.9)


@pytest.mark.asyncio
async def test_turns_given_out_before_a_slowdown_are_taken_again_at_the_new_pace() -> None:
    throttle = KeyThrottle(max_in_flight=32)
    throttle.rate = throttle.ceiling = 40.0
    granted: list[float] = []
    four_out = asyncio.Event()

    async def request() -> None:
        async with throttle.slot() as sent_at:
            granted.append(sent_at)
            if len(granted) == 4:
                four_out.set()

    waiters = [asyncio.create_task(request()) for _ in range(16)]
    await four_out.wait()
    throttle.rate_limited(time.time(), sent_at=time.time())  # 20/s from now on, no pause
    slowed_at = time.time()
    await asyncio.gather(*waiters)
    after = sorted(moment for moment in granted if moment > slowed_at)
    assert len(after) >= 10
    # At 40/s the turns already given out would keep coming every 25 ms; at the new pace they come
    # every 50 ms (a busy machine only makes them later).
    pace = (len(after) - 1) / (after[-1] - after[0])
    assert pace <= 22.0, pace


@pytest.mark.asyncio
async def test_a_throttle_outlives_the_session_of_its_base_url() -> None:
    client = TriggererClient()
    async with client.session("http://127.0.0.1:1") as shared:
        throttle = shared.throttle("fingerprint")
        throttle.rate_limited(time.time() + 30, sent_at=time.time())
    assert client.open_sessions() == 0  # the last borrower left: the session closed
    async with client.session("http://127.0.0.1:1") as shared:
        again = shared.throttle("fingerprint")
        assert again is throttle
        assert again.paused_until > time.time() + 20  # the pause still holds
    async with client.session("http://127.0.0.1:2") as other:
        assert other.throttle("fingerprint") is not throttle  # another base URL, another throttle


def test_the_first_turn_after_a_pause_falls_anywhere_within_one_spacing(clock: Clock) -> None:
    throttle = KeyThrottle(max_in_flight=8)
    throttle._random.seed(7)
    offsets = []
    for _ in range(200):
        clock.now += 2.0
        retry_at = float(int(clock.now) + 1)  # retry times fall on whole seconds
        throttle.rate_limited(retry_at, sent_at=clock.now)  # lowered each time, down to 1/s
        offsets.append(throttle._next_slot - retry_at)
    assert throttle.rate == 1.0
    assert all(0.0 <= offset < 1.0 for offset in offsets)
    assert min(offsets) < 0.1  # not one phase after every 429...
    assert max(offsets) > 0.9  # ...but spread over the whole spacing


def test_a_429_that_does_not_slow_down_also_draws_a_new_first_turn(clock: Clock) -> None:
    throttle = KeyThrottle(max_in_flight=8)
    throttle._random.seed(3)
    throttle.rate_limited(clock.now + 1.0, sent_at=clock.now)
    clock.now += 5.0
    retry_at = clock.now + 1.0
    assert throttle.rate_limited(retry_at, sent_at=clock.now - 10.0) is False  # sent before the slowdown
    assert retry_at <= throttle._next_slot < retry_at + 1.0 / throttle.rate


def test_spacings_keep_their_mean_within_a_tenth_either_way() -> None:
    throttle = KeyThrottle(max_in_flight=8)
    throttle._random.seed(11)
    throttle.rate = 20.0
    spacings = [throttle._spacing() for _ in range(2_000)]
    assert all(0.045 <= spacing <= 0.055 for spacing in spacings)
    assert sum(spacings) / len(spacings) == pytest.approx(0.05, rel=0.01)
    assert len({round(spacing, 6) for spacing in spacings}) > 100


@pytest.mark.asyncio
async def test_against_a_sender_that_holds_the_key_at_its_limit_some_turns_still_get_through(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    Another sender takes every request the key allows in the first half of each second; retry
    times fall on whole seconds. A throttle that left at the retry time's own phase after each 429
    was refused for good; with jittered turns it soon lands in the free half, and mostly stays there.
    """

    async def clocked_sleep(delay: float) -> None:
        clock.now += max(0.0, delay)
        await asyncio.sleep(0)

    clocked = types.ModuleType("clocked_asyncio")
    clocked.__dict__.update(vars(asyncio))
    clocked.sleep = clocked_sleep  # type: ignore[attr-defined]
    monkeypatch.setattr(throttle_module, "asyncio", clocked)
    throttle = KeyThrottle(max_in_flight=1)
    throttle._random.seed(5)
    clock.now = 1_800_000_000.25
    accepted = 0
    for _ in range(60):
        async with throttle.slot() as sent_at:
            if clock.now % 1.0 >= 0.5:
                accepted += 1
                throttle.accepted()
            else:
                throttle.rate_limited(float(int(clock.now) + 1), sent_at=sent_at)
    assert throttle.rate == 1.0
    assert accepted >= 15, accepted


@pytest.mark.asyncio
async def test_sends_queued_behind_a_thousand_polls_take_every_other_turn() -> None:
    throttle = KeyThrottle(max_in_flight=8)
    throttle.rate = throttle.ceiling = 200.0
    order: list[str] = []

    async def request(kind: str) -> None:
        async with throttle.slot(send=kind == "send"):
            order.append(kind)

    polls = [asyncio.create_task(request("poll")) for _ in range(40)]
    await asyncio.sleep(0)  # the polls queue first...
    sends = [asyncio.create_task(request("send")) for _ in range(5)]  # ...then the sends
    await asyncio.gather(*polls, *sends)
    assert len(order) == 45
    # First in, first out, the sends would be the last five; served in turn, they are among the first ten.
    assert [i for i, kind in enumerate(order) if kind == "send"] == [1, 3, 5, 7, 9]


@pytest.mark.asyncio
async def test_a_request_cancelled_while_waiting_for_its_turn_gives_the_turn_on() -> None:
    throttle = KeyThrottle(max_in_flight=8)
    throttle.rate = throttle.ceiling = 100.0
    done: list[int] = []

    async def request(number: int) -> None:
        async with throttle.slot():
            done.append(number)

    waiters = [asyncio.create_task(request(number)) for number in range(10)]
    await asyncio.sleep(0)
    for waiter in waiters[2:6]:
        waiter.cancel()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert sorted(done) == [0, 1, 6, 7, 8, 9]
    assert sum(isinstance(result, asyncio.CancelledError) for result in results) == 4
    assert not throttle._sends
    assert not throttle._reads

"""MessageStatusEventTrigger against the simulator: new failures once, never ending, the state store."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_octopods.exceptions import (
    OctopodsAuthError,
    OctopodsServerError,
    OctopodsValidationError,
)
from airflow_provider_octopods.triggers import _listing_polls
from airflow_provider_octopods.triggers._listing_polls import Cadence, ListingPoll
from airflow_provider_octopods.triggers.events import MessageStatusEventTrigger
from airflow_provider_octopods.version_compat import AIRFLOW_V_3_0_PLUS
from tests.keys import assert_no_key

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_provider_octopods.testing import SimulatorHandle

pytestmark = pytest.mark.octopods_simulator(deliver_after=0.2, read_after=None, jitter=0.0)

FAILING = "+14155550470"  # the simulator fails it with 470, "Re-engagement window expired"


def watcher(**overrides: Any) -> MessageStatusEventTrigger:
    _, kwargs = MessageStatusEventTrigger(poll_interval=1, **overrides).serialize()
    return MessageStatusEventTrigger(**json.loads(json.dumps(kwargs)))  # as the triggerer rebuilds it


class Watch:
    """A running watcher: its events as they come, and its end (which must never come)."""

    def __init__(self, trigger: MessageStatusEventTrigger) -> None:
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task = asyncio.create_task(self._drive(trigger.run()))

    async def _drive(self, events: AsyncIterator[Any]) -> None:
        async for event in events:
            self.events.put_nowait(event.payload)

    async def next_event(self, within: float = 8.0) -> dict[str, Any]:
        payload = await asyncio.wait_for(self.events.get(), within)
        json.dumps(payload)
        return payload

    async def quiet_for(self, seconds: float) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(self.events.get(), seconds)

    async def stop(self) -> None:
        assert not self.task.done(), "a watcher trigger must never end"
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


def spend_the_burst(simulator: SimulatorHandle) -> None:
    """One listing request of our own, so the watcher's next poll meets the limit."""
    import requests

    headers = {"X-Octopods-Auth": simulator.whatsapp_api_key}
    requests.get(f"{simulator.base_url}/api/v1/whatsapp/messages", headers=headers, timeout=5)


def baseline_passed(simulator: SimulatorHandle, polls: int = 1) -> bool:
    return simulator.stats(messages=False)["requests_by_route"].get("whatsapp.list", 0) >= polls


async def until(condition: Any, within: float = 8.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


# -- identity ------------------------------------------------------------------------------------------


def test_kwargs_are_deterministic_json_and_equal_watchers_hash_equal() -> None:
    first = MessageStatusEventTrigger(statuses=["failed", "UNDELIVERED", "FAILED"], poll_interval=60)
    second = MessageStatusEventTrigger(statuses=("undelivered", "failed"), poll_interval=60.0)
    classpath, kwargs = first.serialize()
    assert kwargs == {
        "octopods_conn_id": "octopods_default",
        "statuses": ["FAILED", "UNDELIVERED"],
        "poll_interval": 60.0,
    }
    assert list(kwargs) == list(second.serialize()[1])
    assert json.loads(json.dumps(kwargs)) == second.serialize()[1]
    assert MessageStatusEventTrigger(**kwargs).serialize() == (classpath, kwargs)
    if AIRFLOW_V_3_0_PLUS:
        from airflow.triggers.base import BaseEventTrigger

        assert BaseEventTrigger.hash(*first.serialize()) == BaseEventTrigger.hash(*second.serialize())
        assert isinstance(first, BaseEventTrigger)
    assert_no_key(kwargs)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"statuses": []}, "statuses"),
        ({"statuses": ["BROKEN"]}, "statuses"),
        ({"statuses": "nope"}, "statuses"),
        ({"poll_interval": 0.5}, "poll_interval"),
        ({"poll_interval": "60"}, "poll_interval"),
        ({"octopods_conn_id": ""}, "octopods_conn_id"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(OctopodsValidationError) as caught:
        MessageStatusEventTrigger(**kwargs)
    assert caught.value.parameter == parameter


# -- what fires, once ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_new_failures_fire_once_and_an_unchanged_listing_fires_nothing(
    simulator: SimulatorHandle,
) -> None:
    old = simulator.add_message(FAILING, status="FAILED")  # failed before the watcher started: the baseline
    simulator.add_message("+14155552671")  # delivered: not a FAILED status
    watch = Watch(watcher())
    await until(lambda: baseline_passed(simulator))
    new = simulator.add_message(FAILING)
    payload = await watch.next_event()
    (reported,) = payload["messages"]
    assert reported["message_id"] == new != old
    assert reported["status"] == "FAILED"
    assert reported["failure_code"] == 470
    assert set(reported) == {"message_id", "status", "failure_code", "failure_reason", "created_at"}
    assert payload["gap"] is False
    assert payload["polled_at"].endswith("Z")
    assert "+1415" not in json.dumps(payload)  # no phone number, no content
    await watch.quiet_for(2.5)  # later polls see the same failure: nothing new
    await watch.stop()


@pytest.mark.asyncio
async def test_other_statuses_can_be_watched(simulator: SimulatorHandle) -> None:
    watch = Watch(watcher(statuses=["DELIVERED"]))
    await until(lambda: baseline_passed(simulator))
    delivered = simulator.add_message("+14155552671")
    payload = await watch.next_event()
    assert [item["message_id"] for item in payload["messages"]] == [delivered]
    assert payload["messages"][0]["status"] == "DELIVERED"
    await watch.stop()


@pytest.mark.asyncio
async def test_a_burst_of_more_than_100_messages_sets_gap(simulator: SimulatorHandle) -> None:
    simulator.add_message("+14155552671")
    watch = Watch(watcher())
    await until(lambda: baseline_passed(simulator))
    simulator.add_traffic(count=120, duration=0.2, start=time.time() - 0.5)
    failed = simulator.add_message(FAILING)
    payload = await watch.next_event()
    assert payload["gap"] is True
    assert [item["message_id"] for item in payload["messages"]] == [failed]
    await watch.stop()


class MemoryStore:
    """The asset state store of Airflow 3.3, as the triggerer injects it (JSON values, async methods)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(json.dumps(self.values.get(key, default)))

    async def aset(self, key: str, value: Any) -> None:
        assert value is not None
        self.values[key] = json.loads(json.dumps(value))


@pytest.mark.asyncio
async def test_a_restart_with_the_state_store_neither_repeats_nor_skips(simulator: SimulatorHandle) -> None:
    store = MemoryStore()
    first = watcher()
    first.asset_state_store = store  # what the triggerer of Airflow 3.3 does
    watch = Watch(first)
    await until(lambda: baseline_passed(simulator))
    before = simulator.add_message(FAILING)
    assert [item["message_id"] for item in (await watch.next_event())["messages"]] == [before]
    await watch.stop()  # the triggerer goes down...
    during = simulator.add_message(FAILING)  # ...a message fails meanwhile...
    second = watcher()
    second.asset_state_store = store  # ...and the restarted trigger reads the record
    watch = Watch(second)
    payload = await watch.next_event()
    assert [item["message_id"] for item in payload["messages"]] == [during]  # not `before` again
    await watch.quiet_for(2.5)
    await watch.stop()
    assert_no_key(store.values)


@pytest.mark.asyncio
async def test_without_a_store_a_restart_starts_a_new_baseline(simulator: SimulatorHandle) -> None:
    watch = Watch(watcher())
    await until(lambda: baseline_passed(simulator))
    await watch.stop()
    simulator.add_message(FAILING, status="FAILED")  # failed while no triggerer watched: not reported
    watch = Watch(watcher())
    await watch.quiet_for(2.5)
    after = simulator.add_message(FAILING)
    assert [item["message_id"] for item in (await watch.next_event())["messages"]] == [after]
    await watch.stop()


# -- it never ends ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 503, "count": 3},
        {"kind": "drop", "count": 2},
        {"kind": "malformed", "count": 2},
        {"kind": "html", "status": 502, "count": 2},
        {"kind": "latency", "latency": 6.0, "count": 1},  # a timeout (the connection's is 5 s)
    ],
    ids=["5xx", "dropped", "malformed", "html", "timeout"],
)
@pytest.mark.asyncio
async def test_errors_never_end_the_trigger(simulator: SimulatorHandle, fault: dict[str, Any]) -> None:
    watch = Watch(watcher())
    await until(lambda: baseline_passed(simulator))
    simulator.inject_fault(**fault)
    failed = simulator.add_message(FAILING)
    payload = await watch.next_event(within=25)
    assert [item["message_id"] for item in payload["messages"]] == [failed]
    await watch.stop()


@pytest.mark.asyncio
async def test_a_rate_limit_never_ends_the_trigger(simulator: SimulatorHandle) -> None:
    watch = Watch(watcher())
    await until(lambda: baseline_passed(simulator))
    simulator.set_rate_limit(0.3, burst=1)
    await asyncio.to_thread(spend_the_burst, simulator)
    failed = simulator.add_message(FAILING)
    payload = await watch.next_event(within=25)
    assert [item["message_id"] for item in payload["messages"]] == [failed]
    assert 429 in {int(code) for code in simulator.stats(messages=False)["responses_by_status"]}
    await watch.stop()


@pytest.mark.asyncio
async def test_a_rejected_key_is_logged_and_slows_the_polls(simulator: SimulatorHandle) -> None:
    simulator.rotate_key("whatsapp")  # the connection's key is now deprecated: 400, error 6
    watch = Watch(watcher())
    await until(lambda: baseline_passed(simulator))
    await watch.quiet_for(2.5)
    assert simulator.stats(messages=False)["requests_by_route"]["whatsapp.list"] == 1  # slowed down
    await watch.stop()


def test_the_cadence_slows_on_errors_and_quickens_while_the_listing_fills() -> None:
    cadence = Cadence(60.0)
    assert cadence.next_tick(1_000_000.5) == 1_000_020.0  # aligned to the clock: 60 s multiples
    cadence.after(ListingPoll(0.0), new_messages=60)
    assert cadence.pause == 30.0
    for _ in range(5):
        cadence.after(ListingPoll(0.0), new_messages=80)
    assert cadence.pause == _listing_polls.FASTEST_POLL
    cadence.after(ListingPoll(0.0), new_messages=3)
    assert cadence.pause == 10.0  # back towards poll_interval
    cadence.after(ListingPoll(0.0, error=OctopodsServerError("503")), new_messages=0)
    assert cadence.pause == 120.0
    cadence.after(ListingPoll(0.0, error=OctopodsServerError("503")), new_messages=0)
    assert cadence.pause == 240.0
    cadence.after(ListingPoll(0.0, error=OctopodsAuthError("401")), new_messages=0)
    assert cadence.pause == _listing_polls.LONG_PAUSE
    cadence.after(ListingPoll(0.0), new_messages=0)
    assert cadence.pause == 60.0

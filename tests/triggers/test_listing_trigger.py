"""
WhatsApp waits through the shared listing feed, against the simulator: fewer requests, the same
outcomes, exact fallbacks, and the fault matrix.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_octopods.triggers.delivery import MessageDeliveryTrigger

if TYPE_CHECKING:
    from airflow_provider_octopods.testing import SimulatorHandle

pytestmark = pytest.mark.octopods_simulator(deliver_after=0.4, read_after=None, jitter=0.0)


def trigger(ids: list[int], **overrides: Any) -> MessageDeliveryTrigger:
    kwargs: dict[str, Any] = {
        "message_ids": ids,
        "deadline": time.time() + 60,
        "poll_interval": 0.4,
        "first_poll_after": 0.1,
        **overrides,
    }
    # Rebuilt from serialize(), as the triggerer does.
    _, serialized = MessageDeliveryTrigger(**kwargs).serialize()
    return MessageDeliveryTrigger(**json.loads(json.dumps(serialized)))


async def first_event(wait: MessageDeliveryTrigger) -> dict[str, Any]:
    events = [event async for event in wait.run()]
    assert len(events) == 1
    return dict(events[0].payload)


def run(*waits: MessageDeliveryTrigger) -> list[dict[str, Any]]:
    async def together() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(first_event(wait) for wait in waits)))

    return asyncio.run(together())


def routes(simulator: SimulatorHandle) -> dict[str, int]:
    counts = simulator.stats(messages=False)["requests_by_route"]
    return {"list": int(counts.get("whatsapp.list", 0)), "status": int(counts.get("whatsapp.status", 0))}


def send(simulator: SimulatorHandle, count: int, *, start: int = 0, **fields: Any) -> list[int]:
    return simulator.add_messages([{"phone": f"+1415555{start + n:04d}", **fields} for n in range(count)])


def test_a_batch_wait_reads_the_listing_instead_of_each_message(simulator: SimulatorHandle) -> None:
    ids = send(simulator, 20, start=2000)
    simulator.reset_stats()
    (payload,) = run(trigger(ids))
    assert payload["status"] == "success"
    assert [result["message_id"] for result in payload["results"]] == ids
    assert {result["status"] for result in payload["results"]} == {"DELIVERED"}
    counts = routes(simulator)
    assert counts["status"] == 0
    assert 1 <= counts["list"] <= 4


def test_without_the_listing_every_message_is_polled(simulator: SimulatorHandle) -> None:
    ids = send(simulator, 20, start=2100)
    simulator.reset_stats()
    (payload,) = run(trigger(ids, use_listing=False))
    assert payload["status"] == "success"
    counts = routes(simulator)
    assert counts["list"] == 0
    assert counts["status"] >= 20


def test_waits_of_one_key_share_the_feed_across_triggers(simulator: SimulatorHandle) -> None:
    ids = send(simulator, 12, start=2200)
    simulator.reset_stats()
    payloads = run(*(trigger([message_id]) for message_id in ids))
    assert [payload["status"] for payload in payloads] == ["success"] * 12
    counts = routes(simulator)
    assert counts["status"] == 0
    assert counts["list"] <= 4  # one listing served every wait that was due at about the same time


def test_a_lone_wait_polls_its_message_on_its_own(simulator: SimulatorHandle) -> None:
    (message_id,) = send(simulator, 1, start=2300)
    simulator.reset_stats()
    (payload,) = run(trigger([message_id]))
    assert payload["status"] == "success"
    assert payload["results"][0]["status_message"]  # a status request says more than the listing
    assert routes(simulator)["list"] == 0


def test_an_id_older_than_the_newest_100_falls_back_to_its_own_polls(simulator: SimulatorHandle) -> None:
    (old,) = send(simulator, 1, start=2400, steps=[{"status": "SENT"}, {"status": "DELIVERED", "after": 1.5}])
    simulator.add_traffic(count=150, duration=0.5, start=time.time() - 1)  # other senders, newer
    (new,) = send(simulator, 1, start=2401)
    simulator.reset_stats()
    (payload,) = run(trigger([old, new]))
    assert payload["status"] == "success"
    assert [result["message_id"] for result in payload["results"]] == [old, new]
    assert routes(simulator)["status"] >= 1  # the old one, which the listing no longer shows


def test_a_failure_the_listing_shows_without_its_code_is_confirmed(simulator: SimulatorHandle) -> None:
    # The object-shaped listing gives a failure as a reason string only.
    simulator.set_profile(listing_shape="object", status_case="lower")
    failing = send(simulator, 1, start=2500)[0]  # +14155552500 is not a failing number...
    ok = send(simulator, 1, start=2501)[0]
    failed = simulator.add_message("+14155550470")  # ...this one fails with 470 (recipient rule)
    simulator.reset_stats()
    (payload,) = run(trigger([failing, ok, failed], allowed_failures=0))
    assert payload["status"] == "failure"
    (result,) = [result for result in payload["results"] if result["message_id"] == failed]
    assert result["status"] == "FAILED"
    assert result["failure_code"] == 470
    assert result["failure_reason"]
    assert routes(simulator)["status"] >= 1


def test_sms_waits_never_read_the_listing(simulator: SimulatorHandle) -> None:
    ids = send(simulator, 3, start=2600, channel="sms")
    simulator.reset_stats()
    (payload,) = run(trigger(ids, channel="sms"))
    assert payload["status"] == "success"
    assert routes(simulator)["list"] == 0


# -- the fault matrix, for the feed ---------------------------------------------------------------------

FAULTS = {
    "5xx": {"kind": "status", "status": 503, "count": 3},
    "html-page": {"kind": "html", "status": 502, "count": 2},
    "malformed": {"kind": "malformed", "count": 2},
    "dropped": {"kind": "drop", "count": 2},
}


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
def test_listing_faults_never_end_a_wait_that_polling_would_not(
    simulator: SimulatorHandle, fault: str
) -> None:
    ids = send(simulator, 6, start=2700)
    simulator.inject_fault(**FAULTS[fault])  # the next requests fail, listing and status alike
    (payload,) = run(trigger(ids))
    assert payload["status"] == "success", payload
    assert {result["status"] for result in payload["results"]} == {"DELIVERED"}


@pytest.mark.parametrize(
    "profile",
    [
        {"listing_shape": "object"},
        {"listing_shape": "array", "status_case": "lower"},
        {"listing_shape": "object", "status_case": "lower", "failure_reason": "string"},
        {"retry_after_format": "http_date"},
    ],
    ids=["object", "array-lower", "object-lower-string", "http-date-429"],
)
def test_every_listing_shape_and_casing_and_both_retry_hints(
    simulator: SimulatorHandle, profile: dict[str, str]
) -> None:
    simulator.set_profile(**profile)
    ids = send(simulator, 8, start=2800)
    simulator.set_rate_limit(6.0, burst=4)  # 429s, with a retry time in the profile's form
    (payload,) = run(trigger(ids))
    assert payload["status"] == "success", payload
    assert {result["status"] for result in payload["results"]} == {"DELIVERED"}
    assert routes(simulator)["list"] >= 1

"""MessageDeliveryTrigger over real HTTP on loopback (canned answers, so every path is exact)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest

from airflow_provider_octopods.hooks.triggerer_client import TriggererClient
from airflow_provider_octopods.triggers.delivery import MessageDeliveryTrigger
from tests.data.doc_responses import WA_STATUS_UNIFIED
from tests.keys import assert_no_key

if TYPE_CHECKING:
    from tests.canned_server import CannedServer

TRIGGER_MODULE = "airflow_provider_octopods.triggers.delivery"


def make(**overrides: Any) -> MessageDeliveryTrigger:
    kwargs: dict[str, Any] = {
        "message_ids": [101],
        "deadline": time.time() + 30,
        "poll_interval": 0.2,
        "first_poll_after": 0.05,
    }
    kwargs.update(overrides)
    return MessageDeliveryTrigger(**kwargs)


def statuses(canned: CannedServer, message_id: int, *sequence: Any, channel: str = "whatsapp") -> None:
    for item in sequence:
        if isinstance(item, tuple):
            canned.add("GET", f"/api/v1/{channel}/messages/{message_id}", *item)
        else:
            body = item if isinstance(item, dict) else {"message_id": message_id, "status": item}
            canned.add("GET", f"/api/v1/{channel}/messages/{message_id}", 200, body)


async def only_event(trigger: MessageDeliveryTrigger) -> dict[str, Any]:
    events = [event async for event in trigger.run()]
    assert len(events) == 1, "a trigger yields exactly one event"
    payload = events[0].payload
    json.dumps(payload)  # JSON-native, as the triggerer stores it
    assert_no_key(payload)
    return payload


def test_serialize_is_pinned_and_round_trips_through_json() -> None:
    trigger = make(
        message_ids=["101", 102],
        deadline=1_800_000_000.5,
        channel="WhatsApp",
        target_status="read",
        allowed_failures=1,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_octopods.triggers.delivery.MessageDeliveryTrigger"
    assert kwargs == {
        "message_ids": [101, 102],
        "deadline": 1_800_000_000.5,
        "channel": "whatsapp",
        "target_status": "READ",
        "allowed_failures": 1,
        "octopods_conn_id": "octopods_default",
        "poll_interval": 0.2,
        "first_poll_after": 0.05,
        "max_in_flight": 16,
    }
    rebuilt = MessageDeliveryTrigger(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert_no_key(kwargs)


@pytest.mark.parametrize(
    ("overrides", "parameter"),
    [
        ({"message_ids": []}, "message_ids"),
        ({"channel": "sms", "target_status": "READ"}, "target_status"),
        ({"target_status": "SENT"}, "target_status"),
        ({"allowed_failures": -1}, "allowed_failures"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"max_in_flight": 0}, "max_in_flight"),
    ],
)
def test_bad_arguments(overrides: dict[str, Any], parameter: str) -> None:
    from airflow_provider_octopods.exceptions import OctopodsValidationError

    with pytest.raises(OctopodsValidationError) as caught:
        make(**overrides)
    assert caught.value.parameter == parameter


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("sequence", "target", "event_status", "final"),
    [
        (["SENT", "SENT", "DELIVERED"], "DELIVERED", "success", "DELIVERED"),
        (["sent", "read"], "DELIVERED", "success", "READ"),
        (["SENT", "DELETED"], "DELIVERED", "success", "DELETED"),
        (["UNKNOWN", "DELIVERED"], "DELIVERED", "success", "DELIVERED"),
        (["SENT", "DELIVERED", "READ"], "READ", "success", "READ"),
        (["DELIVERED", "DELETED"], "READ", "failure", "DELETED"),
        (
            [
                {
                    "message_id": 101,
                    "status": "FAILED",
                    "failure_reason": {"code": 470, "title": "Re-engagement window expired"},
                }
            ],
            "DELIVERED",
            "failure",
            "FAILED",
        ),
    ],
)
async def test_status_paths(
    octopods_conn: CannedServer, sequence: list[Any], target: str, event_status: str, final: str
) -> None:
    statuses(octopods_conn, 101, *sequence)
    with mock.patch("airflow_provider_octopods.delivery.UNKNOWN_RECHECK", (0.05, 0.05)):
        payload = await only_event(make(target_status=target))
    assert payload["status"] == event_status
    assert payload["results"][0]["status"] == final
    assert len(octopods_conn.requests) == len(sequence)


@pytest.mark.asyncio
async def test_failure_event_carries_the_providers_code_and_reason(octopods_conn: CannedServer) -> None:
    statuses(
        octopods_conn,
        101,
        {
            "message_id": 101,
            "status": "FAILED",
            "failure_reason": {"code": 470, "title": "Re-engagement window expired"},
        },
    )
    payload = await only_event(make())
    assert payload["status"] == "failure"
    assert "Re-engagement window expired" in payload["message"]
    assert "470" in payload["message"]
    assert payload["results"][0]["failure_code"] == 470


@pytest.mark.asyncio
async def test_sms_undelivered_fails(octopods_conn: CannedServer) -> None:
    statuses(
        octopods_conn,
        7,
        "queued",
        {"message_id": 7, "status": "undelivered", "failure_reason": "Handset out of coverage"},
        channel="sms",
    )
    payload = await only_event(make(message_ids=[7], channel="sms"))
    assert payload["status"] == "failure"
    assert "UNDELIVERED: Handset out of coverage" in payload["message"]


@pytest.mark.asyncio
async def test_a_429_is_waited_out(octopods_conn: CannedServer) -> None:
    statuses(
        octopods_conn,
        101,
        (
            429,
            {"error": "slow"},
        ),
        "DELIVERED",
    )
    octopods_conn._routes[("GET", "/api/v1/whatsapp/messages/101")][0].headers["Retry-After"] = "1"
    started = time.monotonic()
    payload = await only_event(make())
    assert payload["status"] == "success"
    assert time.monotonic() - started >= 0.95


@pytest.mark.asyncio
async def test_unknown_backs_off_10_to_30_seconds(octopods_conn: CannedServer) -> None:
    statuses(octopods_conn, 101, "SENT", "UNKNOWN", "SENT", "DELIVERED")
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def record(delay: float) -> None:
        sleeps.append(delay)
        await real_sleep(0)

    with mock.patch(f"{TRIGGER_MODULE}.asyncio.sleep", record):
        payload = await only_event(make(poll_interval=5.0, first_poll_after=3.0))
    assert payload["status"] == "success"
    first, after_sent, after_unknown, after_sent_again = sleeps
    assert 2.7 <= first <= 3.0
    assert 4.5 <= after_sent <= 5.0  # doubled, capped at poll_interval
    assert 10.0 <= after_unknown <= 11.0  # the docs' 10-30 s after UNKNOWN; jitter only lengthens it
    assert after_sent_again <= 5.0


@pytest.mark.asyncio
async def test_a_body_echoing_another_id_is_filed_under_the_id_asked_for(octopods_conn: CannedServer) -> None:
    octopods_conn.add("GET", "/api/v1/whatsapp/messages/7", 200, WA_STATUS_UNIFIED)  # says 98765
    octopods_conn.add("GET", "/api/v1/whatsapp/messages/8", 200, WA_STATUS_UNIFIED)
    payload = await only_event(make(message_ids=[7, 8]))
    assert payload["status"] == "success"
    assert [(item["message_id"], item["status"]) for item in payload["results"]] == [
        (7, "DELIVERED"),
        (8, "DELIVERED"),
    ]


@pytest.mark.asyncio
async def test_deadline_in_the_past_times_out_without_a_request(octopods_conn: CannedServer) -> None:
    payload = await only_event(make(deadline=time.time() - 1))
    assert payload["status"] == "timeout"
    assert payload["pending"] == [101]
    assert octopods_conn.requests == []


@pytest.mark.asyncio
async def test_timeout_reports_the_last_status_seen(octopods_conn: CannedServer) -> None:
    statuses(octopods_conn, 101, "SENT")
    payload = await only_event(make(deadline=time.time() + 0.6))
    assert payload["status"] == "timeout"
    assert "101 (SENT)" in payload["message"]
    assert payload["results"][0]["status"] == "SENT"


@pytest.mark.asyncio
async def test_rebuilt_trigger_keeps_the_original_deadline(octopods_conn: CannedServer) -> None:
    statuses(octopods_conn, 101, "SENT")
    deadline = time.time() + 1.2
    first = make(deadline=deadline)
    task = asyncio.create_task(first.run().__anext__())
    await asyncio.sleep(0.6)  # mid-wait: the triggerer restarts
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    _, kwargs = first.serialize()
    rebuilt = MessageDeliveryTrigger(**kwargs)
    assert rebuilt.deadline == deadline
    payload = await only_event(rebuilt)
    assert payload["status"] == "timeout"
    assert time.time() - deadline < 0.5, "the rebuilt trigger must not wait a fresh timeout"


@pytest.mark.asyncio
async def test_deadline_is_wall_clock_not_monotonic(octopods_conn: CannedServer) -> None:
    statuses(octopods_conn, 101, "SENT")
    deadline = time.time() + 3600
    clock = mock.MagicMock()
    clock.time.side_effect = [deadline - 3599, deadline + 1, deadline + 2, deadline + 3]
    with mock.patch(f"{TRIGGER_MODULE}.time", clock):
        payload = await only_event(make(deadline=deadline))
    assert payload["status"] == "timeout"
    clock.monotonic.assert_not_called()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("answer", "error_type"),
    [
        ((404, {"error": "Not found"}), "OctopodsNotFoundError"),
        ((401, {"error": "Unauthorized"}), "OctopodsAuthError"),
        ((400, {"error_code": 6, "error": "Deprecated API Key."}), "OctopodsAuthError"),
        ((503, {"error": "down"}), "OctopodsServerError"),
    ],
)
async def test_errors_end_the_wait_with_an_error_event(
    octopods_conn: CannedServer, no_backoff: None, answer: tuple[int, Any], error_type: str
) -> None:
    statuses(octopods_conn, 101, "SENT", answer)
    payload = await only_event(make())
    assert payload["status"] == "error"
    assert payload["error"]["type"] == error_type
    assert payload["error"]["status_code"] == answer[0]


@pytest.mark.asyncio
async def test_missing_key_is_an_error_event_without_requests(
    monkeypatch: pytest.MonkeyPatch, canned: CannedServer
) -> None:
    from tests.keys import WHATSAPP_KEY, connection_json

    monkeypatch.setenv(
        "AIRFLOW_CONN_OCTOPODS_DEFAULT", connection_json(canned.base_url, whatsapp_api_key=WHATSAPP_KEY)
    )
    payload = await only_event(make(channel="sms"))
    assert payload["status"] == "error"
    assert "channel_api_key" in payload["message"]
    assert canned.requests == []


@pytest.mark.asyncio
async def test_cancellation_propagates_and_releases_the_session(octopods_conn: CannedServer) -> None:
    statuses(octopods_conn, 101, "SENT")
    task = asyncio.create_task(make().run().__anext__())
    await asyncio.sleep(0.3)
    assert TriggererClient.current().open_sessions() == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert TriggererClient.current().open_sessions() == 0


@pytest.mark.asyncio
async def test_batch_tolerates_allowed_failures(octopods_conn: CannedServer) -> None:
    for message_id in range(1, 6):
        statuses(octopods_conn, message_id, "SENT", "DELIVERED")
    octopods_conn._routes.pop(("GET", "/api/v1/whatsapp/messages/3"))
    statuses(
        octopods_conn,
        3,
        "SENT",
        {"message_id": 3, "status": "FAILED", "failure_reason": "Not a WhatsApp user"},
    )
    payload = await only_event(make(message_ids=[1, 2, 3, 4, 5], allowed_failures=1))
    assert payload["status"] == "success"
    assert [result["message_id"] for result in payload["results"]] == [1, 2, 3, 4, 5]
    assert [result["status"] for result in payload["results"]] == ["DELIVERED"] * 2 + ["FAILED"] + [
        "DELIVERED"
    ] * 2


@pytest.mark.asyncio
async def test_batch_fails_early_when_failures_exceed_the_allowance(octopods_conn: CannedServer) -> None:
    statuses(octopods_conn, 1, "SENT")  # never settles
    statuses(octopods_conn, 2, {"message_id": 2, "status": "FAILED", "failure_reason": "Not a WhatsApp user"})
    started = time.monotonic()
    payload = await only_event(make(message_ids=[1, 2], deadline=time.time() + 20))
    assert payload["status"] == "failure"
    assert payload["pending"] == [1]
    assert time.monotonic() - started < 2


@pytest.mark.asyncio
async def test_requests_in_flight_are_bounded(octopods_conn: CannedServer) -> None:
    for message_id in range(1, 41):
        octopods_conn.add(
            "GET", f"/api/v1/whatsapp/messages/{message_id}", 200, {"status": "DELIVERED"}, delay=0.1
        )
    payload = await only_event(make(message_ids=list(range(1, 41)), max_in_flight=4, first_poll_after=0.0))
    assert payload["status"] == "success"
    assert octopods_conn.max_in_flight == 4


@pytest.mark.asyncio
async def test_one_log_line_per_status_change(
    octopods_conn: CannedServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    statuses(octopods_conn, 101, "SENT", "SENT", "SENT", "SENT", "DELIVERED")
    await only_event(make(poll_interval=0.05))
    out, err = capfd.readouterr()
    # Depending on the Airflow version the line reaches caplog, the console, or both: count per sink.
    sinks = ["\n".join(record.getMessage() for record in caplog.records), out + err]
    assert max(sink.count("message 101 is DELIVERED (was SENT)") for sink in sinks) == 1
    # A first sight of a pending message is not a change: the sensor's line already named it.
    assert max(sink.count("message 101 is SENT") for sink in sinks) == 0
    # A first sight of a settled one is the news itself.
    statuses(octopods_conn, 102, "READ")
    await only_event(make(message_ids=[102]))
    out, err = capfd.readouterr()
    sinks = ["\n".join(record.getMessage() for record in caplog.records), out + err]
    assert max(sink.count("message 102 is READ") for sink in sinks) == 1

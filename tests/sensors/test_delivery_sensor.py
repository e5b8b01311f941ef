"""MessageDeliverySensor: deferral, resume, poke mode, validation (canned answers over loopback)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    PokeReturnValue,
    TaskDeferred,
)

from airflow_provider_octopods.exceptions import (
    OctopodsDeliveryFailed,
    OctopodsError,
    OctopodsNotFoundError,
    OctopodsValidationError,
)
from airflow_provider_octopods.sensors.delivery import MessageDeliverySensor
from airflow_provider_octopods.triggers.delivery import MessageDeliveryTrigger
from tests.data.doc_responses import WA_STATUS_UNIFIED
from tests.keys import assert_no_key

if TYPE_CHECKING:
    from tests.canned_server import CannedServer


def sensor(**overrides: Any) -> MessageDeliverySensor:
    kwargs: dict[str, Any] = {"task_id": "wait", "message_id": 101, "poke_interval": 0.1, "timeout": 60}
    kwargs.update(overrides)
    return MessageDeliverySensor(**kwargs)


def answer(canned: CannedServer, message_id: int, *sequence: Any, channel: str = "whatsapp") -> None:
    for item in sequence:
        verbatim = isinstance(item, dict) or item.startswith("{")
        body = item if verbatim else {"message_id": message_id, "status": item}
        canned.add("GET", f"/api/v1/{channel}/messages/{message_id}", 200, body)


FAILED_470 = {
    "message_id": 101,
    "status": "FAILED",
    "failure_reason": {"code": 470, "title": "Re-engagement window expired"},
}


def test_defers_with_a_trigger_carrying_an_absolute_deadline(octopods_conn: CannedServer) -> None:
    answer(octopods_conn, 101, "SENT")
    task = sensor(timeout=600, allowed_failures=0)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, MessageDeliveryTrigger)
    assert before + 600 <= trigger.deadline <= time.time() + 600
    assert trigger.message_ids == [101]
    assert trigger.poll_interval == 0.1
    assert deferred.value.method_name == "execute_complete"
    # The framework timeout is only a backstop behind the trigger's own deadline.
    assert deferred.value.timeout is not None
    assert deferred.value.timeout.total_seconds() > 600
    _, kwargs = trigger.serialize()
    json.dumps(kwargs)
    assert_no_key(kwargs)
    assert len(octopods_conn.requests) == 1


@pytest.mark.parametrize(
    ("status", "target"),
    [("DELIVERED", "DELIVERED"), ("READ", "DELIVERED"), ("DELETED", "DELIVERED"), ("READ", "READ")],
)
def test_no_deferral_when_already_reached(octopods_conn: CannedServer, status: str, target: str) -> None:
    answer(octopods_conn, 101, status)
    with mock.patch.object(MessageDeliverySensor, "defer") as defer:
        result = sensor(target_status=target).execute({})
    assert not defer.called
    assert result["message_id"] == 101
    assert result["status"] == status


def test_failure_found_by_the_first_check_fails_at_once(octopods_conn: CannedServer) -> None:
    answer(octopods_conn, 101, FAILED_470)
    with pytest.raises(OctopodsDeliveryFailed, match=r"Re-engagement window expired \(code 470\)") as caught:
        sensor().execute({})
    assert (caught.value.message_id, caught.value.failure_code) == (101, 470)
    assert caught.value.failure_reason == "Re-engagement window expired"


@pytest.mark.parametrize("deferrable", [True, False])
def test_a_body_echoing_another_id_is_filed_under_the_id_asked_for(
    octopods_conn: CannedServer, deferrable: bool
) -> None:
    # The docs' example body says message 98765; whatever it says, it answers the id requested.
    answer(octopods_conn, 7, WA_STATUS_UNIFIED)
    answer(octopods_conn, 8, WA_STATUS_UNIFIED)
    results = sensor(message_id=[7, 8], deferrable=deferrable).execute({})
    assert [(item["message_id"], item["status"]) for item in results] == [(7, "DELIVERED"), (8, "DELIVERED")]


def test_first_check_stops_at_the_first_pending_message(octopods_conn: CannedServer) -> None:
    answer(octopods_conn, 1, "DELIVERED")
    answer(octopods_conn, 2, "SENT")
    answer(octopods_conn, 3, "SENT")
    with pytest.raises(TaskDeferred) as deferred:
        sensor(message_id="[1, 2, 3]").execute({})
    assert deferred.value.trigger.message_ids == [1, 2, 3]
    assert [request.path for request in octopods_conn.requests] == [
        "/api/v1/whatsapp/messages/1",
        "/api/v1/whatsapp/messages/2",
    ]


def result(message_id: int, status: str, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "channel": "whatsapp",
        "status": status,
        "status_message": None,
        "channel_message_id": None,
        "failure_code": None,
        "failure_reason": None,
        "last_updated": "2026-04-24T12:34:56Z",
        **fields,
    }


def test_execute_complete_success_single_and_list() -> None:
    event = {"status": "success", "message": "ok", "results": [result(101, "DELIVERED")]}
    assert sensor().execute_complete({}, event) == result(101, "DELIVERED")
    many = {
        "status": "success",
        "message": "ok",
        "results": [result(1, "READ"), result(2, "FAILED", failure_reason="x")],
    }
    assert sensor(message_id=[1, 2], allowed_failures=1).execute_complete({}, many) == many["results"]


def test_execute_complete_failure() -> None:
    event = {
        "status": "failure",
        "message": "m",
        "results": [result(101, "FAILED", failure_code=470, failure_reason="Re-engagement window expired")],
    }
    with pytest.raises(OctopodsDeliveryFailed, match="Re-engagement window expired") as caught:
        sensor().execute_complete({}, event)
    assert caught.value.failure_code == 470


def test_execute_complete_timeout_raises_sensor_timeout() -> None:
    with pytest.raises(AirflowSensorTimeout, match="Timed out"):
        sensor().execute_complete({}, {"status": "timeout", "message": "Timed out waiting", "pending": [101]})


def test_soft_fail_skips_on_timeout_through_resume() -> None:
    task = sensor(soft_fail=True)
    with pytest.raises(AirflowSkipException):
        task.resume_execution(
            "execute_complete", {"event": {"status": "timeout", "message": "Timed out"}}, {}
        )


@pytest.mark.parametrize("error", ["Trigger timeout", "Trigger/execution timeout"])  # Airflow 3, Airflow 2
def test_backstop_deferral_timeout_is_a_sensor_timeout_on_every_version(error: str) -> None:
    with pytest.raises(AirflowSensorTimeout, match="deferral timeout"):
        sensor().resume_execution("__fail__", {"error": error}, {})
    with pytest.raises(AirflowSkipException):
        sensor(soft_fail=True).resume_execution("__fail__", {"error": error}, {})


def test_execute_complete_error_rebuilds_the_typed_error() -> None:
    event = {
        "status": "error",
        "message": "Octopods has no whatsapp message 101",
        "error": {
            "type": "OctopodsNotFoundError",
            "status_code": 404,
            "error_code": None,
            "request_id": "r-1",
        },
    }
    with pytest.raises(OctopodsNotFoundError) as caught:
        sensor().execute_complete({}, event)
    assert (caught.value.status_code, caught.value.request_id) == (404, "r-1")


@pytest.mark.parametrize("event", [None, {}, {"status": None}, {"status": "done"}, "success", []])
def test_execute_complete_rejects_missing_or_unknown_events(event: Any) -> None:
    with pytest.raises(OctopodsError, match="event"):
        sensor().execute_complete({}, event)


def test_execute_complete_rejects_a_success_its_results_contradict() -> None:
    event = {"status": "success", "message": "ok", "results": [result(101, "SENT")]}
    with pytest.raises(OctopodsError, match="do not show"):
        sensor().execute_complete({}, event)


def test_poke_mode_uses_the_same_decision(octopods_conn: CannedServer) -> None:
    answer(octopods_conn, 101, "SENT", "QUEUED", "DELIVERED")
    with mock.patch.object(MessageDeliverySensor, "defer") as defer:
        assert sensor(deferrable=False, mode="poke").execute({})["status"] == "DELIVERED"
    assert not defer.called
    assert len(octopods_conn.requests) == 3


def test_poke_mode_rechecks_unknown_after_10_seconds_only(octopods_conn: CannedServer) -> None:
    answer(octopods_conn, 1, "UNKNOWN", "DELIVERED")
    answer(octopods_conn, 2, "SENT", "SENT", "SENT", "DELIVERED")
    task = sensor(message_id=[1, 2], deferrable=False, poke_interval=2)
    clock = mock.patch("airflow_provider_octopods.sensors.delivery.time.time")
    with clock as now:
        for second in (0, 2, 4, 10):
            now.return_value = 1_000_000.0 + second
            done = task.poke({})
    assert len(octopods_conn.requests_to("/api/v1/whatsapp/messages/1")) == 2  # at 0 s and 10 s
    assert len(octopods_conn.requests_to("/api/v1/whatsapp/messages/2")) == 4
    assert isinstance(done, PokeReturnValue)
    assert [item["status"] for item in done.xcom_value] == ["DELIVERED", "DELIVERED"]


def test_a_long_rate_limit_is_waited_out_not_failed(octopods_conn: CannedServer) -> None:
    retry_at = time.time() + 600
    octopods_conn.add("GET", "/api/v1/whatsapp/messages/101", 429, {"error": "slow", "retry_at": retry_at})
    answer(octopods_conn, 101, "DELIVERED")
    task = sensor(deferrable=False)
    assert task.poke({}) is False  # past the hook's in-place wait: keep waiting, do not fail the try
    assert task.poke({}) is False  # and do not ask again before the retry time
    assert len(octopods_conn.requests) == 1
    with mock.patch("airflow_provider_octopods.sensors.delivery.time.time", return_value=retry_at + 1):
        assert task.poke({}).xcom_value["status"] == "DELIVERED"
    # Deferrable: the first check hands a rate-limited wait to the trigger instead of failing.
    octopods_conn.add("GET", "/api/v1/whatsapp/messages/102", 429, {"error": "slow", "retry_at": retry_at})
    with pytest.raises(TaskDeferred):
        sensor(message_id=102).execute({})


def test_poke_mode_does_not_repoll_settled_messages(octopods_conn: CannedServer) -> None:
    answer(octopods_conn, 1, "DELIVERED")
    answer(octopods_conn, 2, "SENT", "SENT", "READ")
    results = sensor(message_id=[1, 2], deferrable=False).execute({})
    assert [item["status"] for item in results] == ["DELIVERED", "READ"]
    assert len(octopods_conn.requests_to("/api/v1/whatsapp/messages/1")) == 1
    assert len(octopods_conn.requests_to("/api/v1/whatsapp/messages/2")) == 3


def test_poke_mode_failure_and_soft_fail(octopods_conn: CannedServer) -> None:
    answer(octopods_conn, 101, "SENT", FAILED_470)
    with pytest.raises(OctopodsDeliveryFailed, match="470"):
        sensor(deferrable=False).execute({})
    answer(octopods_conn, 102, "SENT", {**FAILED_470, "message_id": 102})
    with pytest.raises(AirflowSkipException):
        sensor(message_id=102, deferrable=False, soft_fail=True).execute({})


def test_poke_mode_timeout(octopods_conn: CannedServer) -> None:
    answer(octopods_conn, 101, "SENT")
    with pytest.raises(AirflowSensorTimeout):
        sensor(deferrable=False, timeout=0.3).execute({})


def test_read_is_refused_on_sms_when_built() -> None:
    with pytest.raises(OctopodsValidationError, match="READ can only be awaited on WhatsApp"):
        sensor(channel="sms", target_status="READ")


@pytest.mark.parametrize(
    ("overrides", "parameter"),
    [
        ({"message_id": 0}, "message_id"),
        ({"message_id": "abc"}, "message_id"),
        ({"message_id": []}, "message_id"),
        ({"message_id": "[1, x]"}, "message_id"),
        ({"channel": "viber"}, "channel"),
        ({"target_status": "SENT"}, "target_status"),
        ({"allowed_failures": -1}, "allowed_failures"),
        ({"allowed_failures": "1"}, "allowed_failures"),
    ],
)
def test_bad_arguments_are_refused_when_built(overrides: dict[str, Any], parameter: str) -> None:
    with pytest.raises(OctopodsValidationError) as caught:
        sensor(**overrides)
    assert caught.value.parameter == parameter


def test_templated_arguments_are_checked_at_run_time(octopods_conn: CannedServer) -> None:
    task = sensor(message_id="{{ ti.xcom_pull('send') }}", channel="{{ params.channel }}")
    task.message_id, task.channel = "not-an-id", "sms"  # what rendering produced
    with pytest.raises(OctopodsValidationError, match="message_id"):
        task.execute({})
    assert octopods_conn.requests == []


# -- what the check before deferring says ----------------------------------------------------------------


@pytest.fixture
def log() -> Any:
    """The sensor's logger, recorded (a property on both Airflow lines)."""
    recorder = mock.MagicMock()
    with mock.patch.object(
        MessageDeliverySensor, "log", new_callable=mock.PropertyMock, return_value=recorder
    ):
        yield recorder


def _info_lines(log: mock.MagicMock) -> list[str]:
    return [
        call.args[0] % call.args[1:] if len(call.args) > 1 else call.args[0]
        for call in log.info.call_args_list
    ]


def test_the_line_before_deferring_names_where_the_check_stopped(
    octopods_conn: CannedServer, log: Any
) -> None:
    answer(octopods_conn, 101, "DELIVERED")
    answer(octopods_conn, 102, "SENT")
    task = sensor(message_id=[101, 102, 103, 104])
    with pytest.raises(TaskDeferred):
        task.execute({})
    (line,) = _info_lines(log)
    assert line.startswith("Checked 2 of 4 messages and stopped at the first not yet DELIVERED: 102 (SENT); ")
    assert "deferring until" in line
    assert "not checked yet" not in line
    assert "103" not in line


def test_the_line_before_deferring_for_one_message(octopods_conn: CannedServer, log: Any) -> None:
    answer(octopods_conn, 101, "SENT")
    task = sensor()
    with pytest.raises(TaskDeferred):
        task.execute({})
    (line,) = _info_lines(log)
    assert line.startswith("WhatsApp message 101 is SENT, not yet DELIVERED; deferring until ")


def test_a_message_already_at_the_target_logs_that_it_was_reached(
    octopods_conn: CannedServer, log: Any
) -> None:
    answer(octopods_conn, 101, "READ")
    task = sensor(target_status="READ")
    assert task.execute({})["status"] == "READ"
    assert _info_lines(log) == ["WhatsApp message 101 is READ: READ reached."]


# -- the listing, worker side ------------------------------------------------------------------------------

LISTING_PATH = "/api/v1/whatsapp/messages"


def listing_of(*items: tuple[int, str]) -> dict[str, Any]:
    return {
        "messages": [
            {
                "message_id": message_id,
                "status": status,
                "phone_number": "+15551234567",
                "sent_at": "2026-04-24T10:00:00Z",
            }
            for message_id, status in items
        ]
    }


def test_a_mostly_done_batch_is_read_through_one_listing_request(
    octopods_conn: CannedServer, log: Any
) -> None:
    answer(octopods_conn, 1, "DELIVERED")
    answer(octopods_conn, 2, "READ")
    octopods_conn.add("GET", LISTING_PATH, 200, listing_of((3, "DELIVERED"), (4, "DELIVERED"), (5, "SENT")))
    with pytest.raises(TaskDeferred):
        sensor(message_id=[1, 2, 3, 4, 5]).execute({})
    assert [request.path for request in octopods_conn.requests] == [
        "/api/v1/whatsapp/messages/1",
        "/api/v1/whatsapp/messages/2",
        LISTING_PATH,
    ]
    (line,) = _info_lines(log)
    assert line.startswith(
        "Read 3 of 5 messages through one listing request and 2 on their own: 1 not yet DELIVERED: 5 (SENT)"
    )


def test_the_check_reads_on_their_own_what_the_listing_lacks(octopods_conn: CannedServer) -> None:
    answer(octopods_conn, 1, "DELIVERED")
    answer(octopods_conn, 2, "DELIVERED")
    answer(octopods_conn, 4, "DELIVERED")  # older than the listing's newest 100
    octopods_conn.add("GET", LISTING_PATH, 200, listing_of((3, "READ")))
    results = sensor(message_id=[1, 2, 3, 4]).execute({})
    assert [item["status"] for item in results] == ["DELIVERED", "DELIVERED", "READ", "DELIVERED"]
    assert len(octopods_conn.requests) == 4  # 1, 2, the listing, 4


def test_a_listing_failure_in_the_listing_entry_is_confirmed_for_its_code(
    octopods_conn: CannedServer,
) -> None:
    answer(octopods_conn, 1, "DELIVERED")
    answer(octopods_conn, 2, "DELIVERED")
    failed_item = {"message_id": 3, "status": "failed", "phone_number": "+1555", "failure_reason": "Window"}
    octopods_conn.add("GET", LISTING_PATH, 200, {"messages": [failed_item]})
    answer(octopods_conn, 3, {**FAILED_470, "message_id": 3})
    with pytest.raises(OctopodsDeliveryFailed) as caught:
        sensor(message_id=[1, 2, 3]).execute({})
    assert caught.value.failure_code == 470


def test_poke_mode_reads_the_due_messages_of_a_list_through_the_listing(octopods_conn: CannedServer) -> None:
    octopods_conn.add("GET", LISTING_PATH, 200, listing_of((1, "SENT"), (2, "SENT")))
    octopods_conn.add("GET", LISTING_PATH, 200, listing_of((1, "DELIVERED"), (2, "READ")))
    task = sensor(message_id=[1, 2], deferrable=False)
    assert task.poke({}) is False
    done = task.poke({})
    assert isinstance(done, PokeReturnValue)
    assert [item["status"] for item in done.xcom_value] == ["DELIVERED", "READ"]
    assert [request.path for request in octopods_conn.requests] == [LISTING_PATH, LISTING_PATH]


def test_use_listing_false_polls_each_message_and_tells_the_trigger(octopods_conn: CannedServer) -> None:
    answer(octopods_conn, 1, "DELIVERED")
    answer(octopods_conn, 2, "DELIVERED")
    answer(octopods_conn, 3, "SENT")
    with pytest.raises(TaskDeferred) as deferred:
        sensor(message_id=[1, 2, 3], use_listing=False).execute({})
    assert LISTING_PATH not in [request.path for request in octopods_conn.requests]
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["use_listing"] is False

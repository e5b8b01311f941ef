"""Send operators and notifier: validation before any request, at-most-once decisions, alert texts."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_octopods.exceptions import (
    OctopodsConnectionError,
    OctopodsSendOutcomeUnknown,
    OctopodsServerError,
    OctopodsValidationError,
)
from airflow_provider_octopods.notifications.octopods import OctopodsNotifier
from airflow_provider_octopods.operators.send import SendSmsOperator, SendWhatsAppTemplateOperator
from airflow_provider_octopods.utils.phones import redact_phone

if TYPE_CHECKING:
    from tests.canned_server import CannedServer

WA_SEND = "/api/v1/whatsapp/templates/84579/messages"
SMS_SEND = "/api/v1/sms/messages"


class MemoryLedger:
    where = "memory"

    def __init__(self, entry: dict[str, Any] | None = None) -> None:
        self.entry = entry
        self.writes: list[dict[str, Any]] = []
        self.released = False

    def read(self) -> dict[str, Any] | None:
        return self.entry

    def write(self, entry: dict[str, Any]) -> None:
        self.entry = entry
        self.writes.append(entry)

    def forget(self) -> None:
        self.entry = None

    def release(self) -> None:
        self.released = True
        self.entry = None


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> MemoryLedger:
    memory = MemoryLedger()
    monkeypatch.setattr("airflow_provider_octopods.operators._send_ledger.ledger_for", lambda context: memory)
    return memory


def wa(**kwargs: Any) -> SendWhatsAppTemplateOperator:
    return SendWhatsAppTemplateOperator(
        task_id="send", **{"template_id": 84579, "destination_phone": "+14155552671", **kwargs}
    )


def sms(**kwargs: Any) -> SendSmsOperator:
    return SendSmsOperator(task_id="send", **{"destination_phone": "+14155552671", "body": "hi", **kwargs})


@pytest.mark.parametrize(
    ("build", "parameter"),
    [
        (lambda: sms(destination_phone="4155552671"), "destination_phone"),
        (lambda: sms(destination_phone="+1 (415) 555-2671"), "destination_phone"),
        (lambda: sms(body=""), "body"),
        (lambda: sms(body="   \n"), "body"),
        (lambda: sms(body="x" * 1601), "body"),
        (lambda: sms(destination_user_name=""), "destination_user_name"),
        (lambda: sms(open_intercom_conversation="sometimes"), "open_intercom_conversation"),
        (lambda: wa(message_variables={"1": "a", "3": "c"}), "message_variables"),
        (lambda: wa(message_variables={"body": "Alex"}), "message_variables['body']"),
        (lambda: wa(message_variables=[{"nested": 1}]), "message_variables[0]"),
        (lambda: wa(message_variables="Alex, 1234"), "message_variables"),
        (lambda: wa(template_id=""), "template_id"),
        (lambda: wa(header_attachment_url="not a url"), "header_attachment_url"),
    ],
)
def test_bad_literal_arguments_fail_when_the_dag_is_parsed(build: Any, parameter: str) -> None:
    with pytest.raises(OctopodsValidationError) as caught:
        build()
    assert caught.value.parameter == parameter


@pytest.mark.parametrize(
    ("build", "rendered", "parameter"),
    [
        (
            lambda: sms(destination_phone="{{ params.phone }}"),
            {"destination_phone": "0044 7700"},
            "destination_phone",
        ),
        (lambda: sms(body="{{ params.text }}"), {"body": ""}, "body"),
        (lambda: sms(body="{{ params.text }}"), {"body": "y" * 2000}, "body"),
        (
            lambda: wa(message_variables="{{ params.vars }}"),
            {"message_variables": "{'x': 1}"},
            "message_variables",
        ),
    ],
)
def test_bad_templated_arguments_fail_before_any_request(
    octopods_conn: CannedServer, ledger: MemoryLedger, build: Any, rendered: dict[str, Any], parameter: str
) -> None:
    operator = build()
    for name, value in rendered.items():
        setattr(operator, name, value)
    with pytest.raises(OctopodsValidationError) as caught:
        operator.execute({})
    assert caught.value.parameter == parameter
    assert octopods_conn.requests == []
    assert ledger.writes == []


def test_success_records_sending_then_sent(octopods_conn: CannedServer, ledger: MemoryLedger) -> None:
    octopods_conn.add("POST", SMS_SEND, 201, {"message_id": 42, "request_id": "r-1"})
    assert sms().execute({}) == {
        "message_id": 42,
        "channel": "sms",
        "request_id": "r-1",
        "channel_message_id": None,
    }
    assert [entry["state"] for entry in ledger.writes] == ["sending", "sent"]
    # The record outlives execute(): only the success callback, once Airflow recorded the success, drops it.
    assert not ledger.released
    assert ledger.entry is not None
    assert ledger.entry["state"] == "sent"


def test_recorded_send_is_returned_not_repeated(octopods_conn: CannedServer, ledger: MemoryLedger) -> None:
    ledger.entry = {
        "state": "sent",
        "channel": "sms",
        "recipient": "+14155552671",
        "result": {"message_id": 42, "channel": "sms", "request_id": "r-1", "channel_message_id": None},
    }
    assert sms().execute({})["message_id"] == 42
    assert octopods_conn.requests == []
    assert not ledger.released, "a retry that returned the recorded result may still fail before success"


def test_success_callbacks_are_the_users_then_the_ledgers_own(ledger: MemoryLedger) -> None:
    from airflow_provider_octopods.operators._send_ledger import release_after_success

    def mine(context: Any) -> None: ...

    def also_mine(context: Any) -> None: ...

    assert sms().on_success_callback == [release_after_success]
    assert sms(on_success_callback=mine).on_success_callback == [mine, release_after_success]
    operator = wa(on_success_callback=[mine, also_mine])
    assert operator.on_success_callback == [mine, also_mine, release_after_success]
    operator.on_success_callback = also_mine  # replaces yours, never the ledger's
    assert operator.on_success_callback == [also_mine, release_after_success]
    for callback in operator.on_success_callback:
        callback({})
    assert ledger.released


def test_a_failing_cleanup_is_logged_never_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_octopods.operators import _send_ledger

    class BrokenLedger(MemoryLedger):
        def release(self) -> None:
            raise ConnectionError("the metadata database went away")

    monkeypatch.setattr(_send_ledger, "ledger_for", lambda context: BrokenLedger())
    _send_ledger.release_after_success({})
    assert "Could not remove the send record" in caplog.text
    assert "the metadata database went away" in caplog.text


def test_unknown_sms_outcome_asks_for_a_manual_check(
    octopods_conn: CannedServer, ledger: MemoryLedger
) -> None:
    ledger.entry = {
        "state": "sending",
        "channel": "sms",
        "recipient": "+14155552671",
        "started_at": "2026-04-24T10:00:00Z",
    }
    with pytest.raises(OctopodsSendOutcomeUnknown, match="Check whether the SMS arrived"):
        sms().execute({})
    assert octopods_conn.requests == []


def test_unknown_whatsapp_outcome_is_reconciled_with_the_listing(
    octopods_conn: CannedServer, ledger: MemoryLedger
) -> None:
    ledger.entry = {
        "state": "sending",
        "channel": "whatsapp",
        "recipient": "+14155552671",
        "started_at": "2026-04-24T10:00:00Z",
    }
    octopods_conn.add(
        "GET",
        "/api/v1/whatsapp/messages",
        200,
        {
            "messages": [
                {
                    "message_id": 9,
                    "status": "sent",
                    "phone_number": "+14155552671",
                    "sent_at": "2026-04-24T10:00:01Z",
                },
                {
                    "message_id": 8,
                    "status": "sent",
                    "phone_number": "+14155559999",
                    "sent_at": "2026-04-24T10:00:00Z",
                },
                {
                    "message_id": 7,
                    "status": "read",
                    "phone_number": "+14155552671",
                    "sent_at": "2026-04-24T09:00:00Z",
                },
            ]
        },
    )
    assert wa().execute({})["message_id"] == 9
    assert [request.method for request in octopods_conn.requests] == ["GET"]


def test_unknown_whatsapp_outcome_without_trace_sends(
    octopods_conn: CannedServer, ledger: MemoryLedger
) -> None:
    ledger.entry = {
        "state": "sending",
        "channel": "whatsapp",
        "recipient": "+14155552671",
        "started_at": "2026-04-24T10:00:00Z",
    }
    octopods_conn.add(
        "GET", "/api/v1/whatsapp/messages", 400, {"error_code": 2, "error": "Resource Not Found"}
    )
    octopods_conn.add("POST", WA_SEND, 201, {"message_id": 10})
    assert wa().execute({})["message_id"] == 10


def test_record_for_another_recipient_is_ignored(octopods_conn: CannedServer, ledger: MemoryLedger) -> None:
    ledger.entry = {
        "state": "sent",
        "channel": "sms",
        "recipient": "+14155550000",
        "result": {"message_id": 1, "channel": "sms"},
    }
    octopods_conn.add("POST", SMS_SEND, 201, {"message_id": 2})
    assert sms().execute({})["message_id"] == 2


@pytest.mark.parametrize(
    ("answer", "error", "kept"),
    [
        ({"status": 503, "body": {"error": "busy"}}, OctopodsServerError, True),
        ({"drop": True}, OctopodsConnectionError, True),
        (
            {"status": 400, "body": {"error_code": 3, "error": "Message Template does not exist."}},
            Exception,
            False,
        ),
    ],
)
def test_ambiguous_failures_keep_the_record_refusals_clear_it(
    octopods_conn: CannedServer, ledger: MemoryLedger, answer: dict[str, Any], error: type, kept: bool
) -> None:
    octopods_conn.add(
        "POST", WA_SEND, answer.get("status", 200), answer.get("body", b""), drop=answer.get("drop", False)
    )
    with pytest.raises(error):
        wa().execute({})
    assert (ledger.entry is not None) is kept
    assert len(octopods_conn.requests) == 1


def test_phone_numbers_are_redacted_in_logs() -> None:
    assert redact_phone("+14155552671") == "***2671"


# -- notifier -----------------------------------------------------------------------------------------


def test_notifier_refuses_bad_phones_and_missing_template_when_built() -> None:
    with pytest.raises(OctopodsValidationError, match="destination_phones"):
        OctopodsNotifier(destination_phones=["+14155552671", "0044"])
    with pytest.raises(OctopodsValidationError, match="template_id"):
        OctopodsNotifier(destination_phones="+14155552671", channel="whatsapp")


def test_notifier_sends_one_message_per_recipient(octopods_conn: CannedServer) -> None:
    octopods_conn.add("POST", SMS_SEND, 201, {"message_id": 1})
    notifier = OctopodsNotifier(destination_phones="+14155552671, +14155552672", body="x" * 3000)
    notifier.notify({})
    bodies = [request.json()["body"] for request in octopods_conn.requests]
    assert [request.json()["destination_phone"] for request in octopods_conn.requests] == [
        "+14155552671",
        "+14155552672",
    ]
    assert all(len(body) == 1600 and body.endswith("[...]") for body in bodies)


def test_notifier_default_body_names_the_failed_task(octopods_conn: CannedServer) -> None:
    octopods_conn.add("POST", SMS_SEND, 201, {"message_id": 1})
    ti = SimpleNamespace(dag_id="etl", task_id="load")
    OctopodsNotifier(destination_phones="+14155552671")({"dag": None, "ti": ti, "task_instance": ti})
    assert octopods_conn.requests[0].json()["body"] == "etl.load failed"


def test_notifier_template_error_is_logged_not_raised(
    octopods_conn: CannedServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    notifier = OctopodsNotifier(destination_phones="+14155552671", body="{{ ti.nope.deeper }}")
    notifier({"dag": None, "ti": SimpleNamespace(dag_id="etl", task_id="load")})  # renders, then notifies
    assert octopods_conn.requests == []
    logged = caplog.text + "".join(capfd.readouterr())  # Airflow 3 logs through structlog
    assert "could not be rendered" in logged


def test_notifier_whatsapp_template(octopods_conn: CannedServer) -> None:
    octopods_conn.add("POST", WA_SEND, 201, {"message_id": 1})
    OctopodsNotifier(
        destination_phones="+14155552671",
        channel="whatsapp",
        template_id=84579,
        message_variables=["etl", "failed"],
    ).notify({})
    assert octopods_conn.requests[0].json()["message_variables"] == ["etl", "failed"]


def test_notifier_never_raises(octopods_conn: CannedServer, no_backoff: None) -> None:
    octopods_conn.add("POST", SMS_SEND, 401, {"error": "Unauthorized"})
    notifier = OctopodsNotifier(destination_phones=["+14155552671", "+14155552672"])
    notifier.notify({})  # logged, not raised
    assert len(octopods_conn.requests) == 2
    notifier.destination_phones = "not a phone"  # what a bad template rendered to
    notifier.notify({})
    assert len(octopods_conn.requests) == 2

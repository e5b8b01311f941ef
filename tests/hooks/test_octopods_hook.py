"""OctopodsHook over real HTTP on loopback: every documented shape, every error class, retries, secrets."""

from __future__ import annotations

import logging
import socket
import time
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_octopods.exceptions import (
    OctopodsApiError,
    OctopodsAuthError,
    OctopodsConnectionError,
    OctopodsError,
    OctopodsMalformedResponseError,
    OctopodsNotFoundError,
    OctopodsRateLimitError,
    OctopodsServerError,
    OctopodsValidationError,
)
from airflow_provider_octopods.hooks.octopods import OctopodsHook
from tests.data.doc_responses import DOC_RESPONSES, DocResponse
from tests.keys import CHANNEL_KEY, WHATSAPP_KEY, assert_no_key, connection_json

if TYPE_CHECKING:
    from tests.canned_server import CannedServer

WA_STATUS = "/api/v1/whatsapp/messages/{}"
SMS_STATUS = "/api/v1/sms/messages/{}"
LISTING = "/api/v1/whatsapp/messages"
WA_SEND = "/api/v1/whatsapp/templates/84579/messages"
SMS_SEND = "/api/v1/sms/messages"


def call(hook: OctopodsHook, endpoint: str, message_id: int = 1) -> Any:
    if endpoint == "whatsapp.status":
        return hook.get_message_status(message_id, "whatsapp")
    if endpoint == "sms.status":
        return hook.get_message_status(str(message_id), channel="sms")
    if endpoint == "whatsapp.list":
        return hook.list_sent_messages(limit=100)
    if endpoint == "whatsapp.send":
        return hook.send_whatsapp_template(84579, "+14155552671", ["Alex", "1234"])
    return hook.send_sms("+14155552671", "Your order shipped")


def path_for(endpoint: str, message_id: int = 1) -> tuple[str, str]:
    return {
        "whatsapp.status": ("GET", WA_STATUS.format(message_id)),
        "sms.status": ("GET", SMS_STATUS.format(message_id)),
        "whatsapp.list": ("GET", LISTING),
        "whatsapp.send": ("POST", WA_SEND),
        "sms.send": ("POST", SMS_SEND),
    }[endpoint]


@pytest.mark.parametrize("doc", DOC_RESPONSES, ids=lambda doc: doc.name)
def test_every_documented_response_over_http(octopods_conn: CannedServer, doc: DocResponse) -> None:
    method, path = path_for(doc.endpoint, doc.message_id)
    octopods_conn.add(method, path, doc.status, doc.body, headers=doc.headers)
    hook = OctopodsHook()
    if isinstance(doc.expected, type):
        with pytest.raises(doc.expected):
            call(hook, doc.endpoint, doc.message_id)
    else:
        result = call(hook, doc.endpoint, doc.message_id)
        rendered = [item.to_dict() for item in result] if isinstance(result, list) else result.to_dict()
        if isinstance(doc.expected, list):
            assert rendered == doc.expected
        else:
            assert {key: rendered[key] for key in doc.expected} == doc.expected
    (request,) = octopods_conn.requests
    expected_key = CHANNEL_KEY if doc.endpoint.startswith("sms") else WHATSAPP_KEY
    assert request.headers["X-Octopods-Auth"] == expected_key


def test_requests_carry_the_right_key_query_and_body(octopods_conn: CannedServer) -> None:
    octopods_conn.add("GET", LISTING, 200, [])
    octopods_conn.add("POST", WA_SEND, 201, {"message_id": 7, "request_id": "r"})
    octopods_conn.add("POST", SMS_SEND, 201, {"message_id": 8})
    hook = OctopodsHook()
    assert hook.list_sent_messages(limit=25) == []
    hook.send_whatsapp_template("84579", "+14155552671", {"body": ["Alex"]}, open_intercom_conversation=True)
    hook.send_sms("+14155552671", "Hi Alex", destination_user_name="Alex")
    listing, wa_send, sms_send = octopods_conn.requests
    assert listing.query == {"limit": "25"}
    assert "Content-Type" not in listing.headers or listing.method == "GET"
    assert wa_send.json() == {
        "destination_phone": "+14155552671",
        "message_variables": {"body": ["Alex"]},
        "open_intercom_conversation": True,
    }
    assert wa_send.headers["Content-Type"] == "application/json"
    assert (wa_send.headers["X-Octopods-Auth"], sms_send.headers["X-Octopods-Auth"]) == (
        WHATSAPP_KEY,
        CHANNEL_KEY,
    )
    assert sms_send.json() == {
        "destination_phone": "+14155552671",
        "body": "Hi Alex",
        "destination_user_name": "Alex",
    }


# -- retries ----------------------------------------------------------------------------------------


def test_reads_retry_5xx_then_succeed(octopods_conn: CannedServer, no_backoff: None) -> None:
    path = WA_STATUS.format(5)
    octopods_conn.add("GET", path, 503, {"error": "busy"})
    octopods_conn.add("GET", path, 502, "<html>bad gateway</html>", headers={"Content-Type": "text/html"})
    octopods_conn.add("GET", path, 200, {"message_id": 5, "status": "SENT"})
    assert OctopodsHook().get_message_status(5).status == "SENT"
    assert len(octopods_conn.requests) == 3


def test_reads_give_up_after_max_retries(octopods_conn: CannedServer, no_backoff: None) -> None:
    octopods_conn.add("GET", WA_STATUS.format(5), 500, {"error": "down"})
    with pytest.raises(OctopodsServerError, match="Gave up after 4 attempts") as caught:
        OctopodsHook().get_message_status(5)
    assert caught.value.status_code == 500
    assert len(octopods_conn.requests) == 4  # 1 + max_retries (3 in the test connection)


def test_malformed_success_body_is_retried_for_reads(octopods_conn: CannedServer, no_backoff: None) -> None:
    path = WA_STATUS.format(5)
    octopods_conn.add("GET", path, 200, b'{"message_id": 5, "sta')
    octopods_conn.add("GET", path, 200, {"message_id": 5, "status": "DELIVERED"})
    assert OctopodsHook().get_message_status(5).status == "DELIVERED"


@pytest.mark.parametrize("endpoint", ["whatsapp.send", "sms.send"])
@pytest.mark.parametrize(
    ("status", "body", "error"),
    [(503, {"error": "busy"}, OctopodsServerError), (200, b"<html>", OctopodsMalformedResponseError)],
)
def test_sends_are_never_repeated_after_reaching_the_server(
    octopods_conn: CannedServer, no_backoff: None, endpoint: str, status: int, body: Any, error: type
) -> None:
    method, path = path_for(endpoint)
    octopods_conn.add(method, path, status, body)
    octopods_conn.add(method, path, 201, {"message_id": 9})
    with pytest.raises(error):
        call(OctopodsHook(), endpoint)
    assert len(octopods_conn.requests) == 1


def test_send_over_a_dropped_connection_is_not_repeated(
    octopods_conn: CannedServer, no_backoff: None
) -> None:
    octopods_conn.add("POST", SMS_SEND, drop=True)
    with pytest.raises(OctopodsConnectionError) as caught:
        OctopodsHook().send_sms("+14155552671", "hi")
    assert caught.value.may_have_reached_server is True
    assert len(octopods_conn.requests) == 1


def test_send_is_retried_when_the_connection_was_refused(
    octopods_conn: CannedServer, no_backoff: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib3

    octopods_conn.add("POST", SMS_SEND, 201, {"message_id": 9})
    hook = OctopodsHook()
    real = hook.session.request
    attempts = []

    def refuse_first(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise requests.exceptions.ConnectionError(
                urllib3.exceptions.MaxRetryError(
                    None, "/", urllib3.exceptions.NewConnectionError(None, "refused")
                )  # type: ignore[arg-type]
            )
        return real(*args, **kwargs)

    monkeypatch.setattr(hook.session, "request", refuse_first)
    assert hook.send_sms("+14155552671", "hi").message_id == 9
    assert len(attempts) == 2
    assert len(octopods_conn.requests) == 1


def test_unreachable_server_fails_after_retries(monkeypatch: pytest.MonkeyPatch, no_backoff: None) -> None:
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_OCTOPODS_DEFAULT",
        connection_json(f"http://127.0.0.1:{port}", whatsapp_api_key=WHATSAPP_KEY),
    )
    with pytest.raises(OctopodsConnectionError, match="could not connect") as caught:
        OctopodsHook().get_message_status(1)
    assert caught.value.may_have_reached_server is False


def test_slow_answer_times_out(
    monkeypatch: pytest.MonkeyPatch, canned: CannedServer, no_backoff: None
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OCTOPODS_DEFAULT",
        connection_json(canned.base_url, whatsapp_api_key=WHATSAPP_KEY, timeout=0.2, max_retries=1),
    )
    canned.add("GET", WA_STATUS.format(1), 200, {"status": "SENT"}, delay=1.0)
    with pytest.raises(OctopodsConnectionError, match=r"no answer within 0.2 s"):
        OctopodsHook().get_message_status(1)
    assert len(canned.requests) == 2


def test_429_waits_until_the_retry_time(octopods_conn: CannedServer) -> None:
    path = WA_STATUS.format(3)
    octopods_conn.add("GET", path, 429, {"error": "Too Many Requests"}, headers={"Retry-After": "1"})
    octopods_conn.add("GET", path, 200, {"message_id": 3, "status": "DELIVERED"})
    started = time.monotonic()
    assert OctopodsHook().get_message_status(3).status == "DELIVERED"
    assert time.monotonic() - started >= 0.95


def test_429_beyond_the_cap_raises_with_retry_at(octopods_conn: CannedServer) -> None:
    retry_at = time.time() + 600
    octopods_conn.add("GET", LISTING, 429, {"error": "Too Many Requests", "retry_at": retry_at})
    with pytest.raises(OctopodsRateLimitError) as caught:
        OctopodsHook(max_rate_limit_wait=5).list_sent_messages()
    assert caught.value.retry_at.timestamp() == pytest.approx(retry_at)
    assert len(octopods_conn.requests) == 1


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, {"error": "Unauthorized"}, OctopodsAuthError),
        (400, {"error_code": 6, "error": "Deprecated API Key."}, OctopodsAuthError),
        (404, {"error": "Not found"}, OctopodsNotFoundError),
        (403, {"error": "Not enabled"}, OctopodsApiError),
        (400, {"error_code": 4, "error": "Variables size"}, OctopodsApiError),
    ],
)
def test_client_errors_are_not_retried(
    octopods_conn: CannedServer, no_backoff: None, status: int, body: Any, error: type
) -> None:
    octopods_conn.add("GET", WA_STATUS.format(1), status, body)
    with pytest.raises(error):
        OctopodsHook().get_message_status(1)
    assert len(octopods_conn.requests) == 1


def test_redirects_are_not_followed(octopods_conn: CannedServer) -> None:
    octopods_conn.add(
        "GET", WA_STATUS.format(1), 302, "", headers={"Location": "https://elsewhere.test/steal"}
    )
    with pytest.raises(OctopodsApiError, match="redirect"):
        OctopodsHook().get_message_status(1)
    assert len(octopods_conn.requests) == 1


# -- inputs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "parameter"),
    [
        (lambda hook: hook.get_message_status("abc"), "message_id"),
        (lambda hook: hook.get_message_status(5, channel="viber"), "channel"),
        (lambda hook: hook.list_sent_messages(limit=0), "limit"),
        (lambda hook: hook.send_sms("0044 7700 900123", "hi"), "destination_phone"),
        (lambda hook: hook.send_sms("+447700900123", ""), "body"),
        (lambda hook: hook.send_sms("+447700900123", "x" * 1601), "body"),
        (
            lambda hook: hook.send_whatsapp_template(84579, "+447700900123", {"1": "a", "x": "b"}),
            "message_variables",
        ),
        (lambda hook: hook.send_whatsapp_template(None, "+447700900123"), "template_id"),
    ],
)
def test_bad_inputs_fail_before_any_request(octopods_conn: CannedServer, action: Any, parameter: str) -> None:
    with pytest.raises(OctopodsValidationError) as caught:
        action(OctopodsHook())
    assert caught.value.parameter == parameter
    assert parameter in str(caught.value)
    assert octopods_conn.requests == []


def test_missing_key_fails_before_any_request(monkeypatch: pytest.MonkeyPatch, canned: CannedServer) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OCTOPODS_DEFAULT", connection_json(canned.base_url, whatsapp_api_key=WHATSAPP_KEY)
    )
    with pytest.raises(OctopodsValidationError, match="channel_api_key"):
        OctopodsHook().send_sms("+14155552671", "hi")
    with pytest.raises(OctopodsValidationError, match="channel_api_key"):
        OctopodsHook().get_message_status(1, channel="sms")
    assert canned.requests == []


def test_plain_http_off_loopback_is_refused_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OCTOPODS_DEFAULT",
        connection_json("http://octopods.example.com", whatsapp_api_key=WHATSAPP_KEY),
    )
    with pytest.raises(OctopodsValidationError, match="unencrypted"):
        OctopodsHook().get_message_status(1)


def test_custom_connection_id(monkeypatch: pytest.MonkeyPatch, canned: CannedServer) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_MARKETING_WA", connection_json(canned.base_url, whatsapp_api_key="other-key")
    )
    canned.add("GET", WA_STATUS.format(1), 200, {"status": "READ"})
    assert OctopodsHook(octopods_conn_id="marketing_wa").get_message_status(1).status == "READ"
    assert canned.requests[0].headers["X-Octopods-Auth"] == "other-key"


# -- test_connection --------------------------------------------------------------------------------


def test_test_connection_reports_each_key(octopods_conn: CannedServer) -> None:
    octopods_conn.add("GET", LISTING, 400, {"error_code": 2, "error": "Resource Not Found"})
    octopods_conn.add("GET", SMS_STATUS.format(1), 404, {"error": "not found"})
    ok, message = OctopodsHook().test_connection()
    assert ok, message
    assert "WhatsApp API key: works" in message
    assert "Channel API key: works" in message
    assert [request.query for request in octopods_conn.requests] == [{"limit": "1"}, {}]
    assert_no_key(message)


def test_test_connection_names_the_rejected_key(octopods_conn: CannedServer) -> None:
    octopods_conn.add("GET", LISTING, 200, [])
    octopods_conn.add("GET", SMS_STATUS.format(1), 400, {"error_code": 5, "error": "Deprecated API key."})
    ok, message = OctopodsHook().test_connection()
    assert not ok
    assert "WhatsApp API key: works" in message
    assert "Channel API key: rejected" in message
    assert_no_key(message)


def test_test_connection_is_bounded_and_does_not_retry(
    monkeypatch: pytest.MonkeyPatch, canned: CannedServer
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OCTOPODS_DEFAULT",
        connection_json(canned.base_url, whatsapp_api_key=WHATSAPP_KEY, timeout=0.3, max_retries=5),
    )
    canned.add("GET", LISTING, 200, [], delay=2)
    started = time.monotonic()
    ok, message = OctopodsHook().test_connection()
    assert not ok
    assert "WhatsApp API key: could not be checked" in message
    assert "Channel API key: not set" in message
    assert time.monotonic() - started < 1.5
    assert len(canned.requests) == 1


def test_test_connection_without_keys(monkeypatch: pytest.MonkeyPatch, canned: CannedServer) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_OCTOPODS_DEFAULT", connection_json(canned.base_url))
    ok, message = OctopodsHook().test_connection()
    assert not ok
    assert "neither" in message
    assert canned.requests == []


# -- secrets ----------------------------------------------------------------------------------------


def test_no_key_in_any_log_record_or_exception(
    octopods_conn: CannedServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    no_backoff: None,
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    octopods_conn.add("GET", WA_STATUS.format(1), 503, {"error": "busy"})
    octopods_conn.add("GET", WA_STATUS.format(1), 429, {"error": "slow"}, headers={"Retry-After": "0"})
    octopods_conn.add("GET", WA_STATUS.format(1), 200, {"status": "SENT"})
    octopods_conn.add("GET", SMS_STATUS.format(2), 401, {"error": "Unauthorized"})
    octopods_conn.add("GET", LISTING, 400, {"error_code": 6, "error": "Deprecated API Key."})
    octopods_conn.add("POST", SMS_SEND, drop=True)
    hook = OctopodsHook()
    errors: list[OctopodsError] = []
    hook.get_message_status(1)
    for action in (
        lambda: hook.get_message_status(2, "sms"),
        lambda: hook.list_sent_messages(),
        lambda: hook.send_sms("+14155552671", "hi"),
    ):
        with pytest.raises(OctopodsError) as caught:
            action()
        errors.append(caught.value)
    _, message = hook.test_connection()
    records = [record.getMessage() for record in caplog.records]
    out, err = capfd.readouterr()  # Airflow 3 routes hook logs through structlog to stdout
    assert "retry 1/3" in "\n".join(records) + out + err, "the retries should have been logged"
    assert_no_key(records, out, err, message, *[str(error) for error in errors], *[repr(e) for e in errors])
    assert_no_key(repr(hook.settings))


def test_get_conn_is_the_pooled_session(octopods_conn: CannedServer) -> None:
    hook = OctopodsHook()
    assert hook.get_conn() is hook.session
    assert isinstance(hook.get_conn(), requests.Session)
    assert "X-Octopods-Auth" not in hook.get_conn().headers  # the key travels per request only


def test_test_connection_fails_on_a_misspelled_extra_naming_the_closest_field(
    monkeypatch: pytest.MonkeyPatch, canned: CannedServer
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OCTOPODS_DEFAULT",
        connection_json(canned.base_url, whatsapp_apikey=WHATSAPP_KEY, channel_api_key=CHANNEL_KEY),
    )
    canned.add("GET", SMS_STATUS.format(1), 404, {"error": "not found"})
    ok, message = OctopodsHook().test_connection()
    assert not ok
    assert "`whatsapp_apikey` (did you mean `whatsapp_api_key`?)" in message
    assert "Channel API key: works" in message
    assert "WhatsApp API key: not set" in message
    assert_no_key(message)


def test_test_connection_with_one_key_succeeds_and_says_which(
    monkeypatch: pytest.MonkeyPatch, canned: CannedServer
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OCTOPODS_DEFAULT", connection_json(canned.base_url, channel_api_key=CHANNEL_KEY)
    )
    canned.add("GET", SMS_STATUS.format(1), 404, {"error": "not found"})
    ok, message = OctopodsHook().test_connection()
    assert ok, message
    assert message.endswith("Channel API key: works; WhatsApp API key: not set")


def test_unknown_extras_are_warned_about_once_per_process(
    monkeypatch: pytest.MonkeyPatch,
    canned: CannedServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OCTOPODS_DEFAULT",
        connection_json(canned.base_url, whatsapp_api_key=WHATSAPP_KEY, max_retry=2),
    )
    for _ in range(3):
        OctopodsHook().settings  # noqa: B018 - loading the settings is the point
    # Airflow 3 logs through structlog to the output, Airflow 2 through logging: read both.
    captured = capfd.readouterr()
    warning = (
        "Connection 'octopods_default' has extra fields this provider does not read, so they are ignored: "
        "`max_retry` (did you mean `max_retries`?)."
    )
    logged = "\n".join(record.getMessage() for record in caplog.records)
    printed = captured.out + captured.err
    assert sorted({logged.count(warning), printed.count(warning)}) in ([1], [0, 1])  # once, wherever it went

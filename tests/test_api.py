"""The pure wire format: parsing every documented shape, error classification, retry policy, validation."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from typing import Any

import pytest

from airflow_provider_octopods import api
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
from airflow_provider_octopods.models import Channel, DeliveryStatus
from tests.data.doc_responses import DOC_RESPONSES, DocResponse

NOW = 1_777_000_000.0  # a fixed "now" (2026-04-24) for retry-time arithmetic


def request_for(endpoint: str, message_id: int = 1) -> api.ApiRequest:
    if endpoint == "whatsapp.status":
        return api.status_request(message_id, "whatsapp")
    if endpoint == "sms.status":
        return api.status_request(message_id, "sms")
    if endpoint == "whatsapp.list":
        return api.listing_request(100)
    if endpoint == "whatsapp.send":
        return api.whatsapp_send_request(84579, "+14155552671", ["Alex", "1234"])
    return api.sms_send_request("+14155552671", "hello")


def response(status: int, body: Any = b"", headers: dict[str, str] | None = None) -> api.ApiResponse:
    raw = (
        body
        if isinstance(body, bytes)
        else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
    )
    return api.ApiResponse.build(status, (headers or {"Content-Type": "application/json"}).items(), raw)


def as_dicts(result: Any) -> Any:
    return [item.to_dict() for item in result] if isinstance(result, list) else result.to_dict()


@pytest.mark.parametrize("doc", DOC_RESPONSES, ids=lambda doc: doc.name)
def test_every_documented_response(doc: DocResponse) -> None:
    request = request_for(doc.endpoint, doc.message_id)
    if isinstance(doc.expected, type):
        with pytest.raises(doc.expected):
            api.parse_response(request, response(doc.status, doc.body))
        return
    result = as_dicts(api.parse_response(request, response(doc.status, doc.body)))
    if isinstance(doc.expected, list):
        assert result == doc.expected
    else:
        assert {key: result[key] for key in doc.expected} == doc.expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("DELIVERED", DeliveryStatus.DELIVERED),
        ("delivered", DeliveryStatus.DELIVERED),
        (" Read ", DeliveryStatus.READ),
        ("queued", DeliveryStatus.QUEUED),
        ("undelivered", DeliveryStatus.UNDELIVERED),
        ("DELETED", DeliveryStatus.DELETED),
        ("unknown", DeliveryStatus.UNKNOWN),
        ("accepted_by_carrier", DeliveryStatus.UNKNOWN),
        (None, DeliveryStatus.UNKNOWN),
        (7, DeliveryStatus.UNKNOWN),
    ],
)
def test_status_vocabulary_superset(raw: Any, expected: DeliveryStatus) -> None:
    body = {"message_id": 5, "status": raw}
    assert api.parse_response(request_for("whatsapp.status", 5), response(200, body)).status is expected


@pytest.mark.parametrize(
    ("failure_reason", "code", "reason"),
    [
        ("__absent__", None, None),
        (None, None, None),
        ("", None, None),
        ("Recipient is not a WhatsApp user.", None, "Recipient is not a WhatsApp user."),
        ({"code": 470, "title": "Re-engagement window expired"}, 470, "Re-engagement window expired"),
        ({"code": "131026", "title": "Message undeliverable"}, 131026, "Message undeliverable"),
        ({"code": 470}, 470, None),
        ({"title": "No code"}, None, "No code"),
        (470, 470, None),
    ],
)
def test_failure_reason_encodings(failure_reason: Any, code: int | None, reason: str | None) -> None:
    body: dict[str, Any] = {"message_id": 5, "status": "FAILED"}
    if failure_reason != "__absent__":
        body["failure_reason"] = failure_reason
    status = api.parse_response(request_for("whatsapp.status", 5), response(200, body))
    assert (status.failure_code, status.failure_reason) == (code, reason)
    listing = api.parse_response(
        request_for("whatsapp.list"),
        response(
            200,
            [
                {
                    "message_status": {
                        "channel_message_id": 5,
                        "message_status": "FAILED",
                        **({} if failure_reason == "__absent__" else {"failure_reason": failure_reason}),
                    }
                }
            ],
        ),
    )
    assert (listing[0].failure_code, listing[0].failure_reason) == (code, reason)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-04-24T12:34:56Z", dt.datetime(2026, 4, 24, 12, 34, 56, tzinfo=dt.UTC)),
        ("2023-07-07T11:15:46.000Z", dt.datetime(2023, 7, 7, 11, 15, 46, tzinfo=dt.UTC)),
        ("2023-07-07T11:15:46.250Z", dt.datetime(2023, 7, 7, 11, 15, 46, 250000, tzinfo=dt.UTC)),
        ("2026-04-24T14:34:56+02:00", dt.datetime(2026, 4, 24, 12, 34, 56, tzinfo=dt.UTC)),
        ("2026-04-24T12:34:56", dt.datetime(2026, 4, 24, 12, 34, 56, tzinfo=dt.UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_timestamps_with_and_without_fractions(text: Any, expected: dt.datetime | None) -> None:
    assert api.parse_timestamp(text) == expected


def test_last_updated_derived_from_stage_timestamps() -> None:
    body = {
        "message_id": 9,
        "status": "read",
        "sent_at": "2026-04-24T10:00:00Z",
        "delivered_at": "2026-04-24T10:00:03Z",
        "read_at": "2026-04-24T10:05:00Z",
    }
    status = api.parse_response(request_for("whatsapp.status", 9), response(200, body))
    assert status.last_updated == dt.datetime(2026, 4, 24, 10, 5, tzinfo=dt.UTC)


def test_listing_phone_without_plus_is_normalised_and_fields_fall_back() -> None:
    body = [
        {
            "phone_number": "353838000000",
            "sent_at": "2026-04-24T10:00:00.000Z",
            "message_id": "77",
            "status": "sent",
        }
    ]
    (item,) = api.parse_response(request_for("whatsapp.list"), response(200, body))
    assert (item.message_id, item.phone_number, item.status) == (77, "+353838000000", DeliveryStatus.SENT)
    assert item.created_at == dt.datetime(2026, 4, 24, 10, tzinfo=dt.UTC)


def test_listing_item_without_id_is_an_error_not_a_silent_drop() -> None:
    with pytest.raises(OctopodsMalformedResponseError, match="item 1 has no usable message id"):
        api.parse_response(
            request_for("whatsapp.list"),
            response(200, {"messages": [{"message_id": 1, "status": "sent"}, {"status": "sent"}]}),
        )


def test_listing_object_with_empty_messages() -> None:
    assert api.parse_response(request_for("whatsapp.list"), response(200, {"messages": []})) == []


def test_trailing_comma_tolerance_never_touches_strings() -> None:
    body = '{"message_id": 5, "status": "SENT", "status_message": "a,} b,]",}'
    status = api.parse_response(request_for("sms.status", 5), response(200, body))
    assert status.status_message == "a,} b,]"


# -- error classification ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "status", "body", "error", "error_code"),
    [
        ("whatsapp.status", 401, {"error": "Unauthorized"}, OctopodsAuthError, None),
        ("whatsapp.status", 401, "", OctopodsAuthError, None),
        ("whatsapp.status", 400, {"error_code": 6, "error": "Deprecated API Key."}, OctopodsAuthError, 6),
        ("sms.status", 400, {"error_code": 5, "error": "Deprecated API key."}, OctopodsAuthError, 5),
        ("sms.send", 400, {"error_code": 5, "error": "Key rotated"}, OctopodsAuthError, 5),
        # WhatsApp 5 is an invalid phone, not a deprecated key: the families' codes collide.
        ("whatsapp.send", 400, {"error_code": 5, "error": "Phone invalid"}, OctopodsApiError, 5),
        # SMS 6 is not the deprecated-key code either.
        ("sms.send", 400, {"error_code": 6, "error": "Something"}, OctopodsApiError, 6),
        ("whatsapp.status", 404, {"error": "Not found"}, OctopodsNotFoundError, None),
        ("sms.status", 404, "", OctopodsNotFoundError, None),
        ("whatsapp.status", 400, {"error_code": 3, "error": "Message not found"}, OctopodsNotFoundError, 3),
        (
            "sms.status",
            400,
            {"error_code": 1, "error": "You must supply message_id"},
            OctopodsNotFoundError,
            1,
        ),
        ("whatsapp.list", 403, {"error": "Feature not enabled"}, OctopodsApiError, None),
        ("whatsapp.send", 400, {"error_code": 9, "error": "Variables shape"}, OctopodsApiError, 9),
        ("whatsapp.status", 500, {"error": "boom"}, OctopodsServerError, None),
        ("whatsapp.status", 503, "", OctopodsServerError, None),
        ("whatsapp.list", 429, {"error": "slow down"}, OctopodsRateLimitError, None),
        ("whatsapp.status", 302, "", OctopodsApiError, None),
        ("whatsapp.status", 418, "<html>teapot</html>", OctopodsApiError, None),
    ],
)
def test_error_classification(
    endpoint: str, status: int, body: Any, error: type[OctopodsError], error_code: int | None
) -> None:
    with pytest.raises(error) as caught:
        api.parse_response(request_for(endpoint), response(status, body))
    assert type(caught.value) is error
    assert caught.value.status_code == status
    assert caught.value.error_code == error_code


def test_error_carries_request_id_and_names_the_key_field() -> None:
    body = {"request_id": "req-1", "error_code": 6, "error": "Deprecated API Key."}
    with pytest.raises(OctopodsAuthError) as caught:
        api.parse_response(request_for("whatsapp.list"), response(400, body))
    assert caught.value.request_id == "req-1"
    assert "whatsapp_api_key" in str(caught.value)
    assert "req-1" in str(caught.value)


def test_html_proxy_page_is_a_server_error_without_the_page_text() -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1>nginx secret-ish text</body></html>"
    with pytest.raises(OctopodsServerError) as caught:
        api.parse_response(request_for("whatsapp.status"), response(502, page, {"Content-Type": "text/html"}))
    assert "text/html" in str(caught.value)
    assert "nginx" not in str(caught.value)


@pytest.mark.parametrize("body", [b"{not json", b"<html>ok</html>", b"", b"\xff\xfe"])
def test_unreadable_success_body_is_malformed(body: bytes) -> None:
    with pytest.raises(OctopodsMalformedResponseError):
        api.parse_response(request_for("whatsapp.status"), response(200, body))


def test_send_without_message_id_says_it_was_probably_sent() -> None:
    with pytest.raises(OctopodsMalformedResponseError, match="probably sent"):
        api.parse_response(request_for("sms.send"), response(201, {"request_id": "r"}))


# -- 429 retry time -----------------------------------------------------------------------------------


def rate_limited(headers: dict[str, str] | None = None, body: Any = None) -> OctopodsRateLimitError:
    error = api.classify_error(
        request_for("whatsapp.status"),
        response(
            429, body if body is not None else {}, {"Content-Type": "application/json", **(headers or {})}
        ),
        api.decode_body(response(429, body if body is not None else {})),
        now=NOW,
    )
    assert isinstance(error, OctopodsRateLimitError)
    return error


def test_retry_after_seconds() -> None:
    assert rate_limited({"Retry-After": "7"}).retry_at.timestamp() == pytest.approx(NOW + 7)


def test_retry_after_http_date() -> None:
    date = email.utils.formatdate(NOW + 30, usegmt=True)
    assert rate_limited({"Retry-After": date}).retry_at.timestamp() == pytest.approx(NOW + 30)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"retry_at": NOW + 12}, NOW + 12),
        ({"retry_at": (NOW + 12) * 1000}, NOW + 12),
        (
            {"retry_timestamp": "2026-04-24T03:07:00Z"},
            dt.datetime(2026, 4, 24, 3, 7, tzinfo=dt.UTC).timestamp(),
        ),
        ({"retry_after": 4}, NOW + 4),
        ({"retry_at": str(NOW + 9)}, NOW + 9),
    ],
)
def test_body_retry_timestamp(body: dict[str, Any], expected: float) -> None:
    assert rate_limited(body=body).retry_at.timestamp() == pytest.approx(max(expected, NOW))


def test_latest_hint_wins_and_past_hints_mean_now() -> None:
    assert rate_limited({"Retry-After": "2"}, {"retry_at": NOW + 20}).retry_at.timestamp() == pytest.approx(
        NOW + 20
    )
    assert rate_limited(body={"retry_at": NOW - 50}).retry_at.timestamp() == pytest.approx(NOW)


def test_no_hint_falls_back_to_backoff() -> None:
    error = rate_limited(body={"error": "Too many"})
    assert error.retry_hinted is False
    policy = api.RetryPolicy(backoff_initial=2.0, backoff_max=60.0)
    assert 4.0 <= policy.delay(error, 3) <= 8.0  # exponential: 2 * 2**2, with jitter in [0.5, 1]


# -- retry policy -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "endpoint", "retryable"),
    [
        (OctopodsServerError("x", status_code=503), "whatsapp.status", True),
        (OctopodsServerError("x", status_code=503), "whatsapp.send", False),
        (OctopodsMalformedResponseError("x"), "whatsapp.list", True),
        (OctopodsMalformedResponseError("x"), "sms.send", False),
        (OctopodsConnectionError("x", may_have_reached_server=True), "whatsapp.status", True),
        (OctopodsConnectionError("x", may_have_reached_server=True), "sms.send", False),
        (OctopodsConnectionError("x", may_have_reached_server=False), "sms.send", True),
        (OctopodsAuthError("x"), "whatsapp.status", False),
        (OctopodsNotFoundError("x"), "whatsapp.status", False),
        (OctopodsApiError("x"), "whatsapp.send", False),
    ],
)
def test_retry_decisions(error: Exception, endpoint: str, retryable: bool) -> None:
    assert api.RetryPolicy().is_retryable(error, request_for(endpoint)) is retryable


def test_rate_limit_retry_is_bounded_by_the_cap() -> None:
    soon = OctopodsRateLimitError("x", retry_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5))
    late = OctopodsRateLimitError("x", retry_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=500))
    capped = api.RetryPolicy(max_rate_limit_wait=60)
    assert capped.is_retryable(soon, request_for("whatsapp.send"))  # a 429 was not processed: safe
    assert not capped.is_retryable(late, request_for("whatsapp.status"))
    assert api.RetryPolicy(max_rate_limit_wait=None).is_retryable(late, request_for("whatsapp.status"))


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = api.RetryPolicy(backoff_initial=1.0, backoff_max=10.0)
    assert [policy.backoff(n) <= min(10.0, 2 ** (n - 1)) for n in range(1, 8)] == [True] * 7
    assert min(policy.backoff(8) for _ in range(50)) >= 5.0


# -- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda: api.status_request(0, "whatsapp"), "message_id"),
        (lambda: api.status_request(-3, "whatsapp"), "message_id"),
        (lambda: api.status_request("12a", "whatsapp"), "message_id"),
        (lambda: api.status_request(True, "whatsapp"), "message_id"),
        (lambda: api.status_request(1.5, "whatsapp"), "message_id"),
        (lambda: api.status_request(1, "telegram"), "channel"),
        (lambda: api.listing_request(0), "limit"),
        (lambda: api.listing_request("many"), "limit"),
        (lambda: api.sms_send_request("4155552671", "hi"), "destination_phone"),
        (lambda: api.sms_send_request("+1 415 555 2671", "hi"), "destination_phone"),
        (lambda: api.sms_send_request("+0155552671", "hi"), "destination_phone"),
        (lambda: api.sms_send_request("+14155552671", "   "), "body"),
        (lambda: api.sms_send_request("+14155552671", "x" * 1601), "body"),
        (lambda: api.sms_send_request("+14155552671", None), "body"),
        (
            lambda: api.sms_send_request("+14155552671", "hi", open_intercom_conversation="maybe"),
            "open_intercom_conversation",
        ),
        (
            lambda: api.sms_send_request("+14155552671", "hi", destination_user_name=""),
            "destination_user_name",
        ),
        (lambda: api.whatsapp_send_request("", "+14155552671"), "template_id"),
        (lambda: api.whatsapp_send_request("order shipped", "+14155552671"), "template_id"),
        (lambda: api.whatsapp_send_request(1, "+14155552671", {"1": "a", "3": "c"}), "message_variables"),
        (lambda: api.whatsapp_send_request(1, "+14155552671", {"body": "Alex"}), "message_variables['body']"),
        (lambda: api.whatsapp_send_request(1, "+14155552671", {"name": "Alex"}), "message_variables"),
        (lambda: api.whatsapp_send_request(1, "+14155552671", [["nested"]]), "message_variables[0]"),
        (lambda: api.whatsapp_send_request(1, "+14155552671", [None]), "message_variables[0]"),
        (lambda: api.whatsapp_send_request(1, "+14155552671", "not a list"), "message_variables"),
        (
            lambda: api.whatsapp_send_request(1, "+14155552671", header_attachment_url="ftp://x/y.png"),
            "header_attachment_url",
        ),
    ],
)
def test_bad_inputs_name_the_parameter(call: Any, parameter: str) -> None:
    with pytest.raises(OctopodsValidationError) as caught:
        call()
    assert caught.value.parameter == parameter
    assert f"`{parameter}`" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_limit_over_100_is_capped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    assert api.listing_request(500).params == {"limit": "100"}
    assert "capped to 100" in caplog.text


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (["Alex", 1234], ["Alex", "1234"]),
        ({"2": "b", "1": "a"}, {"1": "a", "2": "b"}),
        (
            {"header": ["Order #1"], "body": ["Alex"], "footer": [], "buttons": ["t/1"]},
            {"header": ["Order #1"], "body": ["Alex"], "footer": [], "buttons": ["t/1"]},
        ),
        ({"body": ["Alex"]}, {"body": ["Alex"]}),
        ('["Alex", "1234"]', ["Alex", "1234"]),
        ("{'1': 'Alex'}", {"1": "Alex"}),
    ],
)
def test_every_documented_variables_form(variables: Any, expected: Any) -> None:
    request = api.whatsapp_send_request(84579, "+14155552671", variables)
    assert request.body is not None
    assert request.body["message_variables"] == expected


def test_send_bodies() -> None:
    request = api.whatsapp_send_request(
        "delivery_update_v2",
        "+14155552671",
        None,
        header_attachment_url="https://x.test/a.png",
        open_intercom_conversation="yes",
        intercom_teammate_id=42,
    )
    assert request.path == "/api/v1/whatsapp/templates/delivery_update_v2/messages"
    assert request.body == {
        "destination_phone": "+14155552671",
        "header_attachment_url": "https://x.test/a.png",
        "open_intercom_conversation": True,
        "intercom_teammate_id": "42",
    }
    assert not request.idempotent
    sms = api.sms_send_request("+14155552671", "Hi", destination_user_name="Alex")
    assert sms.body == {"destination_phone": "+14155552671", "body": "Hi", "destination_user_name": "Alex"}


@pytest.mark.parametrize(
    ("value", "ids", "single"),
    [
        (101, [101], True),
        ("101", [101], True),
        (" 101 ", [101], True),
        ([101, "102"], [101, 102], False),
        ((101, 101, 102), [101, 102], False),
        ("[101, 102]", [101, 102], False),
        ('["101", "102"]', [101, 102], False),
        ("['101', 102]", [101, 102], False),
    ],
)
def test_message_id_forms(value: Any, ids: list[int], single: bool) -> None:
    assert api.parse_message_ids(value) == (ids, single)


@pytest.mark.parametrize("value", [[], "[]", "[1, 'x']", {"a": 1}, None, 0, "1,2", b"12", "[1, [2]]"])
def test_bad_message_id_forms(value: Any) -> None:
    with pytest.raises(OctopodsValidationError, match="message_id"):
        api.parse_message_ids(value)


# -- connection settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "https://app.octopods.io"),
        ("", None, "https://app.octopods.io"),
        ("api.octopods.io", None, "https://api.octopods.io"),
        ("https://app.octopods.io/", None, "https://app.octopods.io"),
        ("https://app.octopods.io/api/v1/", None, "https://app.octopods.io"),
        ("http://127.0.0.1:8080", None, "http://127.0.0.1:8080"),
        ("http://localhost", 9000, "http://localhost:9000"),
        ("http://[::1]:81", None, "http://[::1]:81"),
        ("HTTPS://gateway.example.com/octopods", None, "https://gateway.example.com/octopods"),
    ],
)
def test_base_url(host: str | None, port: int | None, expected: str) -> None:
    assert api.normalize_base_url(host, port) == expected


@pytest.mark.parametrize("host", ["http://app.octopods.io", "http://10.0.0.5:8080", "ftp://x", "https://"])
def test_base_url_refuses_clear_text_off_loopback(host: str) -> None:
    with pytest.raises(OctopodsValidationError) as caught:
        api.normalize_base_url(host)
    assert caught.value.parameter == "host"


def test_settings_from_extra_with_prefixed_and_string_values() -> None:
    settings = api.connection_settings(
        conn_id="c",
        host="app.octopods.io",
        port=None,
        extra={"extra__octopods__whatsapp_api_key": "k1", "timeout": "12.5", "max_retries": "2"},
    )
    assert (settings.whatsapp_api_key, settings.channel_api_key, settings.timeout, settings.max_retries) == (
        "k1",
        None,
        12.5,
        2,
    )
    assert "k1" not in repr(settings)
    with pytest.raises(OctopodsValidationError, match="channel_api_key") as caught:
        settings.key_for(Channel.SMS)
    assert caught.value.parameter == "channel_api_key"


@pytest.mark.parametrize(
    ("extra", "parameter"),
    [
        ({"timeout": "soon"}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": "1.5"}, "max_retries"),
        ({"whatsapp_api_key": 123}, "whatsapp_api_key"),
    ],
)
def test_bad_connection_extras(extra: dict[str, Any], parameter: str) -> None:
    with pytest.raises(OctopodsValidationError) as caught:
        api.connection_settings(conn_id="c", host=None, port=None, extra=extra)
    assert caught.value.parameter == parameter


# -- the endpoint table and the order of the error rules ----------------------------------------------


def test_every_endpoint_has_one_spec_and_its_builder_follows_it() -> None:
    assert set(api.ENDPOINTS) == set(api.Endpoint)
    for name in api.Endpoint:
        request = request_for(name.value)
        spec = api.ENDPOINTS[name]
        assert request.endpoint is name
        assert (request.method, request.channel) == (spec.method, spec.channel)
        assert request.idempotent is (spec.method == "GET")
        assert request.path.startswith(api.API_PREFIX + "/" + spec.path.split("/")[1])


def test_the_first_matching_error_rule_wins() -> None:
    """A 401 carrying the deprecated-key code is still "rejected" (401 comes before the codes)."""
    with pytest.raises(OctopodsAuthError, match=r"\(HTTP 401\)"):
        api.parse_response(
            request_for("whatsapp.status"), response(401, {"error_code": 6, "error": "Deprecated API Key"})
        )
    # A 5xx HTML page is the gateway's, even on a status read where a "not found" text would count.
    with pytest.raises(OctopodsServerError, match="gateway or proxy"):
        api.parse_response(request_for("whatsapp.status"), response(502, b"<html>not found</html>"))
    assert api.errors.RULES[0] is api.errors.gateway_page


def test_failures_that_count_exclude_rate_limits_waited_out() -> None:
    """tenacity runs the policy: 429s the triggerer waits out do not use up ``max_retries``."""
    import tenacity

    from airflow_provider_octopods.api.retrying import tenacity_kwargs

    limited = OctopodsRateLimitError("429", retry_at=dt.datetime.now(dt.UTC), retry_hinted=True)
    failures = [limited, limited, OctopodsServerError("503"), limited, OctopodsServerError("503")]
    policy = api.RetryPolicy(max_retries=1, max_rate_limit_wait=None, backoff_initial=0.0)
    attempts: list[BaseException] = []

    def run() -> None:
        retrying = tenacity.Retrying(
            sleep=lambda _: None, **tenacity_kwargs(policy, request_for("whatsapp.status"), on_retry=None)
        )
        for attempt in retrying:
            with attempt:
                attempts.append(failures[len(attempts)])
                raise attempts[-1]

    with pytest.raises(OctopodsServerError) as caught:
        run()
    assert len(attempts) == 5  # three 429s did not count; the second 503 was one failure too many
    assert caught.value.attempts == 5
    assert caught.value.message.endswith("Gave up after 5 attempts.")


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("4155552671", "Without a '+' the country code cannot be told"),
        (14155552671, "Without a '+' the country code cannot be told"),
        ("+1 415 555 2671", "Without the separators: '+14155552671'."),
        ("0044 7700 900123", "'00' is the international prefix, which E.164 writes as '+': '+447700900123'."),
    ],
)
def test_a_phone_without_a_country_code_gets_a_hint_not_a_guess(value: Any, hint: str) -> None:
    with pytest.raises(OctopodsValidationError) as caught:
        api.validate_phone(value)
    message = str(caught.value)
    assert hint in message
    assert "+4155552671" not in message  # the guess a Swiss number would be

"""
Fuzzing the wire format: whatever Octopods (or a proxy) answers, ``api.parse_response`` returns a
model or raises an ``OctopodsError``; no ``KeyError``, ``TypeError``, ``ValueError`` or
``AttributeError`` escapes, and every model it returns is JSON-safe.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_octopods import api
from airflow_provider_octopods.exceptions import OctopodsError, OctopodsRateLimitError
from airflow_provider_octopods.models import MessageStatus, SendResult, SentMessage
from tests.data.doc_responses import DOC_RESPONSES

#: Examples per property; the counts in docs/reliability.md come from these.
EXAMPLES = 400

ENDPOINTS = ("whatsapp.status", "sms.status", "whatsapp.list", "whatsapp.send", "sms.send")
STATUS_CODES = (200, 201, 204, 302, 400, 401, 403, 404, 409, 418, 429, 500, 502, 503, 504)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["DELIVERED", "read", "failed", "", "1", "98765", "2026-04-24T12:34:56Z", "NaN"]),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=25,
)
documented_bodies = st.sampled_from([doc.body for doc in DOC_RESPONSES if doc.body.strip()])
FIELD_NAMES = (
    "message_id",
    "status",
    "message_status",
    "failure_reason",
    "channel_message_id",
    "last_updated",
    "created_at",
    "sent_at",
    "user_phone_number",
    "phone_number",
    "messages",
    "request_id",
    "error_code",
    "error",
    "retry_at",
    "code",
    "title",
    "message_content",
)


def request_for(endpoint: str) -> api.ApiRequest:
    if endpoint.endswith(".status"):
        return api.status_request(98765, endpoint.split(".")[0])
    if endpoint == "whatsapp.list":
        return api.listing_request(100)
    if endpoint == "whatsapp.send":
        return api.whatsapp_send_request(84579, "+14155552671", ["Alex", "1"])
    return api.sms_send_request("+14155552671", "hi")


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A documented body with fields deleted, retyped or replaced, at any depth."""
    body = json.loads(api.without_trailing_commas(draw(documented_bodies)))

    def mutate(node: Any, depth: int) -> Any:
        if isinstance(node, dict):
            node = dict(node)
            for key in list(node):
                choice = draw(st.integers(0, 5))
                if choice == 0:
                    del node[key]
                elif choice == 1:
                    node[key] = draw(json_values)
                elif depth < 4:
                    node[key] = mutate(node[key], depth + 1)
            if draw(st.booleans()):
                node[draw(st.sampled_from(FIELD_NAMES))] = draw(json_values)
            return node
        if isinstance(node, list):
            items = [mutate(item, depth + 1) for item in node]
            if draw(st.booleans()):
                items.append(draw(json_values))
            return items
        return draw(json_values) if draw(st.booleans()) else node

    return mutate(body, 0)


def check(endpoint: str, status: int, body: bytes, headers: dict[str, str]) -> None:
    request = request_for(endpoint)
    response = api.ApiResponse.build(status, headers.items(), body)
    error: OctopodsError | None = None
    try:
        result = api.parse_response(request, response, now=1_777_000_000.0)
    except OctopodsError as raised:
        error = raised
    if error is not None:
        str(error)  # the message renders
        if isinstance(error, OctopodsRateLimitError):
            assert error.retry_at.tzinfo is not None
        return
    items = result if isinstance(result, list) else [result]
    for item in items:
        assert isinstance(item, MessageStatus | SentMessage | SendResult)
        json.dumps(item.to_dict())  # JSON-safe, as XCom and trigger events need


headers = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(["application/json", "text/html", "text/plain; charset=utf-8", ""]),
        "Retry-After": st.one_of(
            st.integers(-10, 10**13).map(str),
            st.floats(allow_nan=True).map(str),
            st.text(max_size=40),
            st.just("Wed, 21 Oct 2026 07:28:00 GMT"),
        ),
        "X-RateLimit-Reset": st.text(max_size=20),
        "Location": st.text(max_size=20),
    },
)

FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@FUZZ
@given(st.sampled_from(ENDPOINTS), st.sampled_from(STATUS_CODES), json_values, headers)
@example("whatsapp.list", 200, {"messages": [{"message_id": True}]}, {})  # a bool is not an id
@example("whatsapp.status", 200, {"status": {"message_status": ["DELIVERED"]}}, {})
@example("whatsapp.status", 200, {"status": None, "last_updated": 1e300}, {})  # epoch out of range
@example("sms.status", 200, {"status": "sent", "sent_at": "9999-12-31T23:59:59+14:00"}, {})
@example("whatsapp.list", 429, {"retry_at": float("inf")}, {"Retry-After": "nan"})
@example("whatsapp.list", 429, {"retry_at": "0001-01-01T00:00:00Z"}, {"Retry-After": "-5"})
@example("whatsapp.status", 200, {"status": "x", "failure_reason": {"code": 1e400}}, {})
@example("whatsapp.send", 201, {"message_id": "١٢٣"}, {})  # Arabic-Indic digits are not an id
def test_arbitrary_json(endpoint: str, status: int, body: Any, extra_headers: dict[str, str]) -> None:
    check(endpoint, status, json.dumps(body).encode(), {"Content-Type": "application/json", **extra_headers})


@FUZZ
@given(st.sampled_from(ENDPOINTS), st.sampled_from(STATUS_CODES), mutated(), headers)
@example("whatsapp.list", 200, [{"message_status": {"channel_message_id": 5, "failure_reason": [1]}}], {})
@example("sms.status", 200, {"message_id": -4, "status": "DELIVERED"}, {})
def test_mutated_documented_bodies(
    endpoint: str, status: int, body: Any, extra_headers: dict[str, str]
) -> None:
    check(endpoint, status, json.dumps(body).encode(), {"Content-Type": "application/json", **extra_headers})


@FUZZ
@given(st.sampled_from(ENDPOINTS), st.sampled_from(STATUS_CODES), st.binary(max_size=200), headers)
@example("whatsapp.status", 200, b"\xef\xbb\xbf{}", {})  # a byte-order mark, then an empty object
@example("whatsapp.status", 502, b"<html><body>Bad Gateway</body></html>", {"Content-Type": "text/html"})
@example("whatsapp.list", 200, b'{"messages": [' * 5000, {})  # deep nesting
@example("sms.send", 201, b'{"message_id": 42, "phone_number": "353838000000",}', {})
def test_arbitrary_bytes(endpoint: str, status: int, body: bytes, extra_headers: dict[str, str]) -> None:
    check(endpoint, status, body, extra_headers)


@FUZZ
@given(json_values)
def test_message_id_inputs(value: Any) -> None:
    """Validation too: any value is either accepted or refused with OctopodsValidationError."""
    try:
        ids, _ = api.parse_message_ids(value)
    except OctopodsError:
        return
    assert ids
    assert all(isinstance(item, int) and item > 0 for item in ids)


@FUZZ
@given(json_values)
def test_message_variables_inputs(value: Any) -> None:
    try:
        result = api.validate_message_variables(value)
    except OctopodsError:
        return
    json.dumps(result)

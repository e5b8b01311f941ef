"""
Reading what Octopods answered: the body, every documented response shape, and the error envelope.

The public docs disagree with each other in many places: two status field sets, two listing shapes,
upper and lower case statuses, five encodings of ``failure_reason``, timestamps with and without
fractions, even example bodies with trailing commas. The readers below accept all of them and turn
them into the :mod:`~airflow_provider_octopods.models` types; docs/octopods-api-notes.md lists the
variants and the articles that print them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_octopods.exceptions import OctopodsMalformedResponseError
from airflow_provider_octopods.models import (
    Channel,
    DeliveryStatus,
    MessageStatus,
    SendResult,
    SentMessage,
    parse_timestamp,
)


@dataclass(frozen=True)
class ApiResponse:
    """What a transport got back: status, headers (lower-cased names) and the raw body."""

    status_code: int
    headers: Mapping[str, str]
    body: bytes

    @classmethod
    def build(cls, status_code: int, headers: Iterable[tuple[str, str]], body: bytes) -> ApiResponse:
        return cls(status_code, {name.lower(): value for name, value in headers}, body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


#: What :func:`decode_body` returns for a body that is not JSON (an HTML proxy page, a truncated body).
NO_JSON = object()


def without_trailing_commas(text: str) -> str:
    """Drop commas that directly precede ``}`` or ``]`` outside strings (the legacy SMS examples)."""
    out: list[str] = []
    in_string = escaped = False
    pending_comma = -1
    for char in text:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char in "}]" and pending_comma >= 0:
            del out[pending_comma]
        if not char.isspace():
            pending_comma = -1
        if char == '"':
            in_string = True
        elif char == ",":
            pending_comma = len(out)
        out.append(char)
    return "".join(out)


def decode_body(response: ApiResponse) -> Any:
    """
    The JSON body, or :data:`NO_JSON` when there is none (an HTML proxy page, a truncated body).

    The legacy SMS article prints bodies with a trailing comma; if strict parsing fails, one lenient
    pass without trailing commas is tried, so even that documented example is readable.
    """
    if not response.body:
        return NO_JSON
    try:
        text = response.body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return NO_JSON
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        return json.loads(without_trailing_commas(text))
    except (ValueError, RecursionError):
        return NO_JSON


def text_field(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def int_field(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        return int(value.strip())
    return None


def parse_failure(value: Any) -> tuple[int | None, str | None]:
    """
    ``failure_reason`` in any documented encoding -> ``(code, reason)``.

    Absent, ``null`` and ``""`` mean no failure; a string is the reason; an object carries ``code``
    and ``title`` (other text keys are tolerated); a bare number is a code.
    """
    if isinstance(value, Mapping):
        code = int_field(value.get("code"))
        reason = None
        for key in ("title", "message", "reason", "error", "description", "detail"):
            reason = text_field(value.get(key))
            if reason:
                break
        if code is None and reason is None and value.get("code") is not None:
            reason = text_field(value.get("code"))
        return code, reason
    if isinstance(value, str):
        return None, value.strip() or None
    code = int_field(value)
    return code, None


def normalize_phone(value: Any) -> str | None:
    """E.164 with ``+``: the legacy SMS response echoes ``353838000000`` without it."""
    text = text_field(value)
    if text and text.isdigit():
        return f"+{text}"
    return text


def _expect_object(data: Any, response: ApiResponse, what: str) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        return data
    raise OctopodsMalformedResponseError(
        f"Octopods answered HTTP {response.status_code} to a {what} request with "
        f"{describe_body(data, response)} where a JSON object was expected.",
        status_code=response.status_code,
    )


def describe_body(data: Any, response: ApiResponse) -> str:
    if data is NO_JSON:
        kind = response.content_type or "unknown type"
        return f"a non-JSON body ({kind}, {len(response.body)} bytes)"
    return f"JSON {type(data).__name__}"


_STAGE_KEYS = ("sent_at", "delivered_at", "read_at", "failed_at", "deleted_at", "queued_at", "undelivered_at")


def parse_message_status(
    channel: Channel, message_id: int, data: Any, response: ApiResponse
) -> MessageStatus:
    """
    Read a status response in either documented field set.

    * unified (article 14823959): ``status``, ``status_message``, ``channel_message_id``,
      ``last_updated``, ``failure_reason`` only when FAILED;
    * endpoint reference (14824155 / 14824165): ``status`` in lower case, ``phone_number``,
      stage timestamps (``sent_at``, ``delivered_at``, ``read_at``), ``failure_reason`` null or text;
    * legacy SMS (7052907): ``status``, ``status_message``, ``last_updated`` with milliseconds.
    """
    body = _expect_object(data, response, "status")
    raw_status: Any = body.get("status", body.get("message_status"))
    nested: Mapping[str, Any] = raw_status if isinstance(raw_status, Mapping) else {}
    if nested:
        raw_status = nested.get("message_status", nested.get("status"))
    if raw_status is None and "status" not in body and "message_status" not in body:
        raise OctopodsMalformedResponseError(
            f"Octopods answered HTTP {response.status_code} to a status request without a `status` field.",
            status_code=response.status_code,
            request_id=text_field(body.get("request_id")),
        )
    failure_code, failure_reason = parse_failure(body.get("failure_reason", nested.get("failure_reason")))
    last_updated = parse_timestamp(body.get("last_updated"))
    if last_updated is None:
        stages = [stamp for key in _STAGE_KEYS if (stamp := parse_timestamp(body.get(key))) is not None]
        last_updated = max(stages) if stages else None
    # The status is the answer about the id that was asked for: a body echoing another id (a proxy's
    # cached page, a test double serving the docs' example) must not re-file it under that id.
    return MessageStatus(
        message_id=message_id,
        channel=channel,
        status=DeliveryStatus.parse(raw_status),
        status_message=text_field(body.get("status_message")),
        channel_message_id=text_field(body.get("channel_message_id")),
        failure_code=failure_code,
        failure_reason=failure_reason,
        last_updated=last_updated,
    )


def _listing_item(item: Any, position: int, response: ApiResponse) -> SentMessage:
    if not isinstance(item, Mapping):
        raise OctopodsMalformedResponseError(
            f"Listing item {position} is JSON {type(item).__name__}, not an object.",
            status_code=response.status_code,
        )
    nested_raw = item.get("message_status")
    nested: Mapping[str, Any] = nested_raw if isinstance(nested_raw, Mapping) else {}
    # In the bare-array shape the Octopods id sits in message_status.channel_message_id: the listing
    # article names it so, although the status endpoint uses channel_message_id for the provider's id.
    message_id = int_field(item.get("message_id"))
    if message_id is None:
        message_id = int_field(nested.get("channel_message_id", nested.get("message_id")))
    if message_id is None or message_id <= 0:
        raise OctopodsMalformedResponseError(
            f"Listing item {position} has no usable message id; refusing to drop it silently.",
            status_code=response.status_code,
        )
    raw_status = item.get("status")
    if raw_status is None:
        raw_status = nested.get("message_status", nested.get("status")) if nested else nested_raw
    failure_source = item["failure_reason"] if "failure_reason" in item else nested.get("failure_reason")
    failure_code, failure_reason = parse_failure(failure_source)
    created = item.get("created_at") if item.get("created_at") is not None else item.get("sent_at")
    return SentMessage(
        message_id=message_id,
        channel=Channel.WHATSAPP,
        phone_number=normalize_phone(item.get("user_phone_number", item.get("phone_number"))),
        created_at=parse_timestamp(created),
        message_content=item.get("message_content") if isinstance(item.get("message_content"), str) else None,
        status=DeliveryStatus.parse(raw_status),
        failure_code=failure_code,
        failure_reason=failure_reason,
    )


def parse_listing(data: Any, response: ApiResponse) -> list[SentMessage]:
    """
    Read the listing as a bare array (article 14823960) or as ``{"messages": [...]}`` (14824157).

    Order is kept as the API gives it: newest first.
    """
    if isinstance(data, Mapping):
        items = data.get("messages")
        if items is None and not data:
            items = []
        if not isinstance(items, list):
            raise OctopodsMalformedResponseError(
                "Octopods answered the listing with an object that has no `messages` array.",
                status_code=response.status_code,
                request_id=text_field(data.get("request_id")),
            )
    elif isinstance(data, list):
        items = data
    else:
        raise OctopodsMalformedResponseError(
            f"Octopods answered the listing with {describe_body(data, response)}, not an array or object.",
            status_code=response.status_code,
        )
    return [_listing_item(item, position, response) for position, item in enumerate(items)]


def parse_send_result(channel: Channel, data: Any, response: ApiResponse) -> SendResult:
    """
    Read a send response: only ``message_id`` is required (the docs show three different bodies).

    A 2xx without a readable id means the message was probably sent but cannot be tracked; the
    error says so, because repeating the send would likely deliver it twice.
    """
    body = data if isinstance(data, Mapping) else {}
    message_id = int_field(body.get("message_id"))
    if message_id is None or message_id <= 0:
        raise OctopodsMalformedResponseError(
            f"Octopods accepted the {channel.value} send (HTTP {response.status_code}) but its answer has "
            f"no readable message_id ({describe_body(data, response)}). The message was probably sent: "
            "check the recipient or the listing before sending again.",
            status_code=response.status_code,
            request_id=text_field(body.get("request_id")),
        )
    return SendResult(
        message_id=message_id,
        channel=channel,
        request_id=text_field(body.get("request_id")),
        channel_message_id=text_field(body.get("channel_message_id")),
    )


def envelope(data: Any) -> tuple[int | None, str | None, str | None]:
    """``(error_code, error, request_id)`` of the error envelope, tolerating its absence."""
    if not isinstance(data, Mapping):
        return None, None, None
    text = text_field(data.get("error")) or text_field(data.get("message")) or text_field(data.get("detail"))
    return int_field(data.get("error_code")), text, text_field(data.get("request_id"))

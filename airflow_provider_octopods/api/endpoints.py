"""
The endpoints this provider calls, as one table, and the requests built for them.

Each :class:`Endpoint` has one :class:`EndpointSpec`: method, path, which key it takes, how a 2xx
body is read, and which error answers mean something else than an error (the listing's "no messages
yet"; a status read's "not found" 400). Adding an endpoint means adding a row to :data:`ENDPOINTS`
and a request builder; :func:`~airflow_provider_octopods.api.results.parse_response` then reads its
answers for both transports.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from airflow_provider_octopods.api.connection import API_PREFIX
from airflow_provider_octopods.api.responses import (
    ApiResponse,
    envelope,
    parse_listing,
    parse_message_status,
    parse_send_result,
)
from airflow_provider_octopods.api.validation import (
    LISTING_MAX_LIMIT,
    validate_channel,
    validate_flag,
    validate_limit,
    validate_message_id,
    validate_message_variables,
    validate_optional_text,
    validate_phone,
    validate_sms_body,
    validate_template_id,
    validate_url,
)
from airflow_provider_octopods.models import Channel

AUTH_HEADER = "X-Octopods-Auth"
#: The listing answers 400 with this code when nothing was ever sent on the channel (article 14823960).
LISTING_EMPTY_CODE = 2


class Endpoint(StrEnum):
    """The endpoints this provider calls (the values are the simulator's route names too)."""

    WHATSAPP_STATUS = "whatsapp.status"
    SMS_STATUS = "sms.status"
    WHATSAPP_LIST = "whatsapp.list"
    WHATSAPP_SEND = "whatsapp.send"
    SMS_SEND = "sms.send"


def _no_messages_yet(status_code: int, data: Any) -> bool:
    """The listing's 400 "Resource Not Found" (error 2): nothing was ever sent on the channel."""
    if status_code != 400:
        return False
    error_code, error_text, _ = envelope(data)
    return error_code == LISTING_EMPTY_CODE or bool(error_text and "resource not found" in error_text.lower())


@dataclass(frozen=True)
class EndpointSpec:
    """
    How one endpoint is called and read.

    :param method: The HTTP method; only GETs are idempotent (Octopods has no idempotency key).
    :param path: The path under ``/api/v1``, with ``{message_id}`` / ``{template_id}`` placeholders.
    :param channel: The endpoint family, which decides the key and the meaning of ``error_code``.
    :param read: Reads a 2xx answer (request, decoded JSON, response) into the result.
    :param needs_json: A 2xx without a JSON body is malformed (a send reads its own, because a send
        that got a 2xx was probably made, and its error must say so).
    :param reads_one_message: A 400 with error 1 or a "not found" text means the id is unknown
        (the SMS status article answers 400 where the unified one answers 404).
    :param empty_result: Whether an error answer (status, decoded body) really means an empty
        result, ``[]``: the listing of a channel that never sent anything.
    """

    method: str
    path: str
    channel: Channel
    read: Callable[[ApiRequest, Any, ApiResponse], Any]
    needs_json: bool = True
    reads_one_message: bool = False
    empty_result: Callable[[int, Any], bool] | None = None

    @property
    def idempotent(self) -> bool:
        return self.method == "GET"


def _read_status(request: ApiRequest, data: Any, response: ApiResponse) -> Any:
    assert request.message_id is not None, "status requests are built with a message id"
    return parse_message_status(request.channel, request.message_id, data, response)


ENDPOINTS: dict[Endpoint, EndpointSpec] = {
    Endpoint.WHATSAPP_STATUS: EndpointSpec(
        "GET", "/whatsapp/messages/{message_id}", Channel.WHATSAPP, _read_status, reads_one_message=True
    ),
    Endpoint.SMS_STATUS: EndpointSpec(
        "GET", "/sms/messages/{message_id}", Channel.SMS, _read_status, reads_one_message=True
    ),
    Endpoint.WHATSAPP_LIST: EndpointSpec(
        "GET",
        "/whatsapp/messages",
        Channel.WHATSAPP,
        lambda request, data, response: parse_listing(data, response),
        empty_result=_no_messages_yet,
    ),
    Endpoint.WHATSAPP_SEND: EndpointSpec(
        "POST",
        "/whatsapp/templates/{template_id}/messages",
        Channel.WHATSAPP,
        lambda request, data, response: parse_send_result(request.channel, data, response),
        needs_json=False,
    ),
    Endpoint.SMS_SEND: EndpointSpec(
        "POST",
        "/sms/messages",
        Channel.SMS,
        lambda request, data, response: parse_send_result(request.channel, data, response),
        needs_json=False,
    ),
}


@dataclass(frozen=True)
class ApiRequest:
    """
    One HTTP request, without the key (the transport adds it from the connection).

    Built by the request builders below (:meth:`to` fills method, path and channel from
    :data:`ENDPOINTS`), after every argument was validated.
    """

    endpoint: Endpoint
    method: str
    path: str
    channel: Channel
    params: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None
    message_id: int | None = None

    @classmethod
    def to(
        cls,
        endpoint: Endpoint,
        *,
        message_id: int | None = None,
        template_id: str | None = None,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> ApiRequest:
        spec = ENDPOINTS[endpoint]
        values = {"message_id": message_id, "template_id": quote(template_id or "", safe="")}
        return cls(
            endpoint=endpoint,
            method=spec.method,
            path=API_PREFIX + spec.path.format(**values),
            channel=spec.channel,
            params=params or {},
            body=body,
            message_id=message_id,
        )

    @property
    def spec(self) -> EndpointSpec:
        return ENDPOINTS[self.endpoint]

    @property
    def idempotent(self) -> bool:
        """False for sends: a send is repeated only when it provably never reached the server."""
        return self.spec.idempotent

    def url(self, base_url: str) -> str:
        return f"{base_url}{self.path}"

    def headers(self, key: str) -> dict[str, str]:
        headers = {AUTH_HEADER: key, "Accept": "application/json"}
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        return headers

    def encoded_body(self) -> bytes | None:
        if self.body is None:
            return None
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode()

    def describe(self) -> str:
        """``GET /api/v1/whatsapp/messages/42``, for log lines and error messages."""
        return f"{self.method} {self.path}"


# -- request builders: validate every argument, then build the request ----------------------------


def status_request(message_id: object, channel: object = Channel.WHATSAPP) -> ApiRequest:
    checked_channel = validate_channel(channel)
    number = validate_message_id(message_id)
    endpoint = Endpoint.WHATSAPP_STATUS if checked_channel is Channel.WHATSAPP else Endpoint.SMS_STATUS
    return ApiRequest.to(endpoint, message_id=number)


def listing_request(limit: object = LISTING_MAX_LIMIT) -> ApiRequest:
    return ApiRequest.to(Endpoint.WHATSAPP_LIST, params={"limit": str(validate_limit(limit))})


def _common_send_fields(open_intercom_conversation: object, intercom_teammate_id: object) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if validate_flag(open_intercom_conversation, "open_intercom_conversation"):
        body["open_intercom_conversation"] = True
    teammate = validate_optional_text(intercom_teammate_id, "intercom_teammate_id")
    if teammate is not None:
        body["intercom_teammate_id"] = teammate
    return body


def whatsapp_send_request(
    template_id: object,
    destination_phone: object,
    message_variables: object = None,
    *,
    header_attachment_url: object = None,
    open_intercom_conversation: object = False,
    intercom_teammate_id: object = None,
) -> ApiRequest:
    template = validate_template_id(template_id)
    body: dict[str, Any] = {"destination_phone": validate_phone(destination_phone)}
    variables = validate_message_variables(message_variables)
    if variables is not None:
        body["message_variables"] = variables
    url = validate_url(header_attachment_url, "header_attachment_url")
    if url is not None:
        body["header_attachment_url"] = url
    body.update(_common_send_fields(open_intercom_conversation, intercom_teammate_id))
    return ApiRequest.to(Endpoint.WHATSAPP_SEND, template_id=template, body=body)


def sms_send_request(
    destination_phone: object,
    body: object,
    *,
    destination_user_name: object = None,
    open_intercom_conversation: object = False,
    intercom_teammate_id: object = None,
) -> ApiRequest:
    payload: dict[str, Any] = {
        "destination_phone": validate_phone(destination_phone),
        "body": validate_sms_body(body),
    }
    name = validate_optional_text(destination_user_name, "destination_user_name")
    if name is not None:
        payload["destination_user_name"] = name
    payload.update(_common_send_fields(open_intercom_conversation, intercom_teammate_id))
    return ApiRequest.to(Endpoint.SMS_SEND, body=payload)

"""
The Octopods wire format: pure, I/O-free, shared by the sync hook and the async trigger client.

Everything that decides what goes on the wire and what a response means lives here, once:

* input validation (before any request is built),
* endpoint paths and request bodies (:class:`ApiRequest`),
* parsing of every documented response shape into the :mod:`models` types,
* error classification into the typed :mod:`exceptions`,
* the retry policy (:class:`RetryPolicy`), including the retry time of a 429.

The transports (``requests`` in :class:`~airflow_provider_octopods.hooks.octopods.OctopodsHook`,
``aiohttp`` in the async client) only move bytes: they turn an :class:`ApiRequest` into an
:class:`ApiResponse` and hand it back to :func:`parse_response`. So the two paths cannot disagree.

The public docs disagree with each other in many places (two status field sets, two listing
shapes, upper and lower case statuses, five encodings of ``failure_reason``, 404 versus 400 for an
unknown id, ...); the parsers below accept all of them. See ``octopods-api.md`` for the catalogue.
"""

from __future__ import annotations

import ast
import datetime as dt
import email.utils
import ipaddress
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

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
from airflow_provider_octopods.models import (
    Channel,
    DeliveryStatus,
    MessageStatus,
    SendResult,
    SentMessage,
)

if TYPE_CHECKING:
    from tenacity import RetryCallState

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
AUTH_HEADER = "X-Octopods-Auth"
DEFAULT_BASE_URL = "https://app.octopods.io"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
LISTING_MAX_LIMIT = 100
SMS_MAX_LENGTH = 1600

#: The ``error_code`` meaning "this key was rotated or revoked", per endpoint family (they collide:
#: SMS 5 is the deprecated key, WhatsApp 5 is an invalid phone number).
DEPRECATED_KEY_CODES = {Channel.WHATSAPP: 6, Channel.SMS: 5}
#: The listing answers 400 with this code when nothing was ever sent on the channel.
LISTING_EMPTY_CODE = 2

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_NOT_FOUND_TEXT = re.compile(r"not\s+found|cannot be found|could not be found|does not exist|no such", re.I)
_SECTION_KEYS = ("header", "body", "footer", "buttons")
_TRUE_WORDS = {"true", "1", "yes", "on"}
_FALSE_WORDS = {"false", "0", "no", "off", ""}


# --------------------------------------------------------------------------------------------------
# Validation: every public input is checked here, before any request exists.
# --------------------------------------------------------------------------------------------------


def _invalid(parameter: str, problem: str) -> OctopodsValidationError:
    return OctopodsValidationError(f"Invalid `{parameter}`: {problem}", parameter=parameter)


def validate_channel(value: object, parameter: str = "channel") -> Channel:
    """Accept ``"whatsapp"``/``"sms"`` (any case) or a :class:`Channel`."""
    if isinstance(value, Channel):
        return value
    if isinstance(value, str):
        try:
            return Channel(value.strip().lower())
        except ValueError:
            pass
    raise _invalid(parameter, f"expected 'whatsapp' or 'sms', got {value!r}.")


def validate_message_id(value: object, parameter: str = "message_id") -> int:
    """
    Accept a positive integer, or a string of digits (what a Jinja-rendered XCom gives).

    Booleans are refused although Python counts them as integers: ``True`` is never a message id.
    """
    if isinstance(value, bool):
        raise _invalid(parameter, f"expected a positive integer message id, got {value!r}.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        number = int(value.strip())
    else:
        raise _invalid(parameter, f"expected a positive integer message id, got {value!r}.")
    if number <= 0:
        raise _invalid(parameter, f"message ids are positive integers, got {number}.")
    return number


def parse_message_ids(value: object, parameter: str = "message_id") -> tuple[list[int], bool]:
    """
    Normalise what a sensor receives into a list of ids, and whether it was a single id.

    Accepts an int, a numeric string, any iterable of those (including Airflow's lazy XCom
    sequences from mapped tasks), or the string form of a list such as ``"[101, 102]"`` or
    ``'["101", "102"]'`` (what a list XCom looks like once rendered into a template). Duplicates are
    dropped, keeping the first occurrence's position.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "(")):
            parsed = _parse_literal(text)
            if not isinstance(parsed, list | tuple):
                raise _invalid(parameter, f"could not read {value!r} as a list of message ids.")
            value = parsed
        else:
            return [validate_message_id(text, parameter)], True
    if isinstance(value, int):
        return [validate_message_id(value, parameter)], True
    if isinstance(value, Mapping | bytes) or not isinstance(value, Iterable):
        raise _invalid(parameter, f"expected a message id or a list of them, got {type(value).__name__}.")
    ids: list[int] = []
    for position, item in enumerate(value):
        number = validate_message_id(item, f"{parameter}[{position}]")
        if number not in ids:
            ids.append(number)
    if not ids:
        raise _invalid(parameter, "the list of message ids is empty.")
    return ids, False


def _parse_literal(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def validate_phone(value: object, parameter: str = "destination_phone") -> str:
    """E.164: ``+``, then 7 to 15 digits, the first not 0. Octopods rejects anything else."""
    if not isinstance(value, str) or not _E164.fullmatch(value):
        hint = ""
        if isinstance(value, str | int) and not isinstance(value, bool):
            digits = re.sub(r"[^0-9]", "", str(value))
            if 7 <= len(digits) <= 15 and digits[0] != "0":
                hint = f" (did you mean '+{digits}'?)"
        raise _invalid(
            parameter,
            f"expected an E.164 phone number such as '+14155552671' (a '+' then 7 to 15 digits, "
            f"no spaces), got {value!r}{hint}.",
        )
    return value


def validate_phones(value: object, parameter: str = "destination_phones") -> list[str]:
    """One E.164 number or a non-empty list of them (a comma-separated string is also accepted)."""
    if isinstance(value, str):
        items: list[object] = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, Iterable) and not isinstance(value, Mapping | bytes):
        items = list(value)
    else:
        raise _invalid(parameter, f"expected a phone number or a list of them, got {value!r}.")
    if not items:
        raise _invalid(parameter, "no phone number given.")
    return [validate_phone(item, f"{parameter}[{position}]") for position, item in enumerate(items)]


def validate_sms_body(value: object, parameter: str = "body") -> str:
    """Non-blank text of at most 1,600 characters (the API's limit; longer text is not truncated)."""
    if not isinstance(value, str):
        raise _invalid(parameter, f"expected text, got {type(value).__name__}.")
    if not value.strip():
        raise _invalid(parameter, "the SMS body is empty; Octopods refuses blank messages.")
    if len(value) > SMS_MAX_LENGTH:
        raise _invalid(
            parameter,
            f"the SMS body has {len(value)} characters; Octopods accepts at most {SMS_MAX_LENGTH}.",
        )
    return value


def validate_limit(value: object, parameter: str = "limit") -> int:
    """1 to 100; larger values are capped to 100 with a warning, as the API itself caps them."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _invalid(parameter, f"expected an integer from 1 to {LISTING_MAX_LIMIT}, got {value!r}.")
    try:
        number = int(value)
    except ValueError:
        raise _invalid(
            parameter, f"expected an integer from 1 to {LISTING_MAX_LIMIT}, got {value!r}."
        ) from None
    if number < 1:
        raise _invalid(parameter, f"expected an integer from 1 to {LISTING_MAX_LIMIT}, got {number}.")
    if number > LISTING_MAX_LIMIT:
        log.warning(
            "The Octopods listing returns at most %d messages; limit=%d is capped to %d.",
            LISTING_MAX_LIMIT,
            number,
            LISTING_MAX_LIMIT,
        )
        return LISTING_MAX_LIMIT
    return number


def validate_template_id(value: object, parameter: str = "template_id") -> str:
    """The Octopods template id: numeric in most docs, name-like in one guide; kept opaque."""
    if isinstance(value, bool):
        raise _invalid(parameter, f"expected a template id, got {value!r}.")
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, str) and value.strip() and not any(char.isspace() for char in value.strip()):
        return value.strip()
    raise _invalid(parameter, f"expected the Octopods template id (e.g. 84579), got {value!r}.")


def validate_flag(value: object, parameter: str) -> bool:
    """The API's boolean-ish flags: a bool, or true/false/1/0/yes/no/on/off."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise _invalid(parameter, f"expected true or false, got {value!r}.")


def validate_optional_text(value: object, parameter: str) -> str | None:
    """None, or a non-blank string (numbers are accepted and sent as text)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise _invalid(parameter, f"expected a non-empty string, got {value!r}.")


def validate_url(value: object, parameter: str) -> str | None:
    """None, or an absolute http(s) URL (Octopods fetches header media from it)."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = urlsplit(value.strip())
        if parts.scheme in ("http", "https") and parts.netloc:
            return value.strip()
    raise _invalid(parameter, f"expected an absolute http(s) URL, got {value!r}.")


def _variable_value(value: object, parameter: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _invalid(parameter, f"template variables are text (or numbers), got {value!r}.")


def _variable_list(value: object, parameter: str) -> list[str]:
    if not isinstance(value, list | tuple):
        raise _invalid(parameter, f"expected a list of values, got {type(value).__name__}.")
    return [_variable_value(item, f"{parameter}[{position}]") for position, item in enumerate(value)]


def validate_message_variables(
    value: object, parameter: str = "message_variables"
) -> list[str] | dict[str, Any] | None:
    """
    Accept every documented form of ``message_variables`` and return it ready to send.

    * a flat list, in placeholder order (body-only templates): ``["Alex", "1234"]``;
    * an object keyed by placeholder number: ``{"1": "Alex", "2": "1234"}`` (numbers 1..n, no gaps);
    * an object of per-section lists: ``{"header": [...], "body": [...], "footer": [...],
      "buttons": [...]}`` (needed when the template has non-body placeholders).

    The string form of any of these (a rendered template) is read as JSON or a Python literal.
    Numbers become text; anything nested deeper, booleans or None are refused.
    """
    if value is None:
        return None
    if isinstance(value, str):
        parsed = _parse_literal(value.strip())
        if not isinstance(parsed, list | tuple | dict):
            raise _invalid(parameter, f"could not read {value!r} as a list or an object of variables.")
        value = parsed
    if isinstance(value, list | tuple):
        return _variable_list(value, parameter)
    if not isinstance(value, Mapping):
        raise _invalid(parameter, f"expected a list or an object, got {type(value).__name__}.")
    keys = [str(key) for key in value]
    if keys and all(key in _SECTION_KEYS for key in keys):
        return {key: _variable_list(value[key], f"{parameter}[{key!r}]") for key in value}
    if keys and all(key.isdigit() for key in keys):
        numbers = sorted(int(key) for key in keys)
        if numbers != list(range(1, len(numbers) + 1)):
            raise _invalid(
                parameter,
                f"numbered placeholders must be '1'..'{len(numbers)}' without gaps, got {sorted(keys)}.",
            )
        return {
            str(key): _variable_value(value[key], f"{parameter}[{str(key)!r}]")  # type: ignore[index]
            for key in sorted(value, key=lambda k: int(str(k)))
        }
    raise _invalid(
        parameter,
        "an object must be keyed either by placeholder number ('1', '2', ...) or by section "
        f"({', '.join(_SECTION_KEYS)}), got keys {keys}.",
    )


# --------------------------------------------------------------------------------------------------
# Connection settings
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionSettings:
    """
    What the provider needs from an ``octopods`` Airflow connection, validated.

    The keys are kept out of ``repr`` so that a settings object printed by accident shows nothing.
    """

    base_url: str
    whatsapp_api_key: str | None = field(default=None, repr=False)
    channel_api_key: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    conn_id: str = "octopods_default"

    def key_for(self, channel: Channel) -> str:
        """The key for ``channel``; fails before any traffic, naming the missing connection field."""
        key = self.whatsapp_api_key if channel is Channel.WHATSAPP else self.channel_api_key
        if not key:
            raise OctopodsValidationError(
                f"Connection '{self.conn_id}' has no `{channel.key_field}` in its extra, which "
                f"{channel.value} calls need. Add it to the connection (UI field "
                f"'{'WhatsApp API key' if channel is Channel.WHATSAPP else 'Channel API key'}').",
                parameter=channel.key_field,
            )
        return key

    @property
    def configured_channels(self) -> list[Channel]:
        return [channel for channel in Channel if self.key_for_or_none(channel)]

    def key_for_or_none(self, channel: Channel) -> str | None:
        return self.whatsapp_api_key if channel is Channel.WHATSAPP else self.channel_api_key


def _extra_value(extra: Mapping[str, Any], name: str) -> Any:
    """Read an extra field under its plain name or the ``extra__octopods__`` prefixed form."""
    for key in (name, f"extra__octopods__{name}"):
        value = extra.get(key)
        if value not in (None, ""):
            return value
    return None


def _is_loopback(hostname: str) -> bool:
    if hostname.lower() in ("localhost", "localhost.localdomain") or hostname.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def normalize_base_url(host: str | None, port: int | None = None, conn_id: str = "octopods_default") -> str:
    """
    Build the API base URL from the connection's host (and port).

    The scheme is optional (https is assumed). Plain ``http://`` is refused unless the host is a
    loopback address, so keys never travel in clear text; this is what makes the bundled simulator
    usable while production traffic stays encrypted. A trailing ``/api/v1`` is tolerated.
    """
    text = (host or "").strip() or DEFAULT_BASE_URL
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise OctopodsValidationError(
            f"Connection '{conn_id}' has host {host!r}, which is not a base URL such as "
            f"'{DEFAULT_BASE_URL}'.",
            parameter="host",
        )
    if scheme == "http" and not _is_loopback(parts.hostname):
        raise OctopodsValidationError(
            f"Connection '{conn_id}' points at http://{parts.hostname}: API keys would travel "
            "unencrypted. Use https (plain http is only allowed on loopback addresses).",
            parameter="host",
        )
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{int(port)}"
    path = parts.path.rstrip("/")
    if path.endswith(API_PREFIX):
        path = path[: -len(API_PREFIX)]
    return f"{scheme}://{netloc}{path}"


def _positive_number(value: Any, name: str, conn_id: str, *, integer: bool) -> Any:
    try:
        number = int(str(value)) if integer else float(value)
    except (TypeError, ValueError):
        number = None
    if isinstance(value, bool) or number is None or number < 0 or (not integer and number == 0):
        kind = "a non-negative integer" if integer else "a positive number of seconds"
        raise OctopodsValidationError(
            f"Connection '{conn_id}' has `{name}`={value!r} in its extra; expected {kind}.",
            parameter=name,
        )
    return number


def connection_settings(
    *,
    conn_id: str,
    host: str | None,
    port: int | None,
    extra: Mapping[str, Any],
) -> ConnectionSettings:
    """Validate an Airflow connection's fields into :class:`ConnectionSettings`."""
    timeout = _extra_value(extra, "timeout")
    max_retries = _extra_value(extra, "max_retries")
    whatsapp_key = _extra_value(extra, "whatsapp_api_key")
    channel_key = _extra_value(extra, "channel_api_key")
    for name, key in (("whatsapp_api_key", whatsapp_key), ("channel_api_key", channel_key)):
        if key is not None and not isinstance(key, str):
            raise OctopodsValidationError(
                f"Connection '{conn_id}' has a non-text `{name}`; API keys are strings.", parameter=name
            )
    return ConnectionSettings(
        base_url=normalize_base_url(host, port, conn_id),
        whatsapp_api_key=whatsapp_key.strip() if whatsapp_key else None,
        channel_api_key=channel_key.strip() if channel_key else None,
        timeout=DEFAULT_TIMEOUT
        if timeout is None
        else _positive_number(timeout, "timeout", conn_id, integer=False),
        max_retries=(
            DEFAULT_MAX_RETRIES
            if max_retries is None
            else _positive_number(max_retries, "max_retries", conn_id, integer=True)
        ),
        conn_id=conn_id,
    )


# --------------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------------


class Endpoint(StrEnum):
    """The endpoints this provider calls; each knows how its response is read."""

    WHATSAPP_STATUS = "whatsapp.status"
    SMS_STATUS = "sms.status"
    WHATSAPP_LIST = "whatsapp.list"
    WHATSAPP_SEND = "whatsapp.send"
    SMS_SEND = "sms.send"


@dataclass(frozen=True)
class ApiRequest:
    """
    One HTTP request, without the key (the transport adds it from the connection).

    :param idempotent: False for sends: Octopods has no idempotency key, so a send is repeated only
        when it provably never reached the server.
    """

    endpoint: Endpoint
    method: str
    path: str
    channel: Channel
    params: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None
    message_id: int | None = None

    @property
    def idempotent(self) -> bool:
        return self.method == "GET"

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


def status_request(message_id: object, channel: object = Channel.WHATSAPP) -> ApiRequest:
    checked_channel = validate_channel(channel)
    number = validate_message_id(message_id)
    endpoint = Endpoint.WHATSAPP_STATUS if checked_channel is Channel.WHATSAPP else Endpoint.SMS_STATUS
    return ApiRequest(
        endpoint=endpoint,
        method="GET",
        path=f"{API_PREFIX}/{checked_channel.value}/messages/{number}",
        channel=checked_channel,
        message_id=number,
    )


def listing_request(limit: object = LISTING_MAX_LIMIT) -> ApiRequest:
    return ApiRequest(
        endpoint=Endpoint.WHATSAPP_LIST,
        method="GET",
        path=f"{API_PREFIX}/whatsapp/messages",
        channel=Channel.WHATSAPP,
        params={"limit": str(validate_limit(limit))},
    )


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
    return ApiRequest(
        endpoint=Endpoint.WHATSAPP_SEND,
        method="POST",
        path=f"{API_PREFIX}/whatsapp/templates/{quote(template, safe='')}/messages",
        channel=Channel.WHATSAPP,
        body=body,
    )


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
    return ApiRequest(
        endpoint=Endpoint.SMS_SEND,
        method="POST",
        path=f"{API_PREFIX}/sms/messages",
        channel=Channel.SMS,
        body=payload,
    )


# --------------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------------


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


_NO_JSON = object()


def _without_trailing_commas(text: str) -> str:
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


def _decode(response: ApiResponse) -> Any:
    """
    The JSON body, or ``_NO_JSON`` when there is none (an HTML proxy page, a truncated body).

    The legacy SMS article prints bodies with a trailing comma; if strict parsing fails, one lenient
    pass without trailing commas is tried, so even that documented example is readable.
    """
    if not response.body:
        return _NO_JSON
    try:
        text = response.body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _NO_JSON
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        return json.loads(_without_trailing_commas(text))
    except (ValueError, RecursionError):
        return _NO_JSON


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        return int(value.strip())
    return None


def parse_timestamp(value: Any) -> dt.datetime | None:
    """ISO 8601 with or without fractional seconds or offset (UTC assumed), or epoch seconds."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):
            return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
        if isinstance(value, str) and value.strip():
            text = value.strip()
            if text[-1:] in "zZ":
                text = f"{text[:-1]}+00:00"
            parsed = dt.datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def parse_failure(value: Any) -> tuple[int | None, str | None]:
    """
    ``failure_reason`` in any documented encoding -> ``(code, reason)``.

    Absent, ``null`` and ``""`` mean no failure; a string is the reason; an object carries ``code``
    and ``title`` (other text keys are tolerated); a bare number is a code.
    """
    if isinstance(value, Mapping):
        code = _int(value.get("code"))
        reason = None
        for key in ("title", "message", "reason", "error", "description", "detail"):
            reason = _text(value.get(key))
            if reason:
                break
        if code is None and reason is None and value.get("code") is not None:
            reason = _text(value.get("code"))
        return code, reason
    if isinstance(value, str):
        return None, value.strip() or None
    code = _int(value)
    return code, None


def normalize_phone(value: Any) -> str | None:
    """E.164 with ``+``: the legacy SMS response echoes ``353838000000`` without it."""
    text = _text(value)
    if text and text.isdigit():
        return f"+{text}"
    return text


def _expect_object(data: Any, response: ApiResponse, what: str) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        return data
    raise OctopodsMalformedResponseError(
        f"Octopods answered HTTP {response.status_code} to a {what} request with "
        f"{_describe_body(data, response)} where a JSON object was expected.",
        status_code=response.status_code,
    )


def _describe_body(data: Any, response: ApiResponse) -> str:
    if data is _NO_JSON:
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
            request_id=_text(body.get("request_id")),
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
        status_message=_text(body.get("status_message")),
        channel_message_id=_text(body.get("channel_message_id")),
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
    # In the bare-array shape, message_status.channel_message_id is the Octopods id (D7).
    message_id = _int(item.get("message_id"))
    if message_id is None:
        message_id = _int(nested.get("channel_message_id", nested.get("message_id")))
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
                request_id=_text(data.get("request_id")),
            )
    elif isinstance(data, list):
        items = data
    else:
        raise OctopodsMalformedResponseError(
            f"Octopods answered the listing with {_describe_body(data, response)}, not an array or object.",
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
    message_id = _int(body.get("message_id"))
    if message_id is None or message_id <= 0:
        raise OctopodsMalformedResponseError(
            f"Octopods accepted the {channel.value} send (HTTP {response.status_code}) but its answer has "
            f"no readable message_id ({_describe_body(data, response)}). The message was probably sent: "
            "check the recipient or the listing before sending again.",
            status_code=response.status_code,
            request_id=_text(body.get("request_id")),
        )
    return SendResult(
        message_id=message_id,
        channel=channel,
        request_id=_text(body.get("request_id")),
        channel_message_id=_text(body.get("channel_message_id")),
    )


# --------------------------------------------------------------------------------------------------
# Error classification
# --------------------------------------------------------------------------------------------------


def _envelope(data: Any) -> tuple[int | None, str | None, str | None]:
    """``(error_code, error, request_id)`` of the error envelope, tolerating its absence."""
    if not isinstance(data, Mapping):
        return None, None, None
    text = _text(data.get("error")) or _text(data.get("message")) or _text(data.get("detail"))
    return _int(data.get("error_code")), text, _text(data.get("request_id"))


_KEY_LABELS = {Channel.WHATSAPP: "WhatsApp API key", Channel.SMS: "channel (SMS) API key"}


def classify_error(
    request: ApiRequest, response: ApiResponse, data: Any, *, now: float | None = None
) -> OctopodsError:
    """Turn a non-2xx answer into the matching typed error (see DESIGN section 6)."""
    status = response.status_code
    error_code, error_text, request_id = _envelope(data)
    meta: dict[str, Any] = {"status_code": status, "error_code": error_code, "request_id": request_id}
    said = f": {error_text.rstrip('. ')}" if error_text else ""  # the messages below end the sentence
    where = request.describe()
    key_label = _KEY_LABELS[request.channel]
    key_field = request.channel.key_field

    if data is _NO_JSON and status >= 500:
        return OctopodsServerError(
            f"Octopods answered {where} with HTTP {status} and {_describe_body(data, response)}; "
            "this looks like a gateway or proxy error in front of the API.",
            **meta,
        )
    if status == 401:
        return OctopodsAuthError(
            f"Octopods rejected the {key_label} on {where} (HTTP 401){said}. "
            f"Check `{key_field}` in the connection.",
            **meta,
        )
    if status == 429:
        retry_at = rate_limit_retry_at(response, data, now=now)
        hinted = retry_at is not None
        if retry_at is None:
            retry_at = _utc((time.time() if now is None else now) + RetryPolicy().backoff_initial)
        return OctopodsRateLimitError(
            f"Octopods rate-limited {where} (HTTP 429){said}; "
            + (
                f"it allows the next request at {retry_at.isoformat()}."
                if hinted
                else "it gave no retry time."
            ),
            retry_at=retry_at,
            retry_hinted=hinted,
            error_code=error_code,
            request_id=request_id,
        )
    is_deprecated_key = (status == 400 and error_code == DEPRECATED_KEY_CODES[request.channel]) or bool(
        error_text and "deprecated api key" in error_text.lower()
    )
    if is_deprecated_key:
        return OctopodsAuthError(
            f"Octopods says the {key_label} was rotated or revoked (HTTP {status}, error_code "
            f"{error_code}){said}. Copy the current key from the Octopods app into `{key_field}`.",
            **meta,
        )
    is_status_read = request.endpoint in (Endpoint.WHATSAPP_STATUS, Endpoint.SMS_STATUS)
    if status == 404 or (
        status == 400
        and is_status_read
        and (error_code == 1 or bool(error_text and _NOT_FOUND_TEXT.search(error_text)))
    ):
        return OctopodsNotFoundError(
            f"Octopods has no {request.channel.value} message {request.message_id} for this key "
            f"(HTTP {status}{', error_code ' + str(error_code) if error_code is not None else ''}){said}. "
            "Check the id, and that the connection holds the key the message was sent with.",
            **meta,
        )
    if status >= 500:
        return OctopodsServerError(f"Octopods answered {where} with HTTP {status}{said}.", **meta)
    if status == 403:
        return OctopodsApiError(
            f"Octopods refused {where} (HTTP 403){said}: the feature is not enabled for this account; "
            "ask Octopods support to enable it.",
            **meta,
        )
    if 300 <= status < 400:
        return OctopodsApiError(
            f"Octopods answered {where} with a redirect (HTTP {status}) to "
            f"{response.headers.get('location', 'an unknown location')}; redirects are not followed "
            "so the key is never sent elsewhere. Check the connection's base URL.",
            **meta,
        )
    if data is _NO_JSON:
        hint = ""
        if status == 400 and request.method == "GET":
            # Articles 14823959 and 14823960 give a bare 400 on the reads for a missing or old key.
            hint = f" On this endpoint that means a missing or deprecated key: check `{key_field}`."
        body = _describe_body(data, response)
        return OctopodsApiError(f"Octopods answered {where} with HTTP {status} and {body}.{hint}", **meta)
    return OctopodsApiError(f"Octopods refused {where} (HTTP {status}){said}.", **meta)


def parse_response(request: ApiRequest, response: ApiResponse, *, now: float | None = None) -> Any:
    """
    The one place a response becomes a result or a typed error, for both transports.

    :returns: :class:`MessageStatus`, ``list[SentMessage]`` or :class:`SendResult`, per endpoint.
    :raises OctopodsError: the classified error.
    """
    data = _decode(response)
    if not 200 <= response.status_code < 300:
        if request.endpoint is Endpoint.WHATSAPP_LIST and response.status_code == 400:
            error_code, error_text, _ = _envelope(data)
            if error_code == LISTING_EMPTY_CODE or (
                error_text and "resource not found" in error_text.lower()
            ):
                return []  # "no messages have been sent on this channel yet" (article 14823960)
        raise classify_error(request, response, data, now=now)
    if request.endpoint in (Endpoint.WHATSAPP_SEND, Endpoint.SMS_SEND):
        return parse_send_result(request.channel, data, response)
    if data is _NO_JSON:
        raise OctopodsMalformedResponseError(
            f"Octopods answered {request.describe()} with HTTP {response.status_code} and "
            f"{_describe_body(data, response)} instead of JSON.",
            status_code=response.status_code,
        )
    if request.endpoint is Endpoint.WHATSAPP_LIST:
        return parse_listing(data, response)
    assert request.message_id is not None
    return parse_message_status(request.channel, request.message_id, data, response)


# --------------------------------------------------------------------------------------------------
# Rate limits and retries
# --------------------------------------------------------------------------------------------------

_RETRY_BODY_KEYS = ("retry_at", "retry_after", "retry_timestamp", "retryAt", "retryAfter", "reset_at")
_EPOCH_THRESHOLD = 1e9  # numbers below this are "seconds to wait", above it absolute epoch seconds


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def _retry_hint(value: Any, now: float, *, http_date: bool) -> float | None:
    """One retry hint -> absolute epoch seconds, or None when unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            if http_date:
                try:
                    parsed = email.utils.parsedate_to_datetime(text)
                except (TypeError, ValueError, IndexError):
                    parsed = None
                if parsed is not None:
                    if parsed.tzinfo is None:
                        parsed = parsed.replace(tzinfo=dt.UTC)
                    return parsed.timestamp()
            stamp = parse_timestamp(text)
            return stamp.timestamp() if stamp else None
    if number is None or number != number or number in (float("inf"), float("-inf")):
        return None
    if number < _EPOCH_THRESHOLD:
        return now + max(number, 0.0)
    if number > 1e12:  # epoch milliseconds
        number /= 1000.0
    return number


def rate_limit_retry_at(response: ApiResponse, data: Any, *, now: float | None = None) -> dt.datetime | None:
    """
    When a 429 says the next request may go, or None if it gives no readable hint.

    Reads ``Retry-After`` (seconds or an HTTP date), ``X-RateLimit-Reset`` and the body's retry
    timestamp (epoch seconds or milliseconds, ISO 8601, or seconds to wait). The docs only say "the
    returned retry timestamp", so every plausible form is accepted; when several are present the
    latest wins, which is the safe reading.
    """
    current = time.time() if now is None else now
    hints = [
        _retry_hint(response.headers.get("retry-after"), current, http_date=True),
        _retry_hint(response.headers.get("x-ratelimit-reset"), current, http_date=False),
    ]
    if isinstance(data, Mapping):
        hints.extend(_retry_hint(data.get(key), current, http_date=False) for key in _RETRY_BODY_KEYS)
    valid = [hint for hint in hints if hint is not None]
    if not valid:
        return None
    # A hint in the past means "now"; one absurdly far away is capped at a day.
    return _utc(min(max(max(valid), current), current + 86400.0))


def seconds_until(moment: dt.datetime, *, now: float | None = None) -> float:
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def transport_error(
    request: ApiRequest, problem: str, *, may_have_reached_server: bool
) -> OctopodsConnectionError:
    """The connection-level failure of a transport, worded the same for both transports."""
    return OctopodsConnectionError(
        f"Could not complete {request.describe()}: {problem}.",
        may_have_reached_server=may_have_reached_server,
    )


@dataclass(frozen=True)
class RetryPolicy:
    """
    When to repeat a request, and how long to wait first. Used through tenacity by both transports.

    * Connection failures, timeouts, 5xx and unreadable bodies are retried with exponential backoff
      and jitter, for reads. A send is repeated only if the connection failed before the request
      could leave, because Octopods has no idempotency key and a repeat would send twice.
    * A 429 waits until its retry time, for every request (a 429 means it was not processed). With
      ``max_rate_limit_wait`` set, a longer wait raises :class:`OctopodsRateLimitError` instead (the
      sync hook should not sleep for long on a worker); with ``None``, 429s are waited out and do not
      count as failures (triggers, whose deadline bounds the wait).
    * At most ``max_retries`` failures are retried in a row.

    :param max_retries: Failures to retry before giving up (the connection's ``max_retries``).
    :param backoff_initial: First backoff in seconds; doubled each time.
    :param backoff_max: Longest single backoff in seconds.
    :param max_rate_limit_wait: Longest 429 wait in seconds, or None for unbounded.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    max_rate_limit_wait: float | None = 60.0

    def is_retryable(self, error: BaseException, request: ApiRequest) -> bool:
        if isinstance(error, OctopodsRateLimitError):
            return (
                self.max_rate_limit_wait is None or seconds_until(error.retry_at) <= self.max_rate_limit_wait
            )
        if isinstance(error, OctopodsConnectionError):
            return request.idempotent or not error.may_have_reached_server
        if isinstance(error, OctopodsServerError):
            return request.idempotent
        return False

    def backoff(self, failures: int) -> float:
        """Exponential backoff with jitter for the ``failures``-th failure in a row (1-based)."""
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** max(failures - 1, 0)))
        return ceiling * random.uniform(0.5, 1.0)

    def delay(self, error: BaseException | None, failures: int, attempts: int | None = None) -> float:
        """
        Seconds to wait before the next attempt.

        :param failures: Failures counted so far (drives the backoff of transient errors).
        :param attempts: All attempts so far; drives the backoff of 429s that gave no retry time.
        """
        if isinstance(error, OctopodsRateLimitError):
            if error.retry_hinted:
                # A little jitter spreads the herd of waiters that got the same retry time.
                return seconds_until(error.retry_at) + random.uniform(0.0, 0.25)
            return self.backoff(attempts or failures)
        return self.backoff(failures)

    def counts_as_failure(self, error: BaseException | None) -> bool:
        return not (isinstance(error, OctopodsRateLimitError) and self.max_rate_limit_wait is None)

    def tenacity_kwargs(
        self,
        request: ApiRequest,
        *,
        on_retry: Callable[[BaseException, float, int], None] | None = None,
    ) -> dict[str, Any]:
        """
        Arguments for ``tenacity.Retrying`` or ``tenacity.AsyncRetrying``: one policy, two runners.

        :param on_retry: Called with (error, seconds to wait, failures so far) before each wait.
        """

        failures = [0]

        def retry(state: RetryCallState) -> bool:
            error = state.outcome.exception() if state.outcome else None
            if error is None or not self.is_retryable(error, request):
                return False
            if self.counts_as_failure(error):
                failures[0] += 1
            return True

        def stop(state: RetryCallState) -> bool:
            return failures[0] > self.max_retries

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return self.delay(error, failures[0], state.attempt_number)

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if on_retry is not None and error is not None:
                on_retry(error, state.upcoming_sleep, failures[0])

        def give_up(state: RetryCallState) -> Any:
            error = state.outcome.exception() if state.outcome else None
            retried = state.attempt_number > 1
            if isinstance(error, OctopodsError) and retried and self.counts_as_failure(error):
                error.message = f"{error.message} Gave up after {state.attempt_number} attempts."
            assert error is not None
            raise error

        return {
            "retry": retry,
            "stop": stop,
            "wait": wait,
            "before_sleep": before_sleep,
            "retry_error_callback": give_up,
            "reraise": True,
        }


def retry_log_line(request: ApiRequest, error: BaseException, wait: float, failures: int, limit: int) -> str:
    """One log line per retry, the same for both transports (no key, no body)."""
    reason = type(error).__name__
    if isinstance(error, OctopodsError) and error.status_code:
        reason = f"HTTP {error.status_code}"
    if isinstance(error, OctopodsRateLimitError):
        return f"Octopods rate-limited {request.describe()}; waiting {wait:.1f} s as it asks."
    return f"{request.describe()} failed ({reason}); retry {failures}/{limit} in {wait:.1f} s."

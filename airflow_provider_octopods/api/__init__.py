"""
The Octopods wire format: pure, I/O-free, shared by the sync hook and the async trigger client.

Everything that decides what goes on the wire and what a response means lives here, once, one
module per concern:

* :mod:`.validation`: every public input, checked before any request is built;
* :mod:`.connection`: the ``octopods`` Airflow connection, validated into :class:`ConnectionSettings`;
* :mod:`.endpoints`: the table of endpoints and the requests built for them;
* :mod:`.results`: :func:`parse_response`, where an answer becomes a result or a typed error;
* :mod:`.responses`: every documented response shape, read into the model types;
* :mod:`.errors`: a non-2xx answer classified into the typed :mod:`~airflow_provider_octopods.exceptions`;
* :mod:`.retry`: the retry policy and the retry time of a 429;
* :mod:`.retrying`: the policy as tenacity strategies (imported by the hooks on first use).

The transports (``requests`` in :class:`~airflow_provider_octopods.hooks.octopods.OctopodsHook`,
``aiohttp`` in :class:`~airflow_provider_octopods.hooks.octopods.OctopodsAsyncHook`) only move
bytes: they turn an :class:`ApiRequest` into an :class:`ApiResponse` and hand it to
:func:`parse_response`. So the two paths cannot disagree.

This package re-exports what callers use, so ``from airflow_provider_octopods import api`` and
``api.status_request(...)`` is all a caller needs.
"""

from __future__ import annotations

from airflow_provider_octopods.api.connection import (
    API_PREFIX,
    DEFAULT_BASE_URL,
    DEFAULT_CONN_ID,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    EXTRA_FIELDS,
    ConnectionSettings,
    closest_extra,
    connection_settings,
    describe_unknown_extras,
    key_fingerprint,
    normalize_base_url,
)
from airflow_provider_octopods.api.endpoints import (
    AUTH_HEADER,
    ENDPOINTS,
    LISTING_EMPTY_CODE,
    ApiRequest,
    Endpoint,
    EndpointSpec,
    listing_request,
    sms_send_request,
    status_request,
    whatsapp_send_request,
)
from airflow_provider_octopods.api.errors import DEPRECATED_KEY_CODES, classify_error
from airflow_provider_octopods.api.responses import (
    NO_JSON,
    ApiResponse,
    decode_body,
    normalize_phone,
    parse_failure,
    parse_listing,
    parse_message_status,
    parse_send_result,
    parse_timestamp,
    without_trailing_commas,
)
from airflow_provider_octopods.api.results import parse_response
from airflow_provider_octopods.api.retry import (
    RetryPolicy,
    rate_limit_retry_at,
    retry_log_line,
    seconds_until,
    transport_error,
    utc,
)
from airflow_provider_octopods.api.validation import (
    LISTING_MAX_LIMIT,
    SMS_MAX_LENGTH,
    parse_message_ids,
    validate_channel,
    validate_conn_id,
    validate_count,
    validate_flag,
    validate_limit,
    validate_message_id,
    validate_message_variables,
    validate_optional_text,
    validate_phone,
    validate_phones,
    validate_seconds,
    validate_sms_body,
    validate_template_id,
    validate_url,
)

__all__ = [
    "API_PREFIX",
    "AUTH_HEADER",
    "DEFAULT_BASE_URL",
    "DEFAULT_CONN_ID",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "DEPRECATED_KEY_CODES",
    "EXTRA_FIELDS",
    "ENDPOINTS",
    "LISTING_EMPTY_CODE",
    "LISTING_MAX_LIMIT",
    "NO_JSON",
    "SMS_MAX_LENGTH",
    "ApiRequest",
    "ApiResponse",
    "ConnectionSettings",
    "Endpoint",
    "EndpointSpec",
    "RetryPolicy",
    "classify_error",
    "closest_extra",
    "connection_settings",
    "describe_unknown_extras",
    "decode_body",
    "key_fingerprint",
    "listing_request",
    "normalize_base_url",
    "normalize_phone",
    "parse_failure",
    "parse_listing",
    "parse_message_ids",
    "parse_message_status",
    "parse_response",
    "parse_send_result",
    "parse_timestamp",
    "rate_limit_retry_at",
    "retry_log_line",
    "seconds_until",
    "sms_send_request",
    "status_request",
    "transport_error",
    "utc",
    "validate_channel",
    "validate_conn_id",
    "validate_count",
    "validate_flag",
    "validate_limit",
    "validate_message_id",
    "validate_message_variables",
    "validate_optional_text",
    "validate_phone",
    "validate_phones",
    "validate_seconds",
    "validate_sms_body",
    "validate_template_id",
    "validate_url",
    "whatsapp_send_request",
    "without_trailing_commas",
]

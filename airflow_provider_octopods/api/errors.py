"""
Error classification: a non-2xx answer becomes the matching typed error.

The rules run in order and the first that recognises the answer builds the error; each is a small
named function, so the precedence is the order of :data:`RULES` and a new case is a new rule in the
right place. The order matters: a gateway's HTML page is a server error whatever its status, a 401
is always the key, a 429 is always the rate limit, and only then do the endpoint families' own codes
(deprecated key, not found) and the plain HTTP classes apply.

Error codes are scoped to the endpoint family (WhatsApp 5 is an invalid phone, SMS 5 a deprecated
key), so every rule reads them together with ``request.channel``. Messages say what to do, name the
connection field to check, and never contain a key.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_octopods.api.responses import NO_JSON, ApiResponse, describe_body, envelope
from airflow_provider_octopods.api.retry import RetryPolicy, rate_limit_retry_at, utc
from airflow_provider_octopods.exceptions import (
    OctopodsApiError,
    OctopodsAuthError,
    OctopodsError,
    OctopodsNotFoundError,
    OctopodsRateLimitError,
    OctopodsServerError,
)
from airflow_provider_octopods.models import Channel

if TYPE_CHECKING:
    from airflow_provider_octopods.api.endpoints import ApiRequest

#: The ``error_code`` meaning "this key was rotated or revoked", per endpoint family (they collide:
#: SMS 5 is the deprecated key, WhatsApp 5 is an invalid phone number).
DEPRECATED_KEY_CODES = {Channel.WHATSAPP: 6, Channel.SMS: 5}

_NOT_FOUND_TEXT = re.compile(r"not\s+found|cannot be found|could not be found|does not exist|no such", re.I)
_KEY_LABELS = {Channel.WHATSAPP: "WhatsApp API key", Channel.SMS: "channel (SMS) API key"}


@dataclass(frozen=True)
class ErrorAnswer:
    """One non-2xx answer, with what the rules read from it."""

    request: ApiRequest
    response: ApiResponse
    data: Any
    now: float | None

    @cached_property
    def _envelope(self) -> tuple[int | None, str | None, str | None]:
        return envelope(self.data)

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def error_code(self) -> int | None:
        return self._envelope[0]

    @property
    def error_text(self) -> str | None:
        return self._envelope[1]

    @property
    def meta(self) -> dict[str, Any]:
        """The attributes every typed error carries."""
        return {"status_code": self.status, "error_code": self.error_code, "request_id": self._envelope[2]}

    @property
    def said(self) -> str:
        """``": <what Octopods said>"``, or nothing; the messages below end the sentence themselves."""
        return f": {self.error_text.rstrip('. ')}" if self.error_text else ""

    @property
    def where(self) -> str:
        return self.request.describe()

    @property
    def key_label(self) -> str:
        return _KEY_LABELS[self.request.channel]

    @property
    def key_field(self) -> str:
        return self.request.channel.key_field


Rule = Callable[[ErrorAnswer], OctopodsError | None]


def gateway_page(answer: ErrorAnswer) -> OctopodsError | None:
    """A 5xx without JSON: a proxy or gateway in front of the API answered, not Octopods."""
    if answer.data is not NO_JSON or answer.status < 500:
        return None
    return OctopodsServerError(
        f"Octopods answered {answer.where} with HTTP {answer.status} and "
        f"{describe_body(answer.data, answer.response)}; this looks like a gateway or proxy error in "
        "front of the API.",
        **answer.meta,
    )


def unauthorized(answer: ErrorAnswer) -> OctopodsError | None:
    """401: a missing, unknown or other-family key."""
    if answer.status != 401:
        return None
    return OctopodsAuthError(
        f"Octopods rejected the {answer.key_label} on {answer.where} (HTTP 401){answer.said}. "
        f"Check `{answer.key_field}` in the connection.",
        **answer.meta,
    )


def rate_limited(answer: ErrorAnswer) -> OctopodsError | None:
    """429, with the retry time Octopods gave (or the first backoff step when it gave none)."""
    if answer.status != 429:
        return None
    retry_at = rate_limit_retry_at(answer.response, answer.data, now=answer.now)
    hinted = retry_at is not None
    if retry_at is None:
        retry_at = utc((time.time() if answer.now is None else answer.now) + RetryPolicy().backoff_initial)
    when = f"it allows the next request at {retry_at.isoformat()}." if hinted else "it gave no retry time."
    return OctopodsRateLimitError(
        f"Octopods rate-limited {answer.where} (HTTP 429){answer.said}; {when}",
        retry_at=retry_at,
        retry_hinted=hinted,
        error_code=answer.error_code,
        request_id=answer.meta["request_id"],
    )


def deprecated_key(answer: ErrorAnswer) -> OctopodsError | None:
    """400 with the family's deprecated-key code (WhatsApp 6, SMS 5), or the docs' text for it."""
    by_code = answer.status == 400 and answer.error_code == DEPRECATED_KEY_CODES[answer.request.channel]
    by_text = bool(answer.error_text and "deprecated api key" in answer.error_text.lower())
    if not (by_code or by_text):
        return None
    return OctopodsAuthError(
        f"Octopods says the {answer.key_label} was rotated or revoked (HTTP {answer.status}, error_code "
        f"{answer.error_code}){answer.said}. Copy the current key from the Octopods app into "
        f"`{answer.key_field}`.",
        **answer.meta,
    )


def message_not_found(answer: ErrorAnswer) -> OctopodsError | None:
    """404; or, on a status read, 400 with error 1 or a "not found" text (the SMS article's form)."""
    by_400 = (
        answer.status == 400
        and answer.request.spec.reads_one_message
        and (answer.error_code == 1 or bool(answer.error_text and _NOT_FOUND_TEXT.search(answer.error_text)))
    )
    if answer.status != 404 and not by_400:
        return None
    request = answer.request
    code = f", error_code {answer.error_code}" if answer.error_code is not None else ""
    return OctopodsNotFoundError(
        f"Octopods has no {request.channel.value} message {request.message_id} for this key "
        f"(HTTP {answer.status}{code}){answer.said}. Check the id, and that the connection holds the key "
        "the message was sent with.",
        **answer.meta,
    )


def server_error(answer: ErrorAnswer) -> OctopodsError | None:
    """Any other 5xx."""
    if answer.status < 500:
        return None
    return OctopodsServerError(
        f"Octopods answered {answer.where} with HTTP {answer.status}{answer.said}.", **answer.meta
    )


def feature_not_enabled(answer: ErrorAnswer) -> OctopodsError | None:
    """403: an opt-in feature (interactive messages) is not enabled for the account."""
    if answer.status != 403:
        return None
    return OctopodsApiError(
        f"Octopods refused {answer.where} (HTTP 403){answer.said}: the feature is not enabled for this "
        "account; ask Octopods support to enable it.",
        **answer.meta,
    )


def redirect(answer: ErrorAnswer) -> OctopodsError | None:
    """3xx: never followed, so the key is never sent to another host."""
    if not 300 <= answer.status < 400:
        return None
    location = answer.response.headers.get("location", "an unknown location")
    return OctopodsApiError(
        f"Octopods answered {answer.where} with a redirect (HTTP {answer.status}) to {location}; "
        "redirects are not followed so the key is never sent elsewhere. Check the connection's base URL.",
        **answer.meta,
    )


def unreadable_refusal(answer: ErrorAnswer) -> OctopodsError | None:
    """A 4xx without JSON; a bare 400 on a read means a missing or old key (articles 14823959, 14823960)."""
    if answer.data is not NO_JSON:
        return None
    hint = ""
    if answer.status == 400 and answer.request.method == "GET":
        hint = f" On this endpoint that means a missing or deprecated key: check `{answer.key_field}`."
    body = describe_body(answer.data, answer.response)
    return OctopodsApiError(
        f"Octopods answered {answer.where} with HTTP {answer.status} and {body}.{hint}", **answer.meta
    )


def refusal(answer: ErrorAnswer) -> OctopodsError:
    """Every other 4xx: a validation error of the request, in Octopods' words."""
    return OctopodsApiError(
        f"Octopods refused {answer.where} (HTTP {answer.status}){answer.said}.", **answer.meta
    )


#: The rules, in order of precedence; :func:`refusal` takes whatever none of them recognised.
RULES: tuple[Rule, ...] = (
    gateway_page,
    unauthorized,
    rate_limited,
    deprecated_key,
    message_not_found,
    server_error,
    feature_not_enabled,
    redirect,
    unreadable_refusal,
)


def classify_error(
    request: ApiRequest, response: ApiResponse, data: Any, *, now: float | None = None
) -> OctopodsError:
    """
    Turn a non-2xx answer into the matching typed error (see the table of errors in the README).

    :param data: The decoded body (:data:`~airflow_provider_octopods.api.responses.NO_JSON` when there
        was none).
    :param now: The clock to read relative retry times against (tests pin it).
    """
    answer = ErrorAnswer(request, response, data, now)
    for rule in RULES:
        error = rule(answer)
        if error is not None:
            return error
    return refusal(answer)

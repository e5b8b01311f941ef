"""Error codes and the JSON error envelope of the simulated Octopods API.

Octopods scopes ``error_code`` to an endpoint family: the same number means different things on
``/whatsapp/*`` and ``/sms/*`` (WhatsApp 5 is an invalid phone, SMS 5 a deprecated key). The codes
are kept in two enums so a handler can never pick a number from the wrong family by accident.

Every error the simulator returns is the documented envelope ``{"request_id", "error_code",
"error"}`` and is always valid JSON (the docs' own examples carry trailing commas; a client must not
be tuned to that). Errors that the docs give no code for (401, 404 in the 404 profile, 429, 5xx)
use the HTTP status number as ``error_code``, so a client can always read an integer there.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class WhatsAppError(IntEnum):
    """``error_code`` values of the WhatsApp family (send template, status, listing, templates)."""

    ARGUMENT_MISSING = 1
    TYPE_MISMATCH = 2
    TEMPLATE_NOT_EXIST = 3
    VARIABLES_SIZE = 4
    PHONE_INVALID = 5
    DEPRECATED_API_KEY = 6
    INVALID_HEADER = 8
    #: The docs give no name: a flat array was sent for a template with header/footer/button variables.
    VARIABLES_STRUCTURE = 9
    INVALID_STATUS = 10
    #: The listing article's "no messages have been sent on this channel yet" (shares 2 with TYPE_MISMATCH).
    RESOURCE_NOT_FOUND = 2


class SmsError(IntEnum):
    """``error_code`` values of the SMS family (send, status)."""

    ARGUMENT_MISSING = 1
    EMPTY_BODY = 2
    PHONE_INVALID = 3
    #: The docs give no name: the SMS provider rejected the message; the text says why.
    PROVIDER_ERROR = 4
    DEPRECATED_API_KEY = 5


TEMPLATE_NOT_EXIST_TEXT = "Message Template does not exist."
WHATSAPP_DEPRECATED_KEY_TEXT = "Deprecated API Key. Please go to your Octopods App, and get your new API Key"
SMS_DEPRECATED_KEY_TEXT = (
    "Deprecated API Key. Please copy the current API key from your SMS channel settings in the Octopods App."
)
SMS_MESSAGE_ID_TEXT = "You must supply message_id in your request payload."
INVALID_PHONE_TEXT = "Invalid Phone number. destination_phone must be in E.164 format, e.g. +14155552671."


class ApiError(Exception):
    """An error answer of the simulated API; the middleware turns it into the JSON envelope."""

    def __init__(
        self,
        http_status: int,
        error_code: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.error_code = int(error_code)
        self.message = message
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def envelope(self, request_id: str) -> dict[str, Any]:
        """The documented body: request id, family-scoped code and human text (plus any extras)."""
        body: dict[str, Any] = {
            "request_id": request_id,
            "error_code": self.error_code,
            "error": self.message,
        }
        body.update(self.extra)
        return body


def bad_request(code: int, message: str) -> ApiError:
    """The usual Octopods failure: HTTP 400 with a family-scoped code."""
    return ApiError(400, code, message)

"""Delivery statuses and failure reasons, in the superset of every documented vocabulary.

Internally a message is always in one of eight states (the union of the unified six-value list,
the SMS reference's ``queued``/``undelivered``); the response profiles decide how each state is
spelled on the wire (see :mod:`.render`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    """The two simulated messaging channels."""

    WHATSAPP = "whatsapp"
    SMS = "sms"

    @classmethod
    def parse(cls, value: str) -> Channel:
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ValueError(f"unknown channel {value!r}: use 'whatsapp' or 'sms'") from None


class Status(StrEnum):
    """Superset of the documented status values."""

    QUEUED = "QUEUED"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    READ = "READ"
    FAILED = "FAILED"
    UNDELIVERED = "UNDELIVERED"
    DELETED = "DELETED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: str) -> Status:
        """Case-insensitive, as the docs use both ``DELIVERED`` and ``delivered``."""
        try:
            return cls(value.strip().upper())
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown status {value!r}: use one of {allowed}") from None

    @property
    def is_failure(self) -> bool:
        """States that carry a ``failure_reason``."""
        return self in (Status.FAILED, Status.UNDELIVERED)


#: ``status_message`` texts of the unified and legacy shapes (DELIVERED is the docs' own sentence).
STATUS_MESSAGES: dict[Status, str] = {
    Status.QUEUED: "Your message is queued and will be handed to the provider shortly.",
    Status.SENT: "Your message has been handed to the provider. No delivery confirmation yet.",
    Status.DELIVERED: "Your message has been delivered successfully.",
    Status.READ: "Your message has been read by the recipient.",
    Status.FAILED: "Your message could not be delivered.",
    Status.UNDELIVERED: "The carrier could not deliver your message.",
    Status.DELETED: "The recipient deleted the message after delivery.",
    Status.UNKNOWN: "Status is not yet available. Retry after a short delay.",
}


@dataclass(frozen=True)
class Failure:
    """A provider failure: human title plus the provider's numeric code when there is one."""

    title: str
    code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "title": self.title}

    @classmethod
    def from_fields(cls, reason: object, code: object) -> Failure | None:
        """Build from admin/rule fields: ``reason`` text (or ``{code, title}``) and optional ``code``."""
        if isinstance(reason, dict):
            code = reason.get("code", code)
            reason = reason.get("title") or reason.get("message")
        if reason is None and code is None:
            return None
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
            raise ValueError("failure_code must be an integer")
        title = str(reason) if reason is not None else "The message could not be delivered."
        return cls(title=title, code=code)


DEFAULT_FAILURES: dict[Status, Failure] = {
    Status.FAILED: Failure("The message could not be delivered."),
    Status.UNDELIVERED: Failure("The carrier could not deliver the message within its retry window."),
}

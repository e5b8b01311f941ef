"""The provider's value types: what the Octopods API returns, normalised across every documented shape.

All models are frozen dataclasses whose ``to_dict()`` is JSON-native; that dict is what goes to XCom
and into trigger events. ``status`` is always a :class:`DeliveryStatus`, whatever casing or vocabulary
the API answered with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import Enum, StrEnum
from typing import Any

__all__ = [
    "Channel",
    "DeliveryStatus",
    "MessageStatus",
    "SendResult",
    "SentMessage",
    "format_timestamp",
    "parse_timestamp",
]


class Channel(StrEnum):
    """The Octopods endpoint family a message belongs to; it decides which API key is used."""

    WHATSAPP = "whatsapp"
    SMS = "sms"

    @property
    def key_field(self) -> str:
        """The connection extra holding this channel's API key."""
        return "whatsapp_api_key" if self is Channel.WHATSAPP else "channel_api_key"

    @property
    def key_label(self) -> str:
        """The label of :attr:`key_field` in the connection form."""
        return "WhatsApp API key" if self is Channel.WHATSAPP else "Channel API key"


class DeliveryStatus(StrEnum):
    """
    The superset of every status vocabulary in the Octopods docs.

    The unified articles use SENT, DELIVERED, READ, FAILED, DELETED, UNKNOWN; the SMS reference adds
    QUEUED and UNDELIVERED; the endpoint references use lower case. Anything else maps to UNKNOWN,
    which callers treat as "not reported yet" rather than crashing on a new value.
    """

    QUEUED = "QUEUED"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    READ = "READ"
    FAILED = "FAILED"
    UNDELIVERED = "UNDELIVERED"
    DELETED = "DELETED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, raw: object) -> DeliveryStatus:
        """Map a raw API value (any case, any type) to a member; unknown values give UNKNOWN."""
        if isinstance(raw, str):
            try:
                return cls(raw.strip().upper())
            except ValueError:
                return cls.UNKNOWN
        return cls.UNKNOWN

    @property
    def is_failure(self) -> bool:
        """The message will never be delivered."""
        return self in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)

    @property
    def is_pending(self) -> bool:
        """The provider may still report progress (QUEUED, SENT, UNKNOWN)."""
        return self in (DeliveryStatus.QUEUED, DeliveryStatus.SENT, DeliveryStatus.UNKNOWN)

    @property
    def is_final(self) -> bool:
        """
        No later status can follow: READ, FAILED, UNDELIVERED, DELETED. QUEUED, SENT, UNKNOWN and
        DELIVERED may still change (a delivered WhatsApp message may be read or deleted).
        """
        return self in (
            DeliveryStatus.READ,
            DeliveryStatus.FAILED,
            DeliveryStatus.UNDELIVERED,
            DeliveryStatus.DELETED,
        )

    @property
    def implies_delivered(self) -> bool:
        """DELIVERED, READ and DELETED (only a delivered message can be deleted by its recipient)."""
        return self in (DeliveryStatus.DELIVERED, DeliveryStatus.READ, DeliveryStatus.DELETED)


def format_timestamp(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix, the style of the Octopods API itself."""
    if value is None:
        return None
    text = value.astimezone(dt.UTC).replace(tzinfo=None).isoformat()
    return f"{text}Z"


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


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    return value


class _Model:
    def to_dict(self) -> dict[str, Any]:
        """A JSON-native dict of every field (enums as their value, datetimes as ISO 8601 UTC)."""
        return {field.name: _jsonable(getattr(self, field.name)) for field in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class MessageStatus(_Model):
    """
    The delivery status of one message, from the status endpoint of its channel.

    :param message_id: The Octopods message id.
    :param channel: ``"whatsapp"`` or ``"sms"``.
    :param status: Normalised status.
    :param status_message: Octopods' human-readable text, when the response shape has one.
    :param channel_message_id: The provider's own id (``wamid...`` on WhatsApp), when given.
    :param failure_code: Provider error code for failed messages (e.g. 470), when given.
    :param failure_reason: Provider error text for failed messages, when given.
    :param last_updated: Time of the latest status change; derived from the stage timestamps of the
        endpoint-reference shape when the response has no ``last_updated``.
    """

    message_id: int
    channel: Channel
    status: DeliveryStatus
    status_message: str | None = None
    channel_message_id: str | None = None
    failure_code: int | None = None
    failure_reason: str | None = None
    last_updated: dt.datetime | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MessageStatus:
        """The inverse of :meth:`to_dict` (a status that went through a trigger event or XCom)."""
        return cls(
            message_id=int(data["message_id"]),
            channel=Channel(str(data["channel"]).lower()),
            status=DeliveryStatus.parse(data["status"]),
            status_message=data.get("status_message"),
            channel_message_id=data.get("channel_message_id"),
            failure_code=data.get("failure_code"),
            failure_reason=data.get("failure_reason"),
            last_updated=parse_timestamp(data.get("last_updated")),
        )


@dataclass(frozen=True)
class SentMessage(_Model):
    """
    One record of the sent-message listing (WhatsApp only).

    :param message_id: The Octopods message id (``message_status.channel_message_id`` in the
        bare-array listing shape, ``message_id`` in the object shape).
    :param channel: Always ``"whatsapp"``: only WhatsApp has a listing.
    :param phone_number: Recipient in E.164 (a ``+`` is added when the API omits it).
    :param created_at: When Octopods received the send (``created_at`` or ``sent_at``).
    :param message_content: Rendered body; only the bare-array shape carries it.
    :param status: Normalised status.
    :param failure_code: Provider error code, when given.
    :param failure_reason: Provider error text, when given.
    """

    message_id: int
    channel: Channel
    phone_number: str | None
    created_at: dt.datetime | None
    message_content: str | None
    status: DeliveryStatus
    failure_code: int | None = None
    failure_reason: str | None = None

    def to_status(self) -> MessageStatus:
        """The status this record shows (a listing carries no status text, provider id or update time)."""
        return MessageStatus(
            message_id=self.message_id,
            channel=self.channel,
            status=self.status,
            failure_code=self.failure_code,
            failure_reason=self.failure_reason,
        )


@dataclass(frozen=True)
class SendResult(_Model):
    """
    What a send returned.

    :param message_id: The Octopods message id, to poll with the status endpoint or the sensor.
    :param channel: ``"whatsapp"`` or ``"sms"``.
    :param request_id: Octopods' request id, for support.
    :param channel_message_id: The provider's id, when the response carries one.
    """

    message_id: int
    channel: Channel
    request_id: str | None = None
    channel_message_id: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SendResult:
        """The inverse of :meth:`to_dict` (a result recorded by an earlier try of a send task)."""
        return cls(
            message_id=int(data["message_id"]),
            channel=Channel(str(data["channel"]).lower()),
            request_id=data.get("request_id"),
            channel_message_id=data.get("channel_message_id"),
        )

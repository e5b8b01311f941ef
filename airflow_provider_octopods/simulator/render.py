"""Response bodies, one function per documented shape, all driven by a :class:`~.profiles.Profile`.

Shapes (article ids in brackets):

* status ``unified`` [14823959]: request_id, message_id, status, status_message, channel_message_id,
  intercom_conversation_id, intercom_conversation_part_id, last_updated (+ failure_reason);
* status ``reference`` [14824155 WhatsApp, 14824165 SMS]: request_id, message_id, status,
  phone_number, channel_message_id (WhatsApp only), sent_at, delivered_at, read_at (WhatsApp only),
  failure_reason;
* status ``legacy`` [7052907]: message_id, status, status_message, last_updated (always with
  milliseconds, as that article prints it), request_id;
* listing ``array`` [14823960] and ``object`` [14824157].

How a status is spelled: ``vocabulary=doc`` keeps each article's own list, so the unified and
legacy shapes and the array listing (six values) show QUEUED as SENT and UNDELIVERED as FAILED,
while the reference shapes pass every state through; ``vocabulary=superset`` passes everything
through everywhere. ``status_case`` then picks upper or lower case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .clock import format_timestamp
from .statuses import STATUS_MESSAGES, Channel, Failure, Status

if TYPE_CHECKING:
    from .profiles import Profile
    from .state import Entry, Message

_SIX_VALUE = {Status.QUEUED: Status.SENT, Status.UNDELIVERED: Status.FAILED}

#: Where a response shape comes from, for the per-article ``failure_reason`` defaults.
#: failed: "auto" = {code, title} when the failure has a code, else its title as a string.
_DOC_FAILED = {
    "unified": "auto",
    "reference": "string",
    "legacy": "string",
    "array": "auto",
    "object": "string",
}
_DOC_NO_FAILURE = {
    "unified": "absent",
    "reference": "null",
    "legacy": "absent",
    "array": "empty",
    "object": "absent",
}
_MISSING = object()


def wire_status(status: Status, profile: Profile, shape: str) -> str:
    """The status string for ``shape`` under ``profile`` (vocabulary mapping, then case)."""
    if profile.vocabulary == "doc" and shape in ("unified", "legacy", "array"):
        status = _SIX_VALUE.get(status, status)
    return status.value if profile.status_case == "upper" else status.value.lower()


def failure_value(failure: Failure | None, profile: Profile, shape: str) -> object:
    """The ``failure_reason`` value for ``shape``, or ``_MISSING`` when the key must be left out."""
    if failure is None:
        form = profile.no_failure_form or _DOC_NO_FAILURE[shape]
        return {"null": None, "empty": "", "absent": _MISSING}[form]
    form = profile.failure_form or _DOC_FAILED[shape]
    if form == "auto":
        form = "object" if failure.code is not None else "string"
    return failure.to_dict() if form == "object" else failure.title


def _put_failure(body: dict[str, Any], failure: Failure | None, profile: Profile, shape: str) -> None:
    value = failure_value(failure, profile, shape)
    if value is not _MISSING:
        body["failure_reason"] = value


def _ts(epoch: float | None, profile: Profile) -> str | None:
    return None if epoch is None else format_timestamp(epoch, millis=profile.millis)


def _stage_times(message: Message, now: float) -> dict[str, float | None]:
    """``sent_at``/``delivered_at``/``read_at`` from the history: null until the stage is reached.

    A message that skipped a stage (UNKNOWN → DELIVERED) gets the later stage's time for the earlier
    one, since reaching DELIVERED implies it was sent.
    """
    history = message.history(now)
    firsts: dict[Status, float] = {}
    for entry in history:
        firsts.setdefault(entry.status, entry.at)
    read = firsts.get(Status.READ)
    delivered = firsts.get(Status.DELIVERED)
    if delivered is None:
        delivered = read if read is not None else firsts.get(Status.DELETED)
    sent = firsts.get(Status.SENT)
    if sent is None and delivered is not None:
        sent = message.created_at
    return {"sent_at": sent, "delivered_at": delivered, "read_at": read}


def render_status(
    message: Message, entry: Entry, profile: Profile, request_id: str, now: float
) -> dict[str, Any]:
    """``GET /whatsapp/messages/{id}`` and ``GET /sms/messages/{id}`` bodies."""
    shape = profile.status_shape
    failure = entry.failure if entry.status.is_failure else None
    status = wire_status(entry.status, profile, shape)
    if shape == "unified":
        body: dict[str, Any] = {
            "request_id": request_id,
            "message_id": message.message_id,
            "status": status,
            "status_message": STATUS_MESSAGES[entry.status],
            "channel_message_id": message.channel_message_id,
            "intercom_conversation_id": message.intercom_conversation_id,
            "intercom_conversation_part_id": message.intercom_conversation_part_id,
        }
        _put_failure(body, failure, profile, shape)
        body["last_updated"] = _ts(message.last_updated(now), profile)
        return body
    if shape == "legacy":
        body = {
            "message_id": message.message_id,
            "status": status,
            "status_message": STATUS_MESSAGES[entry.status],
        }
        _put_failure(body, failure, profile, shape)
        body["last_updated"] = format_timestamp(message.last_updated(now), millis=True)
        body["request_id"] = request_id
        return body
    stages = _stage_times(message, now)
    body = {
        "request_id": request_id,
        "message_id": message.message_id,
        "status": status,
        "phone_number": message.phone,
    }
    if message.channel is Channel.WHATSAPP:
        body["channel_message_id"] = message.channel_message_id
    body["sent_at"] = _ts(stages["sent_at"], profile)
    body["delivered_at"] = _ts(stages["delivered_at"], profile)
    if message.channel is Channel.WHATSAPP:
        body["read_at"] = _ts(stages["read_at"], profile)
    _put_failure(body, failure, profile, shape)
    return body


def render_listing(
    items: list[tuple[Message, Entry]], profile: Profile, request_id: str
) -> list[dict[str, Any]] | dict[str, Any]:
    """``GET /whatsapp/messages``: items are (message, current status), newest first."""
    if profile.listing_shape == "array":
        result: list[dict[str, Any]] = []
        for message, entry in items:
            status: dict[str, Any] = {
                "channel_message_id": message.message_id,
                "message_status": wire_status(entry.status, profile, "array"),
            }
            _put_failure(status, entry.failure if entry.status.is_failure else None, profile, "array")
            result.append(
                {
                    "user_phone_number": message.phone,
                    "created_at": _ts(message.created_at, profile),
                    "message_content": message.content,
                    "message_status": status,
                }
            )
        return result
    messages: list[dict[str, Any]] = []
    for message, entry in items:
        item: dict[str, Any] = {
            "message_id": message.message_id,
            "status": wire_status(entry.status, profile, "object"),
            "phone_number": message.phone,
            "sent_at": _ts(message.created_at, profile),
        }
        _put_failure(item, entry.failure if entry.status.is_failure else None, profile, "object")
        messages.append(item)
    return {"request_id": request_id, "messages": messages}


def render_whatsapp_send(message: Message, request_id: str, status_url: str) -> dict[str, Any]:
    """WhatsApp send (201): the send article's body is truncated; these are the fields the docs name."""
    return {
        "request_id": request_id,
        "message_id": message.message_id,
        "message_status_url": status_url,
        "phone_number": message.phone,
    }


def render_sms_send(message: Message, request_id: str, profile: Profile) -> dict[str, Any]:
    """SMS send (201): the guide's body [14823955], or the legacy one [7052907] (phone without ``+``)."""
    if profile.sms_send_shape == "legacy":
        return {
            "message_id": message.message_id,
            "phone_number": message.phone.lstrip("+"),
            "request_id": request_id,
        }
    return {
        "request_id": request_id,
        "message_id": message.message_id,
        "channel_message_id": message.channel_message_id,
    }

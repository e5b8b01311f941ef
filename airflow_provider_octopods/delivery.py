"""
What "delivered" means, decided once for the sensor (sync, poke mode) and the trigger (async).

The sensor's worker-side check, its poke mode and the trigger all call :func:`judge`, so the three
paths cannot disagree on when a wait is over. The event payload the trigger sends back to the
sensor is also defined here (:class:`DeliveryEvent`), with the set of statuses it may carry.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from airflow_provider_octopods import api
from airflow_provider_octopods.exceptions import (
    OctopodsDeliveryFailed,
    OctopodsError,
    OctopodsValidationError,
)
from airflow_provider_octopods.models import Channel, DeliveryStatus, MessageStatus

__all__ = [
    "DeliveryEvent",
    "EventStatus",
    "Outcome",
    "Verdict",
    "judge",
    "outcome_of",
    "validate_allowed_failures",
    "validate_target",
]

TARGETS = (DeliveryStatus.DELIVERED, DeliveryStatus.READ)

#: The listing is asked once per check or poll, without retries: when it fails, the messages are
#: polled on their own, which retry; after a 429 the key's throttle holds those back all the same.
LISTING_POLICY = api.RetryPolicy(max_retries=0, max_rate_limit_wait=0.0)

#: The docs ask to re-check an UNKNOWN status after 10 to 30 seconds, not sooner.
UNKNOWN_RECHECK = (10.0, 30.0)


class Outcome(StrEnum):
    """Where one message stands against the awaited status."""

    REACHED = "reached"
    FAILED = "failed"
    PENDING = "pending"


def validate_target(
    target_status: object, channel: Channel, parameter: str = "target_status"
) -> DeliveryStatus:
    """DELIVERED or READ; READ only on WhatsApp (SMS has no read receipts)."""
    target = DeliveryStatus.parse(target_status) if isinstance(target_status, str) else None
    if target not in TARGETS:
        raise OctopodsValidationError(
            f"Invalid `{parameter}`: expected 'DELIVERED' or 'READ', got {target_status!r}.",
            parameter=parameter,
        )
    if target is DeliveryStatus.READ and channel is not Channel.WHATSAPP:
        raise OctopodsValidationError(
            f"Invalid `{parameter}`: READ can only be awaited on WhatsApp; SMS reports no read receipts.",
            parameter=parameter,
        )
    return target


def validate_allowed_failures(value: object, parameter: str = "allowed_failures") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OctopodsValidationError(
            f"Invalid `{parameter}`: expected a count of tolerated failures (0 or more), got {value!r}.",
            parameter=parameter,
        )
    return value


def outcome_of(status: DeliveryStatus, target: DeliveryStatus) -> Outcome:
    """
    DELIVERED is reached by DELIVERED, READ or DELETED (only a delivered message can be deleted);
    READ only by READ, and DELETED before READ can never become READ, so it fails.
    """
    if status.is_failure:
        return Outcome.FAILED
    if target is DeliveryStatus.READ:
        if status is DeliveryStatus.READ:
            return Outcome.REACHED
        return Outcome.FAILED if status is DeliveryStatus.DELETED else Outcome.PENDING
    return Outcome.REACHED if status.implies_delivered else Outcome.PENDING


def unknown_recheck_after(poll_interval: float) -> float:
    """The pause before re-checking an UNKNOWN status: ``poll_interval`` within the docs' 10 to 30 s."""
    low, high = UNKNOWN_RECHECK
    return min(max(poll_interval, low), high)


def jittered(pause: float, *, after_unknown: bool) -> float:
    """
    ``pause`` with a little jitter, so thousands of waits do not poll in lockstep.

    An ordinary pause is shortened by up to a tenth (so never past ``poke_interval``); the pause after
    UNKNOWN is lengthened instead, within the docs' bounds, so that re-check never comes before 10 s.
    """
    if after_unknown:
        return min(pause * random.uniform(1.0, 1.1), UNKNOWN_RECHECK[1])
    return pause * random.uniform(0.9, 1.0)


def describe_pending(pending: list[int], statuses: Mapping[int, MessageStatus]) -> str:
    """``101 (SENT), 102 (not checked yet) and 38 more``: what a log line or event says of a wait."""
    shown = ", ".join(
        f"{message_id} ({statuses[message_id].status.value if message_id in statuses else 'not checked yet'})"
        for message_id in pending[:10]
    )
    return shown + (f" and {len(pending) - 10} more" if len(pending) > 10 else "")


def describe_check(
    ids: list[int], statuses: Mapping[int, MessageStatus], target: DeliveryStatus, *, listed: int = 0
) -> str:
    """
    What the sensor's check before deferring found, as the start of its log line.

    The check reads the messages in order and stops at the first one still pending (enough to know
    that the wait goes on), so it names that message instead of the ids it never looked at. With
    ``listed``, that many came from one listing request, which shows every message it holds at once.
    """
    pending = [
        message_id
        for message_id in ids
        if message_id in statuses and outcome_of(statuses[message_id].status, target) is Outcome.PENDING
    ]
    if listed and pending:
        return (
            f"Read {listed} of {len(ids)} messages through one listing request and {len(statuses) - listed} "
            f"on their own: {len(pending)} not yet {target.value}: {describe_pending(pending, statuses)}"
        )
    if len(ids) == 1:
        (message_id,) = ids
        if message_id in statuses:
            status = statuses[message_id].status
            name = channel_name(statuses[message_id].channel)
            return f"{name} message {message_id} is {status.value}, not yet {target.value}"
        return f"Message {message_id} was not checked (rate-limited)"
    checked = f"Checked {len(statuses)} of {len(ids)} messages"
    if not pending:
        return f"{checked} before a rate limit stopped the check"
    first = statuses[pending[0]]
    return f"{checked} and stopped at the first not yet {target.value}: {pending[0]} ({first.status.value})"


def describe_reached(verdict: Verdict, channel: Channel) -> str:
    """``WhatsApp message 101 is DELIVERED: DELIVERED reached.`` (or the count, for a list)."""
    if len(verdict.reached) == 1 and not verdict.failed:
        (status,) = verdict.reached
        return (
            f"{channel_name(channel)} message {status.message_id} is {status.status.value}: "
            f"{verdict.target.value} reached."
        )
    tolerated = f" ({len(verdict.failed)} failed, within allowed_failures)" if verdict.failed else ""
    total = len(verdict.reached) + len(verdict.failed)
    return f"{len(verdict.reached)} of {total} messages reached {verdict.target.value}{tolerated}."


def lacks_failure_code(status: MessageStatus) -> bool:
    """
    A FAILED status without its code, as the object-shaped listing gives it (a reason only): read
    it once more on its own, so the failure carries the code as with per-message polling.
    """
    return status.status.is_failure and status.failure_code is None


def channel_name(channel: Channel) -> str:
    """``WhatsApp`` or ``SMS``, for messages."""
    return "WhatsApp" if channel is Channel.WHATSAPP else "SMS"


def failure_text(status: MessageStatus, target: DeliveryStatus) -> str:
    """``WhatsApp message 98764 FAILED: Re-engagement window expired (code 470).``"""
    name = channel_name(status.channel)
    if status.status is DeliveryStatus.DELETED and target is DeliveryStatus.READ:
        return f"{name} message {status.message_id} was deleted before a read receipt (status DELETED)."
    reason = status.failure_reason or status.status_message or "no reason given"
    code = f" (code {status.failure_code})" if status.failure_code is not None else ""
    return f"{name} message {status.message_id} {status.status.value}: {reason}{code}."


@dataclass(frozen=True)
class Verdict:
    """
    The state of a wait over one or many messages.

    ``done`` is True when the task can end: every message is settled, or more messages failed than
    ``allowed_failures`` (no point waiting for the rest).
    """

    reached: list[MessageStatus]
    failed: list[MessageStatus]
    pending: list[int]
    allowed_failures: int
    target: DeliveryStatus

    @property
    def too_many_failures(self) -> bool:
        return len(self.failed) > self.allowed_failures

    @property
    def done(self) -> bool:
        return self.too_many_failures or not self.pending

    @property
    def succeeded(self) -> bool:
        return self.done and not self.too_many_failures

    def failure_summary(self) -> str:
        details = " ".join(failure_text(status, self.target) for status in self.failed[:5])
        more = f" (and {len(self.failed) - 5} more)" if len(self.failed) > 5 else ""
        if len(self.failed) == 1 and not self.pending and not self.reached:
            return details
        return (
            f"{len(self.failed)} of {len(self.failed) + len(self.reached) + len(self.pending)} messages "
            f"failed, more than the {self.allowed_failures} allowed: {details}{more}"
        )

    def to_exception(self) -> OctopodsDeliveryFailed:
        first = self.failed[0]
        return OctopodsDeliveryFailed(
            self.failure_summary(),
            message_id=first.message_id,
            delivery_status=first.status.value,
            failure_code=first.failure_code,
            failure_reason=first.failure_reason,
        )


def judge(
    message_ids: list[int],
    statuses: Mapping[int, MessageStatus],
    target: DeliveryStatus,
    allowed_failures: int,
) -> Verdict:
    """Sort the known statuses of ``message_ids`` into reached, failed and still pending."""
    reached: list[MessageStatus] = []
    failed: list[MessageStatus] = []
    pending: list[int] = []
    for message_id in message_ids:
        status = statuses.get(message_id)
        outcome = Outcome.PENDING if status is None else outcome_of(status.status, target)
        if outcome is Outcome.REACHED:
            reached.append(status)  # type: ignore[arg-type]
        elif outcome is Outcome.FAILED:
            failed.append(status)  # type: ignore[arg-type]
        else:
            pending.append(message_id)
    return Verdict(reached, failed, pending, allowed_failures, target)


# --------------------------------------------------------------------------------------------------
# The trigger's event
# --------------------------------------------------------------------------------------------------


class EventStatus(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True)
class DeliveryEvent:
    """
    The one event a :class:`~airflow_provider_octopods.triggers.delivery.MessageDeliveryTrigger` yields.

    JSON-native both ways (``to_payload`` / ``from_payload``); it carries statuses, ids and error
    metadata, never a key.
    """

    status: EventStatus
    message: str
    results: list[dict[str, Any]] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    error: dict[str, Any] | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "message": self.message,
            "results": self.results,
            "pending": self.pending,
            "error": self.error,
        }

    @classmethod
    def from_payload(cls, payload: object) -> DeliveryEvent:
        """Validate what ``execute_complete`` received; a missing or unknown status fails loudly."""
        if not isinstance(payload, Mapping):
            raise OctopodsError(
                f"MessageDeliverySensor resumed without a trigger event (got {type(payload).__name__}); "
                "the wait cannot be judged."
            )
        try:
            status = EventStatus(str(payload.get("status")))
        except ValueError:
            raise OctopodsError(
                f"MessageDeliverySensor resumed with an event of unknown status {payload.get('status')!r}; "
                f"expected one of {[member.value for member in EventStatus]}."
            ) from None
        return cls(
            status=status,
            message=str(payload.get("message") or ""),
            results=list(payload.get("results") or []),
            pending=[int(item) for item in payload.get("pending") or []],
            error=payload.get("error") if isinstance(payload.get("error"), Mapping) else None,
        )

    def to_exception(self) -> OctopodsError:
        """The typed error the trigger met, rebuilt on the worker (see :meth:`OctopodsError.from_event`)."""
        return OctopodsError.from_event({"message": self.message, **(self.error or {})})

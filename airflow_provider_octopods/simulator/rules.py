"""Recipient rules: how a message to a given phone number progresses, by documented default.

A rule matches a channel and a phone number (exactly, or by its last digits) and gives a sequence of
:class:`Step` s. Each step says which status the message reaches and how long after the previous
step, either in seconds or by the name of a configurable timing (``deliver``, ``read``, ``queue``,
``unknown``) so the same rules work with the fast timings tests use. The first matching rule wins;
a message that matches none follows its channel's default progression.

The default rules are part of the simulator's documented contract (docs/simulator.md): users write
tests against "+1555000**0470** fails with 470", so they must stay stable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .statuses import Channel, Failure, Status

#: Names a step's ``after`` may use instead of seconds; resolved against the current timings.
TIMING_NAMES = ("deliver", "read", "queue", "unknown")


@dataclass(frozen=True)
class Step:
    """Reach ``status`` ``after`` the previous step (seconds, or a timing name), optionally failing."""

    status: Status
    after: float | str = 0.0
    failure: Failure | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status.value, "after": self.after}
        if self.failure is not None:
            data["failure_reason"] = self.failure.title
            data["failure_code"] = self.failure.code
        return data

    @classmethod
    def from_value(cls, value: object) -> Step:
        """``"DELIVERED"`` or ``{"status", "after": 2 | "deliver", "failure_reason", "failure_code"}``."""
        if isinstance(value, str):
            return cls(Status.parse(value))
        if not isinstance(value, Mapping):
            raise ValueError("a step is a status name or an object with 'status'")
        if "status" not in value:
            raise ValueError("a step needs a 'status'")
        after = value.get("after", 0.0)
        if isinstance(after, bool) or not isinstance(after, int | float | str):
            raise ValueError("a step's 'after' is seconds or one of " + ", ".join(TIMING_NAMES))
        if isinstance(after, str) and after not in TIMING_NAMES:
            try:
                after = float(after)
            except ValueError:
                raise ValueError("a step's 'after' is seconds or one of " + ", ".join(TIMING_NAMES)) from None
        if isinstance(after, int | float) and after < 0:
            raise ValueError("a step's 'after' cannot be negative")
        failure = Failure.from_fields(value.get("failure_reason"), value.get("failure_code"))
        return cls(
            Status.parse(str(value["status"])), float(after) if not isinstance(after, str) else after, failure
        )


def steps_from(values: Iterable[object]) -> tuple[Step, ...]:
    """Parse a list of steps; at least one is required."""
    steps = tuple(Step.from_value(v) for v in values)
    if not steps:
        raise ValueError("at least one step is required")
    return steps


@dataclass(frozen=True)
class RecipientRule:
    """Send-to-this-number-and-this-happens. ``channel`` is ``whatsapp``, ``sms`` or ``any``."""

    name: str
    steps: tuple[Step, ...]
    channel: str = "any"
    suffix: str | None = None
    exact: str | None = None
    description: str = ""

    def matches(self, channel: Channel, phone: str) -> bool:
        if self.channel != "any" and self.channel != channel.value:
            return False
        if self.exact is not None:
            return phone == self.exact
        if self.suffix is not None:
            return phone.endswith(self.suffix)
        return True

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "channel": self.channel}
        if self.exact is not None:
            data["exact"] = self.exact
        if self.suffix is not None:
            data["suffix"] = self.suffix
        data["steps"] = [s.to_dict() for s in self.steps]
        data["description"] = self.description
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecipientRule:
        channel = str(data.get("channel", "any")).lower()
        if channel not in ("any", "whatsapp", "sms"):
            raise ValueError("a rule's channel is 'whatsapp', 'sms' or 'any'")
        exact, suffix = data.get("exact"), data.get("suffix")
        if exact is None and suffix is None:
            raise ValueError("a rule needs 'exact' (a full number) or 'suffix' (its last digits)")
        return cls(
            name=str(data.get("name") or exact or f"*{suffix}"),
            steps=steps_from(data.get("steps") or []),
            channel=channel,
            suffix=None if suffix is None else str(suffix),
            exact=None if exact is None else str(exact),
            description=str(data.get("description", "")),
        )


@dataclass(frozen=True)
class Timing:
    """Durations the named step delays resolve to. ``read_after=None`` means WhatsApp never reports READ."""

    deliver_after: float = 2.0
    read_after: float | None = 5.0
    jitter: float = 0.2
    sms_queue_for: float = 0.5
    unknown_window: float = 12.0

    def resolve(self, after: float | str) -> float | None:
        """Seconds for a step delay; ``None`` when the step is switched off (``read``, no read receipts)."""
        if not isinstance(after, str):
            return after
        value = {
            "deliver": self.deliver_after,
            "read": self.read_after,
            "queue": self.sms_queue_for,
            "unknown": self.unknown_window,
        }[after]
        if value is None or value < 0:
            return None
        return value

    def to_dict(self) -> dict[str, Any]:
        return {
            "deliver_after": self.deliver_after,
            "read_after": self.read_after,
            "jitter": self.jitter,
            "sms_queue_for": self.sms_queue_for,
            "unknown_window": self.unknown_window,
        }


def default_steps(channel: Channel) -> tuple[Step, ...]:
    """The happy path: WhatsApp SENT → DELIVERED → READ; SMS QUEUED → SENT → DELIVERED."""
    if channel is Channel.WHATSAPP:
        return (Step(Status.SENT), Step(Status.DELIVERED, "deliver"), Step(Status.READ, "read"))
    return (Step(Status.QUEUED), Step(Status.SENT, "queue"), Step(Status.DELIVERED, "deliver"))


RE_ENGAGEMENT = Failure("Re-engagement window expired", 470)
NOT_ON_WHATSAPP = Failure("Recipient is not a WhatsApp user.")
SMS_UNREACHABLE = Failure("Unreachable destination handset", 30003)
SMS_LANDLINE = Failure("Landline or unreachable carrier", 30006)


def default_rules() -> list[RecipientRule]:
    """The documented, stable default rules (first match wins)."""
    return [
        RecipientRule(
            "whatsapp-re-engagement-expired",
            (Step(Status.SENT), Step(Status.FAILED, "deliver", RE_ENGAGEMENT)),
            channel="whatsapp",
            suffix="0470",
            description="SENT, then FAILED with {code: 470, title: 'Re-engagement window expired'}.",
        ),
        RecipientRule(
            "whatsapp-not-a-whatsapp-user",
            (Step(Status.FAILED, 0.0, NOT_ON_WHATSAPP),),
            channel="whatsapp",
            suffix="0001",
            description="FAILED at once: 'Recipient is not a WhatsApp user.' (no code).",
        ),
        RecipientRule(
            "whatsapp-delivered-no-read-receipts",
            (Step(Status.SENT), Step(Status.DELIVERED, "deliver")),
            channel="whatsapp",
            suffix="0004",
            description="SENT, DELIVERED, never READ (read receipts switched off).",
        ),
        RecipientRule(
            "stuck-sent",
            (Step(Status.SENT),),
            channel="any",
            suffix="0007",
            description="SENT forever (WhatsApp and SMS): for timeout tests.",
        ),
        RecipientRule(
            "whatsapp-deleted",
            (Step(Status.SENT), Step(Status.DELIVERED, "deliver"), Step(Status.DELETED, "deliver")),
            channel="whatsapp",
            suffix="0008",
            description="SENT, DELIVERED, then DELETED by the recipient.",
        ),
        RecipientRule(
            "whatsapp-unknown-window",
            (Step(Status.UNKNOWN), Step(Status.DELIVERED, "unknown")),
            channel="whatsapp",
            suffix="0009",
            description="UNKNOWN for the unknown window (default 12 s), then DELIVERED.",
        ),
        RecipientRule(
            "sms-undelivered",
            (
                Step(Status.QUEUED),
                Step(Status.SENT, "queue"),
                Step(Status.UNDELIVERED, "deliver", SMS_UNREACHABLE),
            ),
            channel="sms",
            suffix="0002",
            description="QUEUED, SENT, then UNDELIVERED {code: 30003, 'Unreachable destination handset'}.",
        ),
        RecipientRule(
            "sms-failed",
            (Step(Status.QUEUED), Step(Status.FAILED, "queue", SMS_LANDLINE)),
            channel="sms",
            suffix="0003",
            description="QUEUED, then FAILED {code: 30006, title: 'Landline or unreachable carrier'}.",
        ),
    ]


def steps_for(rules: Sequence[RecipientRule], channel: Channel, phone: str) -> tuple[tuple[Step, ...], str]:
    """The first matching rule's steps (and its name), else the channel's default progression."""
    for rule in rules:
        if rule.matches(channel, phone):
            return rule.steps, rule.name
    return default_steps(channel), "default"

"""Traffic from other senders on the same WhatsApp key, laid out over a period up front.

A WhatsApp number is rarely used by one system alone: other integrations send through the same
key, so the listing (the newest 100 messages of the key's owner) rolls over while a client waits
for its own messages. Traffic adds such messages in one call, each with its own ``created_at`` on
an even (or seeded random) spacing over a period, with optional bursts. The store hides a message
until the simulated clock reaches its ``created_at`` (see :mod:`.state`), so a test can lay out a
day of traffic and advance the clock through it, and a benchmark can start with a busy channel.

Nothing runs in the background: the layout is fixed when the traffic is added, and is the same for
the same seed and the same calls, like the status progressions.

This module only reads and plans a traffic request (:class:`TrafficSpec`); the core creates the
messages. ``parse_traffic_option`` reads the command line's ``--traffic`` shorthand.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .clock import parse_timestamp
from .seeding import PROGRESSION_FIELDS, progression_kwargs
from .statuses import Channel
from .validation import is_e164

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Mapping

#: The most messages one traffic call may add: a guard against a rate and a period that multiply
#: into more messages than the machine holds (each is a few hundred bytes).
MAX_MESSAGES = 1_000_000
#: Seconds the base layer covers when no ``duration`` is given.
DEFAULT_DURATION = 3600.0
#: +1 999 is not an assigned North American area code: generated numbers are never a real phone and
#: never one of your own test numbers.
DEFAULT_PHONE_PREFIX = "+1999"
#: Digits of the counter after the prefix in generated numbers.
PHONE_COUNTER_DIGITS = 7
#: The shipped template traffic renders its content from by default (``order_shipped_v1``).
DEFAULT_TEMPLATE_ID = 84579
SPACINGS = ("even", "random")
#: How far apart messages laid out at the same instant are moved: the admin view's resolution.
NUDGE = 1e-6
#: Above this many messages, the answer gives the first and last id instead of every id.
LIST_IDS_UP_TO = 1000

#: Fields of a traffic request that :class:`TrafficSpec` reads (progression and owner fields are
#: read by the core).
SPEC_FIELDS = frozenset(
    {
        "count",
        "rate",
        "start",
        "duration",
        "period",
        "bursts",
        "spacing",
        "seed",
        "phones",
        "phone_prefix",
        "template_id",
        "message_variables",
        "content",
    }
)
#: Everything a traffic request may hold. ``history`` is left out: its times are absolute, while
#: each traffic message starts at its own ``created_at`` (``steps`` say the same thing relative to it).
FIELDS = SPEC_FIELDS | (PROGRESSION_FIELDS - {"history"}) | {"key", "owner"}
#: Latest time a message may be laid out at (the end of year 9999), so every ``created_at`` prints.
LATEST = 253402300799.0
_BURST_FIELDS = frozenset({"start", "offset", "duration", "period", "count", "rate"})
_PREFIX = re.compile(r"^\+[1-9][0-9]{0,7}$")
_RELATIVE = re.compile(r"^now\s*(?:([+-])\s*([0-9]+(?:\.[0-9]*)?))?$", re.IGNORECASE)


# -- reading values ----------------------------------------------------------------------------


def _number(data: Mapping[str, Any], name: str, where: str) -> float | None:
    """A finite JSON number, or ``None`` when absent (booleans and strings are refused)."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}{name} must be a number; got {value!r}")
    return float(value)


def _positive(data: Mapping[str, Any], name: str, where: str) -> float | None:
    value = _number(data, name, where)
    if value is not None and value <= 0:
        raise ValueError(f"{where}{name} must be greater than 0; got {data[name]!r}")
    return value


def _count(data: Mapping[str, Any], where: str) -> int | None:
    value = data.get("count")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}count must be a whole number of messages (0 or more); got {value!r}")
    return value


def _duration(data: Mapping[str, Any], where: str, default: float | None) -> float:
    """``duration`` (or its alias ``period``) in seconds, > 0."""
    if data.get("duration") is not None and data.get("period") is not None:
        raise ValueError(f"{where}give duration or period (the same thing), not both")
    name = "duration" if data.get("period") is None else "period"
    value = _positive(data, name, where)
    if value is not None:
        return value
    if default is None:
        raise ValueError(f"{where}duration (seconds) is required")
    return default


def parse_start(value: object, now: float, where: str = "") -> float:
    """``created_at`` of the first message: ISO 8601, epoch seconds, ``now`` or ``now±SECONDS``."""
    if value is None:
        return now
    if isinstance(value, str):
        relative = _RELATIVE.match(value.strip())
        if relative:
            sign, amount = relative.groups()
            offset = float(amount) if amount else 0.0
            return now - offset if sign == "-" else now + offset
    try:
        result = parse_timestamp(value)
    except ValueError:
        raise ValueError(
            f"{where}start must be ISO 8601, epoch seconds, 'now' or 'now-SECONDS'; got {value!r}"
        ) from None
    if not math.isfinite(result):
        raise ValueError(f"{where}start must be a finite time; got {value!r}")
    return result


def rate_count(rate: float, duration: float) -> int:
    """Messages at ``rate`` per second over ``duration`` seconds: those at 0, 1/rate, ... before the end.

    The tolerance keeps float noise (0.1 * 30 = 3.0000000000000004) from adding a message.
    """
    return max(0, math.ceil(rate * duration - 1e-9))


# -- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """``count`` messages from ``start`` over ``duration`` seconds, ``step`` apart when evenly spaced."""

    start: float
    duration: float
    count: int
    step: float

    def times(self, spacing: str, rng: random.Random) -> list[float]:
        """``created_at`` of each message: evenly spaced from ``start``, or seeded uniform draws."""
        if spacing == "random":
            return sorted(self.start + rng.random() * self.duration for _ in range(self.count))
        return [self.start + i * self.step for i in range(self.count)]

    def describe(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 6),
            "end": round(self.start + self.duration, 6),
            "count": self.count,
        }

    @classmethod
    def of(cls, data: Mapping[str, Any], start: float, duration: float, where: str) -> Window | None:
        """The window ``count`` or ``rate`` describe, or ``None`` when neither is given."""
        if start < 0 or start + duration > LATEST:
            raise ValueError(
                f"{where}start and duration must put the window between 1970 and the end of 9999"
            )
        count = _count(data, where)
        rate = _positive(data, "rate", where)
        if count is not None and rate is not None:
            raise ValueError(f"{where}give count or rate, not both")
        if rate is not None:
            return cls(start, duration, rate_count(rate, duration), 1.0 / rate)
        if count is None:
            return None
        return cls(start, duration, count, duration / count if count else duration)


def _burst(item: object, index: int, start: float, now: float) -> Window:
    where = f"bursts[{index}]."
    if not isinstance(item, dict):
        raise ValueError(f"bursts[{index}] must be an object with start or offset, duration, count or rate")
    unknown = set(item) - _BURST_FIELDS
    if unknown:
        raise ValueError(f"{where[:-1]} has unknown fields: {', '.join(sorted(unknown))}")
    if item.get("start") is not None and item.get("offset") is not None:
        raise ValueError(f"{where}give start (a time) or offset (seconds after the traffic start), not both")
    if item.get("start") is not None:
        begin = parse_start(item["start"], now, where)
    else:
        begin = start + (_number(item, "offset", where) or 0.0)
    window = Window.of(item, begin, _duration(item, where, None), where)
    if window is None:
        raise ValueError(f"{where}count or rate is required")
    return window


def strictly_increasing(times: list[float]) -> list[float]:
    """Sorted, with equal times nudged apart by a microsecond (:data:`NUDGE`).

    Two layers (the base and a burst) can put messages at the same instant; the listing orders by
    ``created_at``, so each message gets its own, and one the admin view (6 decimals) can show.
    """
    result: list[float] = []
    previous = -math.inf
    for value in sorted(times):
        current = value if value > previous else previous + NUDGE
        result.append(current)
        previous = current
    return result


@dataclass(frozen=True)
class TrafficSpec:
    """A traffic request, read and checked: when the messages are created, to whom, with what content."""

    windows: tuple[Window, ...]
    start: float
    spacing: str = "even"
    seed: str | None = None
    phones: tuple[str, ...] = ()
    phone_prefix: str = DEFAULT_PHONE_PREFIX
    template: str | None = str(DEFAULT_TEMPLATE_ID)
    message_variables: object = None
    content: str | None = None

    @property
    def total(self) -> int:
        return sum(w.count for w in self.windows)

    def created_times(self, rng: random.Random) -> list[float]:
        """Every message's ``created_at``, strictly increasing."""
        times: list[float] = []
        for window in self.windows:
            times.extend(window.times(self.spacing, rng))
        return strictly_increasing(times)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], now: float) -> TrafficSpec:
        """Read the timing, phone and content fields (other fields are left to the caller)."""
        start = parse_start(data.get("start"), now)
        base = Window.of(data, start, _duration(data, "", DEFAULT_DURATION), "")
        bursts = data.get("bursts") or []
        if not isinstance(bursts, list):
            raise ValueError("bursts must be a list of {start or offset, duration, count or rate} objects")
        windows = [base] if base is not None else []
        windows.extend(_burst(item, i, start, now) for i, item in enumerate(bursts))
        if not windows:
            raise ValueError("give count or rate (messages over duration seconds), or bursts")
        spec = cls(
            windows=tuple(windows),
            start=start,
            spacing=_spacing(data.get("spacing")),
            seed=None if data.get("seed") is None else str(data["seed"]),
            phones=_phones(data.get("phones")),
            phone_prefix=_phone_prefix(data.get("phone_prefix")),
            template=_template_ref(data),
            message_variables=data.get("message_variables"),
            content=None if data.get("content") is None else str(data["content"]),
        )
        if spec.total == 0:
            raise ValueError("this traffic adds no messages: give a count above 0, a rate, or bursts")
        if spec.total > MAX_MESSAGES:
            raise ValueError(
                f"this traffic would add {spec.total} messages; one call adds at most {MAX_MESSAGES}"
            )
        return spec


def read_traffic(data: object, now: float) -> tuple[TrafficSpec, dict[str, Any]]:
    """Check a whole traffic request: the plan, and the progression keyword arguments for each message.

    Raises ``ValueError`` naming the field at fault (a 400 on the admin API, a usage error on the
    command line). The owner (``key``/``owner``) and the template are checked by the core, which
    knows the keys and templates.
    """
    if not isinstance(data, dict):
        raise ValueError("traffic is a JSON object")
    unknown = set(data) - FIELDS
    if unknown:
        raise ValueError(f"unknown traffic fields: {', '.join(sorted(unknown))}")
    return TrafficSpec.from_dict(data, now), progression_kwargs(data, Channel.WHATSAPP)


def _spacing(value: object) -> str:
    spacing = "even" if value is None else str(value).strip().lower()
    if spacing not in SPACINGS:
        raise ValueError(f"spacing is 'even' (the default) or 'random' (seeded); got {value!r}")
    return spacing


def _phones(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise ValueError("phones must be a non-empty list of E.164 numbers")
    for phone in value:
        if not isinstance(phone, str) or not is_e164(phone):
            raise ValueError(f"phones must be E.164 numbers such as +14155552671; got {phone!r}")
    return tuple(value)


def _phone_prefix(value: object) -> str:
    if value is None:
        return DEFAULT_PHONE_PREFIX
    if not isinstance(value, str) or not _PREFIX.match(value):
        raise ValueError(
            "phone_prefix must be '+' and 1 to 8 digits, the first not 0 (a 7-digit counter follows); "
            f"got {value!r}"
        )
    return value


def _template_ref(data: Mapping[str, Any]) -> str | None:
    """The template (id or name) the content is rendered from; none for ``content`` without one."""
    value = data.get("template_id")
    if value is None:
        return None if data.get("content") is not None else str(DEFAULT_TEMPLATE_ID)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        raise ValueError(f"template_id must be a template's id or name; got {value!r}")
    return str(value).strip()


# -- phone numbers -----------------------------------------------------------------------------


def generated_phones(
    prefix: str, first: int, count: int, claimed: Callable[[str], bool]
) -> tuple[list[str], int]:
    """``count`` distinct numbers ``prefix`` + a 7-digit counter from ``first``; returns them and the
    next counter value.

    Numbers a recipient rule ``claimed`` are skipped, so generated traffic follows the default
    progression (``…0470`` would otherwise fail every 10,000th message with 470).
    """
    phones: list[str] = []
    counter = first
    limit = 10**PHONE_COUNTER_DIGITS
    while len(phones) < count:
        if counter >= limit:
            raise ValueError(
                "the generated phone numbers for traffic ran out: give phones or another phone_prefix"
            )
        phone = f"{prefix}{counter:0{PHONE_COUNTER_DIGITS}d}"
        counter += 1
        if not claimed(phone):
            phones.append(phone)
    return phones, counter


# -- the command line --------------------------------------------------------------------------

_CLI_NUMBERS = {"count": int, "rate": float, "duration": float, "period": float}
_CLI_TEXT = {"start", "spacing", "seed", "phone_prefix", "progression", "status", "key", "content"}


def _cli_number(name: str, text: str) -> int | float:
    try:
        return _CLI_NUMBERS[name](text)
    except ValueError:
        raise ValueError(f"--traffic {name} must be a number; got {text!r}") from None


def _cli_start(text: str) -> str | float:
    try:
        return float(text)
    except ValueError:
        return text


def _cli_burst(text: str) -> dict[str, Any]:
    """``COUNT:OFFSET:DURATION`` (or ``RATE/s:OFFSET:DURATION``) → a burst object."""
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"--traffic burst is COUNT:OFFSET:DURATION (e.g. 400:36000:3600); got {text!r}")
    amount, offset, duration = (p.strip() for p in parts)
    burst: dict[str, Any] = {"offset": _cli_number("duration", offset)}
    burst["duration"] = _cli_number("duration", duration)
    if amount.endswith("/s"):
        burst["rate"] = _cli_number("rate", amount[:-2])
    else:
        burst["count"] = _cli_number("count", amount)
    return burst


def parse_traffic_option(text: str) -> dict[str, Any]:
    """The ``--traffic`` option: ``RATE[,DURATION[,START]][,key=value,...]`` or a JSON object.

    Keys: ``count``, ``rate``, ``duration``, ``start``, ``spacing``, ``seed``, ``phone_prefix``,
    ``template`` (``template_id``), ``progression``, ``status``, ``key``, ``content`` and the
    repeatable ``burst=COUNT:OFFSET:DURATION``. The JSON form is the admin API's body as is.
    """
    stripped = text.strip()
    if stripped.startswith("{"):
        data = json.loads(stripped)
        if not isinstance(data, dict):
            raise ValueError("--traffic JSON must be an object")
        return data
    result: dict[str, Any] = {}
    positional = ("rate", "duration", "start")
    position = 0
    for raw in stripped.split(","):
        item = raw.strip()
        if not item:
            raise ValueError(f"--traffic has an empty item: {text!r}")
        name, sep, value = item.partition("=")
        if not sep:
            if position >= len(positional):
                raise ValueError(
                    f"--traffic takes at most RATE,DURATION,START before key=value items: {text!r}"
                )
            name, value = positional[position], item
            position += 1
        name, value = name.strip().lower(), value.strip()
        if name == "burst":
            result.setdefault("bursts", []).append(_cli_burst(value))
        elif name in _CLI_NUMBERS:
            result[name] = _cli_number(name, value)
        elif name in ("template", "template_id"):
            result["template_id"] = value
        elif name == "start":
            result["start"] = _cli_start(value)
        elif name in _CLI_TEXT:
            result[name] = value
        else:
            raise ValueError(f"--traffic has an unknown item {name!r}")
    return result

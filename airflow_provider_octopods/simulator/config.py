"""Everything a simulator is started with, in one dataclass shared by the CLI, Python API and fixture."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .faults import Fault, parse_fault_spec
from .profiles import Profile
from .ratelimit import RateLimit
from .rules import RecipientRule, Timing, default_rules
from .templates import Template, default_templates, find_template
from .traffic import parse_start, parse_traffic_option, read_traffic

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass
class SimulatorConfig:
    """Start-up configuration; ``reset`` returns a running simulator to exactly this.

    ``read_after`` of ``None`` or a negative number switches READ off. ``templates``/``rules`` of
    ``None`` mean the shipped defaults; both also accept plain dicts (the admin/JSON form), and
    ``profile`` accepts a :class:`Profile`, a dict of options or a ``key=value,...`` string.
    ``faults`` takes fault objects (dicts as the admin API takes them) or CLI strings such as
    ``"status:503:ratio=0.1"``. ``traffic`` takes traffic requests (dicts as the admin API takes
    them) or ``--traffic`` strings such as ``"0.5,86400,now-86400"``; they are laid out at start-up
    and again on every ``reset``, from the clock at that moment. ``clock_start`` starts the simulated
    clock at another time than the wall clock's (ISO 8601, epoch seconds, or ``"now-SECONDS"``
    relative to the wall clock at start-up and at every ``reset``), from where it runs at wall speed.
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 0
    whatsapp_api_key: str | None = None
    channel_api_key: str | None = None
    profile: Profile = field(default_factory=Profile)
    deliver_after: float = 2.0
    read_after: float | None = 5.0
    jitter: float = 0.2
    sms_queue_for: float = 0.5
    unknown_window: float = 12.0
    rate_limit: float | None = None
    rate_burst: int | None = None
    faults: list[Any] = field(default_factory=list)
    templates: list[Any] | None = None
    rules: list[Any] | None = None
    traffic: list[Any] = field(default_factory=list)
    keepalive_timeout: float = 300.0
    backlog: int = 4096
    shutdown_timeout: float = 1.0
    public_base_url: str | None = None
    first_message_id: int = 100001
    account_phone_number: str = "+15551234567"
    clock_start: str | float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.profile, Profile):
            self.profile = Profile.from_options(self.profile)
        if self.read_after is not None and self.read_after < 0:
            self.read_after = None
        for name in ("deliver_after", "sms_queue_for", "unknown_window"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter is a fraction in [0, 1)")
        if self.templates is not None:
            self.templates = [t if isinstance(t, Template) else Template.from_dict(t) for t in self.templates]
        if self.rules is not None:
            self.rules = [
                r if isinstance(r, RecipientRule) else RecipientRule.from_dict(r) for r in self.rules
            ]
        self.faults = [parse_fault_spec(f) if isinstance(f, str) else dict(f) for f in self.faults]
        for fault in self.faults:
            Fault.from_dict(fault)  # validate early: a typo should fail at start, not on first request
        self.rate()  # validate
        self.clock_start_at(time.time())  # validate
        self.traffic = [parse_traffic_option(t) if isinstance(t, str) else dict(t) for t in self.traffic]
        self._check_traffic()

    def _check_traffic(self) -> None:
        """Refuse a bad traffic request at start, with its message, rather than from inside the server."""
        templates = {t.template_id: t for t in self.initial_templates()}
        for item in self.traffic:
            spec, _ = read_traffic(item, time.time())
            if spec.template is not None and find_template(templates, spec.template) is None:
                raise ValueError(f"traffic: no template {spec.template}")

    def clock_start_at(self, now: float) -> float | None:
        """Where the simulated clock starts when the wall clock reads ``now`` (None: the wall clock)."""
        if self.clock_start is None:
            return None
        if isinstance(self.clock_start, bool) or not isinstance(self.clock_start, str | int | float):
            raise ValueError(
                f"clock_start must be ISO 8601, epoch seconds or 'now-SECONDS'; got {self.clock_start!r}"
            )
        return parse_start(self.clock_start, now, "clock_")

    def timing(self) -> Timing:
        return Timing(
            deliver_after=self.deliver_after,
            read_after=self.read_after,
            jitter=self.jitter,
            sms_queue_for=self.sms_queue_for,
            unknown_window=self.unknown_window,
        )

    def rate(self) -> RateLimit | None:
        if self.rate_limit is None or self.rate_limit <= 0:
            return None
        return RateLimit.of(self.rate_limit, self.rate_burst)

    def initial_templates(self) -> list[Template]:
        return list(self.templates) if self.templates is not None else default_templates()

    def initial_rules(self) -> list[RecipientRule]:
        return list(self.rules) if self.rules is not None else default_rules()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SimulatorConfig:
        """Build from keyword options (the fixture marker and the Python API use this)."""
        return cls(**dict(data))

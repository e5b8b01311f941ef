"""The simulator's state in one object: keys, messages, templates, rules, profile, limits, faults, stats.

Handlers (``app.py``) and the admin API (``admin.py``) only ever touch state through the event loop
that serves them, so nothing here needs a lock. ``reset`` puts everything back to the start-up
configuration, which is what a test wants between cases.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .clock import Clock
from .faults import Fault, FaultInjector
from .keys import KeyFamily, KeyRing
from .profiles import Profile, parse_profile_text
from .ratelimit import RateLimiter
from .rules import RecipientRule, Step, Timing, steps_for
from .state import Entry, Message, MessageStore, Mode, ScriptItem, build_schedule
from .stats import Stats
from .statuses import Channel, Failure, Status

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .config import SimulatorConfig
    from .templates import Template

_PROFILE_CACHE_SIZE = 64


class SimulatorCore:
    """All mutable state of one simulator."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.clock = Clock()
        self.stats = Stats(self.clock.now())
        self.base_url = f"http://{config.host}:{config.port}"
        self._load()

    def _load(self) -> None:
        config = self.config
        self.keys = KeyRing(
            seed=config.seed, whatsapp_key=config.whatsapp_api_key, channel_key=config.channel_api_key
        )
        self.store = MessageStore(config.first_message_id)
        self.templates: dict[int, Template] = {t.template_id: t for t in config.initial_templates()}
        self.rules: list[RecipientRule] = config.initial_rules()
        self.profile: Profile = config.profile
        self.timing: Timing = config.timing()
        self.limiter = RateLimiter(config.rate())
        self.faults = FaultInjector(config.seed)
        for spec in config.faults:
            self.faults.add(Fault.from_dict(spec))
        self._request_ids = random.Random(f"{config.seed}:request-ids")
        self._profiles: dict[tuple[Profile, str], Profile] = {}

    def reset(self) -> None:
        """Back to the start-up configuration: messages, keys, profile, limits, faults, clock, stats."""
        self.clock.reset()
        self._load()
        self.stats.reset(self.clock.now())

    def now(self) -> float:
        return self.clock.now()

    # -- per-request helpers -----------------------------------------------------------------

    def new_request_id(self) -> str:
        """A UUID4-shaped id, from a seeded stream so runs with one seed give the same ids."""
        return str(uuid.UUID(int=self._request_ids.getrandbits(128), version=4))

    def profile_for(self, header: str | None) -> Profile:
        """The server profile, overridden by an ``X-Octopods-Sim-Profile`` header if present."""
        if not header or not header.strip():
            return self.profile
        cache_key = (self.profile, header.strip())
        cached = self._profiles.get(cache_key)
        if cached is None:
            cached = self.profile.with_options(parse_profile_text(cache_key[1]))
            if len(self._profiles) >= _PROFILE_CACHE_SIZE:
                self._profiles.clear()
            self._profiles[cache_key] = cached
        return cached

    def set_profile(self, options: dict[str, Any], *, replace: bool = False) -> Profile:
        base = Profile() if replace else self.profile
        self.profile = base.with_options(options)
        return self.profile

    def status_url(self, channel: Channel, message_id: int) -> str:
        base = (self.config.public_base_url or self.base_url).rstrip("/")
        return f"{base}/api/v1/{channel.value}/messages/{message_id}"

    def owner_of(self, family: KeyFamily, key: str | None) -> str:
        """Owner for admin-seeded messages: the named key's, else the family's primary key's."""
        if key is None:
            return self.keys.primary(family).owner
        found = self.keys.lookup(key)
        if found is None:
            raise ValueError("no such API key")
        return found.owner

    # -- messages ----------------------------------------------------------------------------

    def _channel_message_id(self, channel: Channel, message_id: int) -> str:
        """The provider's id: a ``wamid.`` for WhatsApp, a Twilio-style ``SM…`` sid for SMS."""
        digest = hashlib.sha256(f"{self.config.seed}:{channel.value}:{message_id}".encode()).digest()
        if channel is Channel.WHATSAPP:
            return "wamid." + base64.urlsafe_b64encode(digest[:27]).decode().rstrip("=")
        return "SM" + digest[:16].hex()

    def create_message(
        self,
        *,
        channel: Channel,
        owner: str,
        phone: str,
        content: str,
        created_at: float | None = None,
        source: str = "api",
        template_id: int | None = None,
        steps: Sequence[Step] | None = None,
        script: Sequence[ScriptItem] | None = None,
        history: Sequence[Entry] | None = None,
        status: Status | None = None,
        failure: Failure | None = None,
        open_conversation: bool = False,
        destination_user_name: str | None = None,
        intercom_teammate_id: str | None = None,
        header_attachment_url: str | None = None,
    ) -> Message:
        """Make and store a message. Without steps/script/history/status it follows the recipient rules."""
        message_id = self.store.allocate_id()
        start = self.now() if created_at is None else created_at
        rule = "explicit"
        mode = Mode.TIMED
        schedule: list[Entry] = []
        recorded: list[Entry] = []
        script_items: list[ScriptItem] = []
        if script:
            mode, rule, script_items = Mode.SCRIPTED, "script", list(script)
        elif history:
            mode, recorded = Mode.FIXED, sorted(history, key=lambda e: e.at)
        elif status is not None:
            mode, recorded = Mode.FIXED, [Entry(status, start, failure if status.is_failure else None)]
        else:
            if steps is None:
                steps, rule = steps_for(self.rules, channel, phone)
            rng = random.Random(f"{self.config.seed}:{message_id}")
            schedule = build_schedule(steps, start, self.timing, rng)
        conversation = part = ""
        if open_conversation:
            conversation = str(7_000_000 + message_id)
            part = str(9_000_000_000 + message_id)
        message = Message(
            message_id=message_id,
            channel=channel,
            owner=owner,
            phone=phone,
            content=content,
            created_at=start,
            channel_message_id=self._channel_message_id(channel, message_id),
            mode=mode,
            source=source,
            rule=rule,
            template_id=template_id,
            destination_user_name=destination_user_name,
            intercom_teammate_id=intercom_teammate_id,
            intercom_conversation_id=conversation,
            intercom_conversation_part_id=part,
            header_attachment_url=header_attachment_url,
            default_failure=failure,
            schedule=schedule,
            script=script_items,
            recorded=recorded,
        )
        self.store.add(message)
        return message

    def describe_messages(self) -> dict[str, Any]:
        """Per message: channel, phone, current status and its history with epoch times."""
        now = self.now()
        result: dict[str, Any] = {}
        for message in self.store.all():
            entry = message.current(now)
            result[str(message.message_id)] = {
                "channel": message.channel.value,
                "phone_number": message.phone,
                "status": entry.status.value,
                "mode": message.mode.value,
                "created_at": round(message.created_at, 6),
                "history": [e.to_dict() for e in message.history(now)],
            }
        return result

    def stats_snapshot(self) -> dict[str, Any]:
        return self.stats.snapshot(self.describe_messages(), self.now())


#: Where the application keeps its :class:`SimulatorCore` (``request.app[CORE]``).
CORE: web.AppKey[SimulatorCore] = web.AppKey("octopods_simulator_core", SimulatorCore)

"""The simulator's state in one object: keys, messages, templates, rules, profile, limits, faults, stats.

Handlers (``app.py``) and the admin API (``admin.py``) only ever touch state through the event loop
that serves them, so nothing here needs a lock. ``reset`` puts everything back to the start-up
configuration, which is what a test wants between cases.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .clock import Clock, format_timestamp
from .errors import ApiError
from .faults import Fault, FaultInjector
from .keys import KeyFamily, KeyRing
from .profiles import Profile, parse_profile_text
from .ratelimit import RateLimiter
from .rules import RecipientRule, Step, Timing, steps_for
from .state import Entry, Message, MessageStore, Mode, ScriptItem, build_schedule
from .stats import Stats
from .statuses import Channel, Failure, Status
from .templates import SECTIONS, find_template, render_body, resolve_variables
from .traffic import LIST_IDS_UP_TO, TrafficSpec, generated_phones, read_traffic

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from .config import SimulatorConfig
    from .templates import Template

_PROFILE_CACHE_SIZE = 64


class SimulatorCore:
    """All mutable state of one simulator."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.clock = Clock(config.clock_start_at(time.time()))
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
        self._traffic_batches = 0
        self._traffic_phone_next = 1
        for traffic in config.traffic:
            self.add_traffic(traffic)

    def reset(self) -> None:
        """Back to the start-up configuration: messages, keys, profile, limits, faults, clock, stats."""
        self.clock.reset(self.config.clock_start_at(time.time()))
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
        store: bool = True,
    ) -> Message:
        """Make and store a message. Without steps/script/history/status it follows the recipient rules.

        ``store=False`` only makes it: traffic stores its whole batch at once (one sort per list).
        """
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
        if store:
            self.store.add(message)
        return message

    def describe_messages(self, now: float) -> dict[str, Any]:
        """Per message created by ``now``: channel, phone, source, current status, history (epoch times).

        Messages laid out for later have no history yet; they are counted in ``scheduled_by_source``.
        """
        result: dict[str, Any] = {}
        for message in self.store.all():
            if not message.visible(now):
                continue
            entry = message.current(now)
            result[str(message.message_id)] = {
                "channel": message.channel.value,
                "phone_number": message.phone,
                "source": message.source,
                "status": entry.status.value,
                "mode": message.mode.value,
                "created_at": round(message.created_at, 6),
                "history": [e.to_dict() for e in message.history(now)],
            }
        return result

    def message_counts(self, now: float) -> dict[str, dict[str, int]]:
        """Messages by source (``api``, ``admin``, ``traffic``): created by ``now``, and still scheduled.

        Lets a benchmark tell the client's own sends from other senders' traffic on the same key.
        """
        created: Counter[str] = Counter()
        scheduled: Counter[str] = Counter()
        for message in self.store.all():
            (created if message.visible(now) else scheduled)[message.source] += 1
        return {"messages_by_source": dict(created), "scheduled_by_source": dict(scheduled)}

    def stats_snapshot(self, *, messages: bool = True) -> dict[str, Any]:
        """The statistics; ``messages=False`` skips the per-message part (costly with heavy traffic)."""
        now = self.now()
        described = self.describe_messages(now) if messages else None
        return self.stats.snapshot(described, now, self.message_counts(now))

    # -- traffic -----------------------------------------------------------------------------

    def add_traffic(self, data: dict[str, Any]) -> dict[str, Any]:
        """Other senders' WhatsApp messages on one key's owner, laid out over a period (see traffic.py).

        Everything is checked before the first id is taken, so a refused request changes nothing.
        """
        now = self.now()
        spec, progression = read_traffic(data, now)
        owner = self._traffic_owner(data)
        template = self._traffic_template(spec)
        content_for = self._traffic_content(spec, template)
        batch = self._traffic_batches
        rng = random.Random(f"{self.config.seed}:traffic:{batch if spec.seed is None else spec.seed}")
        times = spec.created_times(rng)
        phones = self._traffic_phones(spec, len(times))
        self._traffic_batches += 1
        messages = [
            self.create_message(
                channel=Channel.WHATSAPP,
                owner=owner,
                phone=phone,
                content=content_for(index),
                created_at=at,
                source="traffic",
                template_id=None if template is None else template.template_id,
                store=False,
                **progression,
            )
            for index, (at, phone) in enumerate(zip(times, phones, strict=True), start=1)
        ]
        self.store.add_many(messages)
        return _traffic_summary(spec, messages, owner, now)

    def _traffic_owner(self, data: Mapping[str, Any]) -> str:
        """``owner``, else the owner of ``key`` (a WhatsApp key), else the primary WhatsApp key's."""
        if data.get("owner") is not None:
            if data.get("key") is not None:
                raise ValueError("give key or owner, not both")
            return str(data["owner"])
        if data.get("key") is None:
            return self.keys.primary(KeyFamily.WHATSAPP).owner
        key = self.keys.lookup(str(data["key"]))
        if key is None:
            raise ValueError("no such API key")
        if key.family is not KeyFamily.WHATSAPP:
            raise ValueError("traffic is WhatsApp messages: key must be a WhatsApp key, not a channel key")
        return key.owner

    def _traffic_template(self, spec: TrafficSpec) -> Template | None:
        """Only a template that can be sent: other senders go through the same send endpoint."""
        if spec.template is None:
            return None
        template = find_template(self.templates, spec.template)
        if template is None or not template.sendable:
            raise ValueError(f"template {spec.template} does not exist or is not Accepted and active")
        return template

    def _traffic_content(self, spec: TrafficSpec, template: Template | None) -> Callable[[int], str]:
        """Each message's content: fixed ``content``, the template rendered with ``message_variables``,
        or the template with every placeholder filled with ``traffic N`` (N: position in the batch)."""
        if spec.content is not None:
            fixed = spec.content
            return lambda _: fixed
        assert template is not None, "without content, traffic always has a template"
        if spec.message_variables is not None:
            try:
                sections = resolve_variables(template, spec.message_variables, True)
            except ApiError as exc:
                raise ValueError(f"message_variables: {exc.message}") from None
            rendered = render_body(template, sections)
            return lambda _: rendered

        def generated(index: int) -> str:
            values = {s: [f"traffic {index}"] * template.counts[s] for s in SECTIONS}
            return render_body(template, values)

        return generated

    def _traffic_phones(self, spec: TrafficSpec, count: int) -> list[str]:
        """``phones`` in turn, or generated numbers no recipient rule claims (the counter carries on
        from one traffic call to the next, so numbers stay distinct)."""
        if spec.phones:
            return [spec.phones[i % len(spec.phones)] for i in range(count)]
        phones, self._traffic_phone_next = generated_phones(
            spec.phone_prefix, self._traffic_phone_next, count, self._claimed_by_rule
        )
        return phones

    def _claimed_by_rule(self, phone: str) -> bool:
        return any(rule.matches(Channel.WHATSAPP, phone) for rule in self.rules)


def _traffic_summary(spec: TrafficSpec, messages: list[Message], owner: str, now: float) -> dict[str, Any]:
    """What traffic added: ids (contiguous, in ``created_at`` order), the time range, the windows."""
    first, last = messages[0], messages[-1]
    result: dict[str, Any] = {
        "count": len(messages),
        "first_id": first.message_id,
        "last_id": last.message_id,
        "first_created_at": round(first.created_at, 6),
        "last_created_at": round(last.created_at, 6),
        "first_created_at_iso": format_timestamp(first.created_at, millis=True),
        "last_created_at_iso": format_timestamp(last.created_at, millis=True),
        "visible": sum(1 for m in messages if m.visible(now)),
        "owner": owner,
        "template_id": first.template_id,
        "spacing": spec.spacing,
        "windows": [w.describe() for w in spec.windows],
    }
    if len(messages) <= LIST_IDS_UP_TO:
        result["message_ids"] = [m.message_id for m in messages]
    return result


#: Where the application keeps its :class:`SimulatorCore` (``request.app[CORE]``).
CORE: web.AppKey[SimulatorCore] = web.AppKey("octopods_simulator_core", SimulatorCore)

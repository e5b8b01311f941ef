"""The admin API under ``/_simulator/``: JSON in and out, no auth, loopback clients only.

Tests and demos use it to seed history, script or force statuses, rotate keys, set limits and
faults, switch profiles and read statistics — through plain HTTP, so it works the same for a
simulator in a thread, in a subprocess or started from the command line. Errors are
``{"error": "..."}`` with HTTP 400 (bad input) or 404 (no such message/fault).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from aiohttp import web

from .clock import parse_timestamp
from .core import CORE, SimulatorCore
from .faults import Fault
from .keys import KeyFamily
from .ratelimit import RateLimit
from .rules import RecipientRule
from .seeding import failure_from, progression_kwargs
from .state import Entry, Message
from .statuses import Channel, Status
from .templates import Template
from .validation import is_e164

ADMIN_PREFIX = "/_simulator"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


class AdminError(Exception):
    """Bad admin input (400) or a missing object (404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _core(request: web.Request) -> SimulatorCore:
    return request.app[CORE]


def _ok(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _is_loopback(remote: str | None) -> bool:
    if remote is None:
        return True
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


async def admin_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Loopback only; admin errors become ``{"error": ...}``; router errors stay JSON too."""
    if not _is_loopback(request.remote):
        return _ok({"error": "the simulator admin API only answers loopback clients"}, status=403)
    try:
        return await handler(request)
    except AdminError as exc:
        return _ok({"error": str(exc)}, status=exc.status)
    except (ValueError, LookupError, TypeError) as exc:
        return _ok({"error": str(exc)}, status=400)
    except web.HTTPException as exc:
        return _ok({"error": f"{exc.reason}: {request.method} {request.path}"}, status=exc.status)


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise AdminError("the request body must be JSON") from None


async def _object(request: web.Request) -> dict[str, Any]:
    data = await _body(request)
    if not isinstance(data, dict):
        raise AdminError("the request body must be a JSON object")
    return data


def _message(request: web.Request) -> Message:
    core = _core(request)
    text = request.match_info["message_id"]
    message = core.store.get(int(text)) if text.isdigit() else None
    if message is None:
        raise AdminError(f"no message {text}", status=404)
    return message


# -- handlers ----------------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    core = _core(request)
    return _ok({"status": "ok", "base_url": core.base_url, "now": core.now(), "messages": len(core.store)})


async def reset(request: web.Request) -> web.Response:
    _core(request).reset()
    return _ok({"status": "reset"})


async def get_profile(request: web.Request) -> web.Response:
    return _ok(_core(request).profile.to_dict())


async def put_profile(request: web.Request) -> web.Response:
    data = await _object(request)
    replace = bool(data.pop("replace", False))
    return _ok(_core(request).set_profile(data, replace=replace).to_dict())


async def get_timing(request: web.Request) -> web.Response:
    return _ok(_core(request).timing.to_dict())


async def put_timing(request: web.Request) -> web.Response:
    """Change delivery timings; messages created from now on use them (schedules are fixed at send)."""
    core = _core(request)
    data = await _object(request)
    allowed = set(core.timing.to_dict())
    unknown = set(data) - allowed
    if unknown:
        raise AdminError(f"unknown timing fields: {', '.join(sorted(unknown))}")
    current = core.timing.to_dict()
    current.update(data)
    read_after = current["read_after"]
    if read_after is not None and float(read_after) < 0:
        read_after = None
    for name in ("deliver_after", "sms_queue_for", "unknown_window"):
        if float(current[name]) < 0:
            raise AdminError(f"{name} cannot be negative")
    if not 0 <= float(current["jitter"]) < 1:
        raise AdminError("jitter is a fraction in [0, 1)")
    core.timing = type(core.timing)(
        deliver_after=float(current["deliver_after"]),
        read_after=None if read_after is None else float(read_after),
        jitter=float(current["jitter"]),
        sms_queue_for=float(current["sms_queue_for"]),
        unknown_window=float(current["unknown_window"]),
    )
    return _ok(core.timing.to_dict())


def _add_one(core: SimulatorCore, data: Mapping[str, Any]) -> Message:
    """Seed one message: see docs/simulator.md, "Seeding messages"."""
    if not isinstance(data, Mapping):
        raise AdminError("each message is a JSON object")
    channel = Channel.parse(str(data.get("channel", "whatsapp")))
    phone = data.get("phone") or data.get("phone_number") or data.get("destination_phone")
    if not isinstance(phone, str) or not is_e164(phone):
        raise AdminError("phone must be an E.164 number such as +14155552671")
    family = KeyFamily.WHATSAPP if channel is Channel.WHATSAPP else KeyFamily.CHANNEL
    owner = str(data["owner"]) if data.get("owner") else core.owner_of(family, data.get("key"))
    created_at = parse_timestamp(data["created_at"]) if data.get("created_at") is not None else None
    kwargs = progression_kwargs(data, channel)
    template_id = data.get("template_id")
    content = data.get("content")
    message = core.create_message(
        channel=channel,
        owner=owner,
        phone=phone,
        content=str(content) if content is not None else f"Simulated {channel.value} message",
        created_at=created_at,
        source="admin",
        template_id=int(template_id) if template_id is not None else None,
        open_conversation=bool(data.get("open_intercom_conversation", False)),
        **kwargs,
    )
    if data.get("status") is not None and data.get("status_at") is not None:
        status_at = parse_timestamp(data["status_at"])
        message.recorded = [Entry(message.recorded[0].status, status_at, kwargs["failure"])]
    return message


async def add_messages(request: web.Request) -> web.Response:
    """Seed messages: one object → ``{"message_id", "message"}``; a list → ``{"message_ids"}``.

    A list is a JSON array or ``{"messages": [...]}``.

    See docs/simulator.md, "Seeding messages".
    """
    core = _core(request)
    data = await _body(request)
    if isinstance(data, dict) and "messages" in data and isinstance(data["messages"], list):
        data = data["messages"]
    if isinstance(data, list):
        ids = [_add_one(core, item).message_id for item in data]
        return _ok({"message_ids": ids}, status=201)
    message = _add_one(core, data)
    return _ok({"message_id": message.message_id, "message": message.describe(core.now())}, status=201)


async def add_traffic(request: web.Request) -> web.Response:
    """Other senders' messages on a WhatsApp key over a period: see docs/simulator.md, "Traffic"."""
    return _ok(_core(request).add_traffic(await _object(request)), status=201)


async def list_messages(request: web.Request) -> web.Response:
    core = _core(request)
    now = core.now()
    return _ok([m.describe(now) for m in core.store.all()])


async def get_message(request: web.Request) -> web.Response:
    core = _core(request)
    return _ok(_message(request).describe(core.now()))


async def hold_message(request: web.Request) -> web.Response:
    core = _core(request)
    message = _message(request)
    message.hold(core.now())
    return _ok(message.describe(core.now()))


async def set_message_status(request: web.Request) -> web.Response:
    core = _core(request)
    message = _message(request)
    data = await _object(request)
    if "status" not in data:
        raise AdminError("status is required")
    message.set_status(core.now(), Status.parse(str(data["status"])), failure_from(data))
    return _ok(message.describe(core.now()))


async def get_keys(request: web.Request) -> web.Response:
    return _ok([k.describe() for k in _core(request).keys.all()])


async def add_key(request: web.Request) -> web.Response:
    """A new valid key; its own owner (own messages) unless ``owner`` or ``same_owner_as`` is given."""
    core = _core(request)
    data = await _object(request)
    family = KeyFamily.parse(str(data.get("family", "")))
    owner = data.get("owner")
    if data.get("same_owner_as"):
        owner = core.owner_of(family, str(data["same_owner_as"]))
    key = core.keys.add(family, data.get("key"), None if owner is None else str(owner))
    return _ok(key.describe(), status=201)


async def rotate_key(request: web.Request) -> web.Response:
    core = _core(request)
    data = await _object(request)
    family = KeyFamily.parse(str(data.get("family", "")))
    new, old = core.keys.rotate(family, data.get("key"), data.get("new_key"))
    return _ok({"key": new.value, "deprecated": old.value, "family": family.value, "owner": new.owner})


async def deprecate_key(request: web.Request) -> web.Response:
    core = _core(request)
    data = await _object(request)
    if not data.get("key"):
        raise AdminError("key is required")
    return _ok(core.keys.deprecate(str(data["key"])).describe())


async def get_rate_limit(request: web.Request) -> web.Response:
    return _ok(_core(request).limiter.describe())


async def put_rate_limit(request: web.Request) -> web.Response:
    """``{"rate": 5, "burst": 10}`` for every key, with ``"key"`` for one key; ``rate: null`` = unlimited."""
    core = _core(request)
    data = await _object(request)
    rate = data.get("rate")
    limit = None if rate is None or float(rate) <= 0 else RateLimit.of(float(rate), data.get("burst"))
    key = data.get("key")
    if key is not None:
        if core.keys.lookup(str(key)) is None:
            raise AdminError("no such API key")
        if data.get("clear"):
            core.limiter.clear_key(str(key))
        else:
            core.limiter.set_for_key(str(key), limit)
    else:
        core.limiter.set_default(limit)
    return _ok(core.limiter.describe())


async def get_faults(request: web.Request) -> web.Response:
    return _ok(_core(request).faults.describe())


async def add_fault(request: web.Request) -> web.Response:
    fault = _core(request).faults.add(Fault.from_dict(await _object(request)))
    return _ok(fault.describe(), status=201)


async def clear_faults(request: web.Request) -> web.Response:
    return _ok({"cleared": _core(request).faults.clear()})


async def delete_fault(request: web.Request) -> web.Response:
    removed = _core(request).faults.clear(request.match_info["fault_id"])
    if not removed:
        raise AdminError("no such fault", status=404)
    return _ok({"cleared": removed})


async def get_stats(request: web.Request) -> web.Response:
    core = _core(request)
    wanted = request.query.get("messages", "true").lower() not in ("false", "0", "no")
    return _ok(core.stats_snapshot(messages=wanted))


async def reset_stats(request: web.Request) -> web.Response:
    core = _core(request)
    core.stats.reset(core.now())
    return _ok({"status": "reset"})


async def get_templates(request: web.Request) -> web.Response:
    core = _core(request)
    return _ok([t.to_dict() for t in sorted(core.templates.values(), key=lambda t: t.template_id)])


async def add_templates(request: web.Request) -> web.Response:
    """Add or replace (same ``template_id``) one template, an array, or ``{"templates": [...]}``."""
    core = _core(request)
    data = await _body(request)
    if isinstance(data, dict) and isinstance(data.get("templates"), list):
        data = data["templates"]
    items = data if isinstance(data, list) else [data]
    templates = [Template.from_dict(item) for item in items]
    for template in templates:
        core.templates[template.template_id] = template
    return _ok([t.to_dict() for t in templates], status=201)


async def delete_template(request: web.Request) -> web.Response:
    core = _core(request)
    text = request.match_info["template_id"]
    if not text.isdigit() or core.templates.pop(int(text), None) is None:
        raise AdminError(f"no template {text}", status=404)
    return _ok({"deleted": int(text)})


async def get_rules(request: web.Request) -> web.Response:
    return _ok([r.to_dict() for r in _core(request).rules])


async def put_rules(request: web.Request) -> web.Response:
    """Replace the rule list (``[]`` = every message follows the channel default)."""
    core = _core(request)
    data = await _body(request)
    if isinstance(data, dict) and isinstance(data.get("rules"), list):
        data = data["rules"]
    if not isinstance(data, list):
        raise AdminError("send a JSON array of rules")
    core.rules = [RecipientRule.from_dict(item) for item in data]
    return _ok([r.to_dict() for r in core.rules])


async def add_rule(request: web.Request) -> web.Response:
    """Insert one rule in front of the others (so it wins over the defaults)."""
    core = _core(request)
    rule = RecipientRule.from_dict(await _object(request))
    core.rules.insert(0, rule)
    return _ok([r.to_dict() for r in core.rules], status=201)


async def get_clock(request: web.Request) -> web.Response:
    core = _core(request)
    return _ok({"now": core.now(), "offset": core.clock.offset})


async def advance_clock(request: web.Request) -> web.Response:
    """``{"advance": seconds}``: move simulated time forward (progressions, buckets, retry times)."""
    core = _core(request)
    data = await _object(request)
    seconds = data.get("advance", data.get("seconds"))
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise AdminError("advance must be a number of seconds")
    core.clock.advance(float(seconds))
    return _ok({"now": core.now(), "offset": core.clock.offset})


def add_admin_routes(app: web.Application) -> None:
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "/health", health),
        ("POST", "/reset", reset),
        ("GET", "/profile", get_profile),
        ("PUT", "/profile", put_profile),
        ("GET", "/timing", get_timing),
        ("PUT", "/timing", put_timing),
        ("GET", "/messages", list_messages),
        ("POST", "/messages", add_messages),
        ("GET", "/messages/{message_id}", get_message),
        ("POST", "/messages/{message_id}/hold", hold_message),
        ("POST", "/messages/{message_id}/status", set_message_status),
        ("POST", "/traffic", add_traffic),
        ("GET", "/keys", get_keys),
        ("POST", "/keys", add_key),
        ("POST", "/keys/rotate", rotate_key),
        ("POST", "/keys/deprecate", deprecate_key),
        ("GET", "/rate-limit", get_rate_limit),
        ("PUT", "/rate-limit", put_rate_limit),
        ("GET", "/faults", get_faults),
        ("POST", "/faults", add_fault),
        ("DELETE", "/faults", clear_faults),
        ("DELETE", "/faults/{fault_id}", delete_fault),
        ("GET", "/stats", get_stats),
        ("DELETE", "/stats", reset_stats),
        ("GET", "/templates", get_templates),
        ("POST", "/templates", add_templates),
        ("DELETE", "/templates/{template_id}", delete_template),
        ("GET", "/rules", get_rules),
        ("PUT", "/rules", put_rules),
        ("POST", "/rules", add_rule),
        ("GET", "/clock", get_clock),
        ("POST", "/clock", advance_clock),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, ADMIN_PREFIX + path, handler)
        app.router.add_route(method, ADMIN_PREFIX + path + "/", handler)

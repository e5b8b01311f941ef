"""The simulated Octopods HTTP API on aiohttp's web server.

One middleware runs, in order, what sits in front of every real API call: request id, injected
faults, the per-request profile header, key checks (401, cross-family 401, rate limit 429,
deprecated-key 400) — and turns every error into the JSON envelope. Handlers then only do what
their endpoint does. Trailing slashes are accepted on every path and the Host header is ignored,
so clients configured for ``app.octopods.io`` or ``api.octopods.io`` both work through a proxy or
a Host override.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import formatdate
from functools import partial
from http import HTTPStatus
from typing import Any

from aiohttp import web

from .admin import ADMIN_PREFIX, add_admin_routes, admin_guard
from .clock import format_timestamp, format_timestamp_ceil, parse_timestamp
from .core import CORE, SimulatorCore
from .errors import (
    INVALID_PHONE_TEXT,
    SMS_DEPRECATED_KEY_TEXT,
    SMS_MESSAGE_ID_TEXT,
    TEMPLATE_NOT_EXIST_TEXT,
    WHATSAPP_DEPRECATED_KEY_TEXT,
    ApiError,
    SmsError,
    WhatsAppError,
    bad_request,
)
from .faults import Fault, FaultKind
from .keys import ApiKey, KeyFamily, fingerprint
from .profiles import PROFILE_HEADER, Profile
from .render import render_listing, render_sms_send, render_status, render_whatsapp_send
from .stats import DROPPED
from .statuses import Channel
from .templates import (
    TEMPLATE_STATUSES,
    check_header_attachment,
    find_template,
    lang_matches,
    render_body,
    resolve_variables,
)
from .validation import is_e164, parse_boolish, parse_limit, parse_message_id

logger = logging.getLogger("airflow_provider_octopods.simulator")

AUTH_HEADER = "X-Octopods-Auth"
SMS_BODY_MAX = 1600


@dataclass(frozen=True)
class RequestContext:
    """What the pipeline established for the current API request (request id, profile, key)."""

    core: SimulatorCore
    request_id: str
    profile: Profile
    key: ApiKey | None


#: Set by the pipeline, read by the handler: both run in the request's task, so a context variable
#: carries it without relying on per-request storage APIs that differ between aiohttp versions.
_CONTEXT: ContextVar[RequestContext] = ContextVar("octopods_simulator_request")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


def json_response(data: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


# -- routes ----------------------------------------------------------------------------------

#: route name → (method, path under /api/v1, key family). Names are the stable keys of the stats.
ROUTES: dict[str, tuple[str, str, KeyFamily]] = {
    "whatsapp.send": ("POST", "/whatsapp/templates/{template_id}/messages", KeyFamily.WHATSAPP),
    "whatsapp.status": ("GET", "/whatsapp/messages/{message_id}", KeyFamily.WHATSAPP),
    "whatsapp.list": ("GET", "/whatsapp/messages", KeyFamily.WHATSAPP),
    "whatsapp.templates": ("GET", "/whatsapp/templates", KeyFamily.WHATSAPP),
    "whatsapp.template": ("GET", "/whatsapp/templates/{template_id}", KeyFamily.WHATSAPP),
    "sms.send": ("POST", "/sms/messages", KeyFamily.CHANNEL),
    "sms.status": ("GET", "/sms/messages/{message_id}", KeyFamily.CHANNEL),
}
API_PREFIX = "/api/v1"
UNKNOWN_ROUTE = "unknown"
_ROUTE_BY_CANONICAL: dict[tuple[str, str], str] = {
    (method, API_PREFIX + path): name for name, (method, path, _) in ROUTES.items()
}


def route_name(request: web.Request) -> str:
    """The stable name of the matched route (``whatsapp.status``), or ``unknown``."""
    route = request.match_info.route
    resource = route.resource
    if resource is None:
        return UNKNOWN_ROUTE
    canonical = resource.canonical.rstrip("/") or "/"
    return _ROUTE_BY_CANONICAL.get((route.method, canonical), UNKNOWN_ROUTE)


# -- request helpers ---------------------------------------------------------------------------


def _ctx(request: web.Request) -> tuple[SimulatorCore, ApiKey, str, Profile]:
    ctx = _CONTEXT.get()
    assert ctx.key is not None, "API handlers run only after the key check"
    return ctx.core, ctx.key, ctx.request_id, ctx.profile


async def _json_object(request: web.Request, family: KeyFamily) -> dict[str, Any]:
    """The JSON body as an object (an empty body counts as ``{}``)."""
    raw = await request.read()
    code = WhatsAppError.TYPE_MISMATCH if family is KeyFamily.WHATSAPP else SmsError.ARGUMENT_MISSING
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request(code, "The request body must be a JSON object.") from None
    if not isinstance(data, dict):
        raise bad_request(code, "The request body must be a JSON object.")
    return data


def _phone(body: dict[str, Any], channel: Channel) -> str:
    missing: int
    invalid: int
    if channel is Channel.WHATSAPP:
        missing, invalid = WhatsAppError.ARGUMENT_MISSING, WhatsAppError.PHONE_INVALID
    else:
        missing, invalid = SmsError.ARGUMENT_MISSING, SmsError.PHONE_INVALID
    value = body.get("destination_phone")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise bad_request(missing, "Phone number is missing. Send destination_phone in E.164 format.")
    if channel is Channel.WHATSAPP and not isinstance(value, str):
        raise bad_request(WhatsAppError.TYPE_MISMATCH, "destination_phone must be a string in E.164 format.")
    if not isinstance(value, str) or not is_e164(value.strip()):
        raise bad_request(invalid, INVALID_PHONE_TEXT)
    return value.strip()


def _flag(body: dict[str, Any], channel: Channel) -> bool:
    if "open_intercom_conversation" not in body or body["open_intercom_conversation"] is None:
        return False
    try:
        return parse_boolish(body["open_intercom_conversation"])
    except ValueError as exc:
        code = WhatsAppError.TYPE_MISMATCH if channel is Channel.WHATSAPP else SmsError.ARGUMENT_MISSING
        raise bad_request(code, f"open_intercom_conversation: {exc}.") from None


def _optional_text(body: dict[str, Any], name: str, channel: Channel) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        code = WhatsAppError.TYPE_MISMATCH if channel is Channel.WHATSAPP else SmsError.ARGUMENT_MISSING
        raise bad_request(code, f"{name} must be a string.")
    return str(value)


def _not_found(profile: Profile, channel: Channel, message_id: int) -> ApiError:
    text = (
        f"Message {message_id} was not found: it does not exist or was not sent with this API key. "
        "Check that you are using the key that sent it."
    )
    if profile.not_found == "404":
        return ApiError(404, 404, text)
    if channel is Channel.SMS:
        return bad_request(SmsError.ARGUMENT_MISSING, SMS_MESSAGE_ID_TEXT)
    return bad_request(WhatsAppError.ARGUMENT_MISSING, text)


# -- handlers ----------------------------------------------------------------------------------


async def whatsapp_send(request: web.Request) -> web.Response:
    core, key, request_id, _ = _ctx(request)
    body = await _json_object(request, KeyFamily.WHATSAPP)
    phone = _phone(body, Channel.WHATSAPP)
    template = find_template(core.templates, request.match_info["template_id"])
    if template is None or not template.sendable:
        raise bad_request(WhatsAppError.TEMPLATE_NOT_EXIST, TEMPLATE_NOT_EXIST_TEXT)
    sections = resolve_variables(template, body.get("message_variables"), "message_variables" in body)
    header_url = check_header_attachment(
        template, body.get("header_attachment_url"), "header_attachment_url" in body
    )
    open_conversation = _flag(body, Channel.WHATSAPP)
    teammate = _optional_text(body, "intercom_teammate_id", Channel.WHATSAPP)
    user_name = _optional_text(body, "destination_user_name", Channel.WHATSAPP)
    message = core.create_message(
        channel=Channel.WHATSAPP,
        owner=key.owner,
        phone=phone,
        content=render_body(template, sections),
        template_id=template.template_id,
        open_conversation=open_conversation,
        destination_user_name=user_name,
        intercom_teammate_id=teammate,
        header_attachment_url=header_url,
    )
    core.stats.send(Channel.WHATSAPP.value, phone)
    url = core.status_url(Channel.WHATSAPP, message.message_id)
    return json_response(render_whatsapp_send(message, request_id, url), status=201)


async def sms_send(request: web.Request) -> web.Response:
    core, key, request_id, profile = _ctx(request)
    body = await _json_object(request, KeyFamily.CHANNEL)
    phone = _phone(body, Channel.SMS)
    text = body.get("body")
    if text is None or (isinstance(text, str) and not text.strip()):
        raise bad_request(SmsError.EMPTY_BODY, "The message body is empty. Send the text in body.")
    if not isinstance(text, str):
        raise bad_request(SmsError.EMPTY_BODY, "body must be a non-empty string.")
    if len(text) > SMS_BODY_MAX:
        raise bad_request(
            SmsError.PROVIDER_ERROR,
            f"The SMS provider rejected the message: body is {len(text)} characters long; "
            f"the maximum is {SMS_BODY_MAX} characters.",
        )
    open_conversation = _flag(body, Channel.SMS)
    teammate = _optional_text(body, "intercom_teammate_id", Channel.SMS)
    user_name = _optional_text(body, "destination_user_name", Channel.SMS)
    message = core.create_message(
        channel=Channel.SMS,
        owner=key.owner,
        phone=phone,
        content=text,
        open_conversation=open_conversation,
        destination_user_name=user_name,
        intercom_teammate_id=teammate,
    )
    core.stats.send(Channel.SMS.value, phone)
    return json_response(render_sms_send(message, request_id, profile), status=201)


async def _status(request: web.Request, channel: Channel) -> web.Response:
    core, key, request_id, profile = _ctx(request)
    message_id = parse_message_id(request.match_info["message_id"])
    if message_id is None:
        if channel is Channel.SMS:
            raise bad_request(SmsError.ARGUMENT_MISSING, SMS_MESSAGE_ID_TEXT)
        raise bad_request(WhatsAppError.ARGUMENT_MISSING, "You must supply message_id: a positive integer.")
    now = core.now()
    message = core.store.find(message_id, channel, key.owner, now)
    if message is None:
        raise _not_found(profile, channel, message_id)
    entry = message.poll(now)
    return json_response(render_status(message, entry, profile, request_id, now))


async def whatsapp_status(request: web.Request) -> web.Response:
    return await _status(request, Channel.WHATSAPP)


async def sms_status(request: web.Request) -> web.Response:
    return await _status(request, Channel.SMS)


async def whatsapp_list(request: web.Request) -> web.Response:
    core, key, request_id, profile = _ctx(request)
    try:
        limit = parse_limit(request.query.get("limit"))
    except ValueError as exc:
        raise bad_request(WhatsAppError.ARGUMENT_MISSING, str(exc) + ".") from None
    now = core.now()
    messages = core.store.newest(key.owner, Channel.WHATSAPP, limit, now)
    if not messages and profile.empty_listing == "error":
        raise bad_request(WhatsAppError.RESOURCE_NOT_FOUND, "Resource Not Found")
    items = [(m, m.observe(now)) for m in messages]
    return json_response(render_listing(items, profile, request_id))


def _template_created_at(value: str, profile: Profile) -> str:
    try:
        return format_timestamp(parse_timestamp(value), millis=profile.millis)
    except ValueError:
        return value


async def whatsapp_templates(request: web.Request) -> web.Response:
    core, _, _, profile = _ctx(request)
    active = request.query.get("active")
    status = request.query.get("status")
    lang = request.query.get("lang")
    wanted_active: bool | None = None
    if active is not None:
        if active.strip().lower() not in ("true", "false"):
            raise bad_request(WhatsAppError.TYPE_MISMATCH, "active must be true or false.")
        wanted_active = active.strip().lower() == "true"
    if status is not None and status.strip().lower() not in TEMPLATE_STATUSES:
        raise bad_request(
            WhatsAppError.INVALID_STATUS,
            f"INVALID_STATUS: status must be one of {', '.join(TEMPLATE_STATUSES)}.",
        )
    result = []
    for template in sorted(core.templates.values(), key=lambda t: t.template_id, reverse=True):
        if wanted_active is not None and template.active != wanted_active:
            continue
        if status is not None and template.status != status.strip().lower():
            continue
        if lang is not None and lang.strip() and not lang_matches(template.lang, lang):
            continue
        result.append(
            template.to_api(
                created_at=_template_created_at(template.created_at, profile),
                account_phone_number=core.config.account_phone_number,
            )
        )
    return json_response(result)


async def whatsapp_template(request: web.Request) -> web.Response:
    core, _, _, profile = _ctx(request)
    template = find_template(core.templates, request.match_info["template_id"])
    if template is None:
        raise bad_request(WhatsAppError.TEMPLATE_NOT_EXIST, TEMPLATE_NOT_EXIST_TEXT)
    return json_response(
        template.to_api(
            created_at=_template_created_at(template.created_at, profile),
            account_phone_number=core.config.account_phone_number,
        )
    )


HANDLERS: dict[str, Handler] = {
    "whatsapp.send": whatsapp_send,
    "whatsapp.status": whatsapp_status,
    "whatsapp.list": whatsapp_list,
    "whatsapp.templates": whatsapp_templates,
    "whatsapp.template": whatsapp_template,
    "sms.send": sms_send,
    "sms.status": sms_status,
}


# -- the pipeline in front of every API call ---------------------------------------------------


def _authorize(core: SimulatorCore, request: web.Request, family: KeyFamily, profile: Profile) -> ApiKey:
    """401 missing/unknown/wrong-family key, then 429, then 400 deprecated key."""
    value = request.headers.get(AUTH_HEADER, "").strip()
    if not value:
        raise ApiError(401, 401, f"Unauthorized: no API key. Send your key in the {AUTH_HEADER} header.")
    key = core.keys.lookup(value)
    if key is None:
        raise ApiError(401, 401, "Unauthorized: the API key is not valid.")
    if key.family is not family:
        area = "/api/v1/whatsapp/*" if family is KeyFamily.WHATSAPP else "/api/v1/sms/*"
        wanted = "WhatsApp Business API key" if family is KeyFamily.WHATSAPP else "channel API key"
        raise ApiError(401, 401, f"Unauthorized: this API key cannot be used on {area}; use the {wanted}.")
    now = core.now()
    wait = core.limiter.check(key.value, now)
    core.stats.key_request(fingerprint(key.value), rate_limited=wait > 0)
    if wait > 0:
        raise _rate_limited(core, key, profile, now, wait)
    if key.deprecated:
        if family is KeyFamily.WHATSAPP:
            raise bad_request(WhatsAppError.DEPRECATED_API_KEY, WHATSAPP_DEPRECATED_KEY_TEXT)
        raise bad_request(SmsError.DEPRECATED_API_KEY, SMS_DEPRECATED_KEY_TEXT)
    return key


def _rate_limited(core: SimulatorCore, key: ApiKey, profile: Profile, now: float, wait: float) -> ApiError:
    """429 with both hints: ``Retry-After`` (whole seconds >= 1, or an HTTP date) and body ``retry_at``."""
    retry_epoch = now + wait
    seconds = max(1, math.ceil(wait))
    if profile.retry_after_format == "http_date":
        header = formatdate(math.ceil(retry_epoch), usegmt=True)
    else:
        header = str(seconds)
    if profile.retry_at_format == "epoch":
        retry_at: object = round(retry_epoch, 3)
        shown = format_timestamp_ceil(retry_epoch, millis=True)
    else:
        retry_at = shown = format_timestamp_ceil(retry_epoch, millis=profile.millis)
    limit = core.limiter.limit_for(key.value)
    detail = f" of {limit.rate:g} requests per second (burst {limit.burst})" if limit else ""
    return ApiError(
        429,
        429,
        f"Too Many Requests: the rate limit{detail} for this API key was exceeded. Retry at {shown}.",
        headers={"Retry-After": header},
        extra={"retry_at": retry_at},
    )


_HTML_PAGE = (
    "<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def _fault_response(fault: Fault, request: web.Request, request_id: str) -> web.StreamResponse:
    status = fault.status or 503
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    if fault.kind is FaultKind.STATUS:
        return json_response({"request_id": request_id, "error_code": status, "error": phrase}, status=status)
    if fault.kind is FaultKind.HTML:
        return web.Response(
            status=status, text=_HTML_PAGE.format(code=status, phrase=phrase), content_type="text/html"
        )
    if fault.kind is FaultKind.MALFORMED:
        body = '{"request_id":"' + request_id + '","message_id":10'
        return web.Response(status=200, text=body, content_type="application/json")
    # DROP: no response at all. Abort the transport (RST, nothing buffered is sent) and stop keep-alive.
    transport = request.transport
    request.protocol.force_close()
    if transport is not None:
        transport.abort()
    return web.Response(status=499)


def _error_response(error: ApiError, request_id: str) -> web.Response:
    return json_response(error.envelope(request_id), status=error.http_status, headers=error.headers or None)


@web.middleware
async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Admin paths go to the admin guard; everything else through faults, keys and limits."""
    if request.path.startswith(ADMIN_PREFIX):
        return await admin_guard(request, handler)
    core = request.app[CORE]
    route = route_name(request)
    core.stats.request(route)
    request_id = core.new_request_id()
    key_label = "-"
    response: web.StreamResponse
    fault: Fault | None = None
    try:
        delay, fault = core.faults.pick(request.method, request.path)
        if delay > 0:
            core.stats.fault(FaultKind.LATENCY.value)
            await asyncio.sleep(delay)
        if fault is not None and fault.kind is not FaultKind.LOST_RESPONSE:
            core.stats.fault(fault.kind.value)
            response = _fault_response(fault, request, request_id)
            outcome: int | str = DROPPED if fault.kind is FaultKind.DROP else response.status
            core.stats.response(route, outcome)
            logger.info(
                "%s %s -> injected %s fault (%s)", request.method, request.path, fault.kind.value, outcome
            )
            return response
        try:
            profile = core.profile_for(request.headers.get(PROFILE_HEADER))
        except ValueError as exc:
            raise bad_request(1, f"Invalid {PROFILE_HEADER} header: {exc}.") from None
        spec = ROUTES.get(route)
        key = None
        if spec is not None:
            key = _authorize(core, request, spec[2], profile)
            key_label = fingerprint(key.value)
        token = _CONTEXT.set(RequestContext(core, request_id, profile, key))
        try:
            response = await handler(request)
        finally:
            _CONTEXT.reset(token)
    except ApiError as error:
        response = _error_response(error, request_id)
    except web.HTTPException as exc:
        routing = ApiError(exc.status, exc.status, f"{exc.reason}: {request.method} {request.path}")
        if exc.status == 405 and "Allow" in exc.headers:
            routing.headers["Allow"] = exc.headers["Allow"]
        response = _error_response(routing, request_id)
    if fault is not None and fault.kind is FaultKind.LOST_RESPONSE:
        # The API did the work; the answer is lost on the way back.
        core.stats.fault(fault.kind.value)
        core.stats.response(route, DROPPED)
        logger.info("%s %s -> served, then injected lost_response fault", request.method, request.path)
        return _fault_response(Fault(kind=FaultKind.DROP), request, request_id)
    core.stats.response(route, response.status)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s %s -> %s [%s] %s", request.method, request.path, response.status, route, key_label)
    return response


def build_app(core: SimulatorCore) -> web.Application:
    """The aiohttp application: API routes (with and without trailing slash) plus the admin API."""
    app = web.Application(middlewares=[pipeline])
    app[CORE] = core
    for name, (method, path, _) in ROUTES.items():
        for variant in (API_PREFIX + path, API_PREFIX + path + "/"):
            app.router.add_route(method, variant, HANDLERS[name])
    add_admin_routes(app)
    return app

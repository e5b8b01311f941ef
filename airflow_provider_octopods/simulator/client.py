"""A small synchronous client for the admin API, on the standard library only.

It talks HTTP, so it drives a simulator in this process, in a subprocess, or one started from the
command line alike. Proxy environment variables are ignored: the simulator is on loopback.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .keys import KeyFamily


class SimulatorAdminError(RuntimeError):
    """The admin API refused a call (bad input, unknown message, ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"simulator admin API answered {status}: {message}")
        self.status = status
        self.message = message


def _iso(value: str | float | datetime | None) -> str | float | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _burst(burst: Mapping[str, Any]) -> dict[str, Any]:
    item = dict(burst)
    if "start" in item:
        item["start"] = _iso(item["start"])
    return item


class SimulatorAdminClient:
    """Mirror of the ``/_simulator/`` endpoints. ``base_url`` is the simulator's base URL."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        base = base_url.rstrip("/")
        if base.endswith("/_simulator"):
            base = base[: -len("/_simulator")]
        self.base_url = base
        self.admin_url = base + "/_simulator"
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- transport ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.admin_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw).get("error", raw.decode("utf-8", "replace"))
            except ValueError:
                message = raw.decode("utf-8", "replace")
            raise SimulatorAdminError(exc.code, str(message)) from None
        return json.loads(payload) if payload else None

    # -- lifecycle ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "/health"))

    def reset(self) -> None:
        """Back to the start-up configuration (messages, keys, profile, limits, faults, clock, stats)."""
        self._call("POST", "/reset")

    # -- profile and timing ------------------------------------------------------------------

    def get_profile(self) -> dict[str, str]:
        return dict(self._call("GET", "/profile"))

    def set_profile(self, *, replace: bool = False, **options: str) -> dict[str, str]:
        """Change profile options (``status_shape="reference"``...); ``replace`` starts from the defaults."""
        body: dict[str, Any] = dict(options)
        if replace:
            body["replace"] = True
        return dict(self._call("PUT", "/profile", body))

    def get_timing(self) -> dict[str, Any]:
        return dict(self._call("GET", "/timing"))

    def set_timing(self, **timing: float | None) -> dict[str, Any]:
        """``deliver_after``, ``read_after`` (None/negative = no READ), ``jitter``, ``sms_queue_for``,
        ``unknown_window``; applies to messages created afterwards."""
        return dict(self._call("PUT", "/timing", timing))

    def advance_clock(self, seconds: float) -> float:
        """Move simulated time forward; returns the new simulated epoch time."""
        return float(self._call("POST", "/clock", {"advance": seconds})["now"])

    def clock(self) -> dict[str, float]:
        return dict(self._call("GET", "/clock"))

    # -- messages ----------------------------------------------------------------------------

    def add_message(
        self,
        phone: str,
        *,
        channel: str = "whatsapp",
        content: str | None = None,
        created_at: str | float | datetime | None = None,
        status: str | None = None,
        script: Iterable[str | Mapping[str, Any]] | None = None,
        steps: Iterable[str | Mapping[str, Any]] | None = None,
        history: Iterable[Mapping[str, Any]] | None = None,
        failure_reason: str | None = None,
        failure_code: int | None = None,
        key: str | None = None,
        **extra: Any,
    ) -> int:
        """Seed one message; returns its id. Give at most one of status/script/steps/history;
        with none, the recipient rules decide (time-driven from ``created_at``)."""
        body: dict[str, Any] = {"phone": phone, "channel": channel, **extra}
        optional = {
            "content": content,
            "created_at": _iso(created_at),
            "status": status,
            "script": None if script is None else list(script),
            "steps": None if steps is None else list(steps),
            "history": None if history is None else list(history),
            "failure_reason": failure_reason,
            "failure_code": failure_code,
            "key": key,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return int(self._call("POST", "/messages", body)["message_id"])

    def add_messages(self, messages: Iterable[Mapping[str, Any]]) -> list[int]:
        """Seed many messages in one call (objects as :meth:`add_message` sends them)."""
        items = [dict(m) for m in messages]
        for item in items:
            if "created_at" in item:
                item["created_at"] = _iso(item["created_at"])
        return [int(i) for i in self._call("POST", "/messages", {"messages": items})["message_ids"]]

    def add_traffic(
        self,
        *,
        count: int | None = None,
        rate: float | None = None,
        duration: float | None = None,
        start: str | float | datetime | None = None,
        bursts: Iterable[Mapping[str, Any]] | None = None,
        spacing: str | None = None,
        seed: int | str | None = None,
        phones: Iterable[str] | None = None,
        phone_prefix: str | None = None,
        template_id: int | str | None = None,
        message_variables: object = None,
        content: str | None = None,
        key: str | None = None,
        status: str | None = None,
        steps: Iterable[str | Mapping[str, Any]] | None = None,
        progression: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Other senders' WhatsApp messages on a key's owner, laid out over a period; each stays
        invisible to the API until the simulator's clock reaches its ``created_at``.

        ``count`` messages (or ``rate`` per second) over ``duration`` seconds (default 3600) from
        ``start`` (default now; ISO 8601, epoch seconds, a datetime, or ``"now-3600"``), plus
        ``bursts`` (``{"offset" or "start", "duration", "count" or "rate"}``). Returns ``count``,
        ``first_id``/``last_id`` (ids are contiguous), ``message_ids`` (up to 1,000 messages),
        ``first_created_at``/``last_created_at``, ``visible`` and the ``windows``.
        See docs/simulator.md, "Traffic from other senders".
        """
        optional = {
            "count": count,
            "rate": rate,
            "duration": duration,
            "start": _iso(start),
            "bursts": None if bursts is None else [_burst(b) for b in bursts],
            "spacing": spacing,
            "seed": seed,
            "phones": None if phones is None else list(phones),
            "phone_prefix": phone_prefix,
            "template_id": template_id,
            "message_variables": message_variables,
            "content": content,
            "key": key,
            "status": status,
            "steps": None if steps is None else list(steps),
            "progression": progression,
        }
        body = {**{k: v for k, v in optional.items() if v is not None}, **extra}
        return dict(self._call("POST", "/traffic", body))

    def get_message(self, message_id: int) -> dict[str, Any]:
        """Admin view: current status, history (epoch + ISO times), schedule or script; no poll consumed."""
        return dict(self._call("GET", f"/messages/{int(message_id)}"))

    def messages(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/messages"))

    def hold(self, message_id: int) -> dict[str, Any]:
        """Freeze a message at its current status."""
        return dict(self._call("POST", f"/messages/{int(message_id)}/hold"))

    def set_status(
        self,
        message_id: int,
        status: str,
        *,
        failure_reason: str | None = None,
        failure_code: int | None = None,
    ) -> dict[str, Any]:
        """Move a message to ``status`` now and keep it there."""
        body: dict[str, Any] = {"status": status}
        if failure_reason is not None:
            body["failure_reason"] = failure_reason
        if failure_code is not None:
            body["failure_code"] = failure_code
        return dict(self._call("POST", f"/messages/{int(message_id)}/status", body))

    # -- keys --------------------------------------------------------------------------------

    def keys(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/keys"))

    def add_key(
        self, family: str | KeyFamily, key: str | None = None, *, same_owner_as: str | None = None
    ) -> str:
        """Another valid key (its own messages unless ``same_owner_as`` names a key); returns it."""
        body: dict[str, Any] = {"family": str(family)}
        if key is not None:
            body["key"] = key
        if same_owner_as is not None:
            body["same_owner_as"] = same_owner_as
        return str(self._call("POST", "/keys", body)["key"])

    def rotate_key(self, family: str | KeyFamily, key: str | None = None) -> str:
        """Deprecate the family's primary key (or ``key``) and return its replacement."""
        body: dict[str, Any] = {"family": str(family)}
        if key is not None:
            body["key"] = key
        return str(self._call("POST", "/keys/rotate", body)["key"])

    def deprecate_key(self, key: str) -> None:
        self._call("POST", "/keys/deprecate", {"key": key})

    # -- limits and faults -------------------------------------------------------------------

    def set_rate_limit(self, rate: float | None, burst: int | None = None, *, key: str | None = None) -> None:
        """Token bucket for every key (or one ``key``); ``rate=None`` removes the limit."""
        body: dict[str, Any] = {"rate": rate}
        if burst is not None:
            body["burst"] = burst
        if key is not None:
            body["key"] = key
        self._call("PUT", "/rate-limit", body)

    def inject_fault(
        self,
        kind: str,
        *,
        count: int | None = None,
        ratio: float | None = None,
        status: int | None = None,
        latency: float | None = None,
        path: str | None = None,
        method: str | None = None,
    ) -> str:
        """Add a fault (``status``/``html``/``malformed``/``drop``/``latency``); returns its id."""
        body = {
            "kind": kind,
            "count": count,
            "ratio": ratio,
            "status": status,
            "latency": latency,
            "path": path,
            "method": method,
        }
        return str(self._call("POST", "/faults", {k: v for k, v in body.items() if v is not None})["id"])

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/faults"))

    def clear_faults(self, fault_id: str | None = None) -> int:
        """Remove one fault or all of them; returns how many were removed."""
        if fault_id is None:
            return int(self._call("DELETE", "/faults")["cleared"])
        return int(self._call("DELETE", f"/faults/{fault_id}")["cleared"])

    # -- statistics, templates, rules --------------------------------------------------------

    def stats(self, *, messages: bool = True) -> dict[str, Any]:
        """Counters (see docs/simulator.md, "Statistics"); ``messages=False`` skips per-message history."""
        return dict(self._call("GET", "/stats" + ("" if messages else "?messages=false")))

    def reset_stats(self) -> None:
        self._call("DELETE", "/stats")

    def templates(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/templates"))

    def add_template(self, template: Mapping[str, Any]) -> dict[str, Any]:
        """Add or replace a template: ``template_id``, ``name``, ``body``, optional ``header_format``,
        ``header_text``, ``footer``, ``buttons``, ``lang``, ``status``, ``active``."""
        return dict(self._call("POST", "/templates", dict(template))[0])

    def rules(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/rules"))

    def set_rules(self, rules: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return list(self._call("PUT", "/rules", [dict(r) for r in rules]))

    def add_rule(self, rule: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Add a recipient rule in front of the others."""
        return list(self._call("POST", "/rules", dict(rule)))

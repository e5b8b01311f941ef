"""Injectable faults: what a real network and a real proxy in front of Octopods do to clients.

Kinds:

* ``status``: a 5xx answer (default 503) with the JSON error envelope;
* ``html``: a proxy's HTML error page (default 502, ``text/html``), what nginx or a load balancer
  sends when the API behind it is down — clients must not try to parse it as JSON;
* ``malformed``: HTTP 200 with a truncated, invalid JSON body;
* ``drop``: the TCP connection is closed with no response at all;
* ``lost_response``: the request is served (a send creates its message), then the connection is
  closed before the answer goes out: what a client sees when a gateway times out after the API did
  the work. The fault that tests at-most-once sending;
* ``latency``: the response is delayed by ``latency`` seconds (the request is then served normally).

Each fault applies to the next ``count`` matching requests, or to a seeded random ``ratio`` of them,
optionally only for paths starting with ``path`` and/or one HTTP ``method``. Faults sit in front of
the API: they are decided before authentication and rate limiting, and (except ``latency`` and
``lost_response``) answer without touching any message, so they never advance a scripted status.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


class FaultKind(StrEnum):
    STATUS = "status"
    HTML = "html"
    MALFORMED = "malformed"
    DROP = "drop"
    LOST_RESPONSE = "lost_response"
    LATENCY = "latency"


_DEFAULT_STATUS = {FaultKind.STATUS: 503, FaultKind.HTML: 502}


@dataclass
class Fault:
    """One injected fault and how many times it has fired."""

    kind: FaultKind
    count: int | None = None
    ratio: float | None = None
    status: int | None = None
    latency: float | None = None
    path: str | None = None
    method: str | None = None
    fault_id: str = ""
    hits: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.count is not None and self.ratio is not None:
            raise ValueError("give a fault either count or ratio, not both")
        if self.count is None and self.ratio is None:
            self.count = 1
        if self.count is not None and self.count < 1:
            raise ValueError("fault count must be at least 1")
        if self.ratio is not None and not 0.0 < self.ratio <= 1.0:
            raise ValueError("fault ratio must be in (0, 1]")
        if self.kind in _DEFAULT_STATUS:
            self.status = self.status or _DEFAULT_STATUS[self.kind]
            if not 100 <= self.status <= 599:
                raise ValueError("fault status must be an HTTP status code")
        elif self.status is not None:
            raise ValueError(f"a {self.kind.value} fault takes no status")
        if self.kind is FaultKind.LATENCY:
            if self.latency is None or self.latency < 0:
                raise ValueError("a latency fault needs latency >= 0 seconds")
        elif self.latency is not None:
            raise ValueError(f"a {self.kind.value} fault takes no latency")
        if self.method is not None:
            self.method = self.method.upper()

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.hits >= self.count

    def applies(self, method: str, path: str) -> bool:
        """Does this request match (and, for ratio faults, win the seeded draw)? Counts the hit."""
        if self.exhausted:
            return False
        if self.method is not None and method.upper() != self.method:
            return False
        if self.path is not None and not path.startswith(self.path):
            return False
        if self.ratio is not None and self.rng.random() >= self.ratio:
            return False
        self.hits += 1
        return True

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.fault_id,
            "kind": self.kind.value,
            "count": self.count,
            "ratio": self.ratio,
            "status": self.status,
            "latency": self.latency,
            "path": self.path,
            "method": self.method,
            "hits": self.hits,
            "remaining": None if self.count is None else max(0, self.count - self.hits),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        try:
            kind = FaultKind(str(data["kind"]).lower())
        except (KeyError, ValueError):
            raise ValueError("fault kind must be one of " + ", ".join(k.value for k in FaultKind)) from None
        known = {"kind", "count", "ratio", "status", "latency", "path", "path_prefix", "method"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")

        def num(name: str, conv: type) -> Any:
            value = data.get(name)
            if value is None:
                return None
            if isinstance(value, bool):
                raise ValueError(f"fault {name} must be a number")
            try:
                return conv(value)
            except (TypeError, ValueError):
                raise ValueError(f"fault {name} must be a number") from None

        return cls(
            kind=kind,
            count=num("count", int),
            ratio=num("ratio", float),
            status=num("status", int),
            latency=num("latency", float),
            path=data.get("path") or data.get("path_prefix"),
            method=data.get("method"),
        )


def parse_fault_spec(text: str) -> dict[str, Any]:
    """CLI form ``KIND[:VALUE][:key=value,key=value]`` → the admin API's fault object.

    ``VALUE`` is the HTTP status for ``status``/``html`` and the seconds for ``latency``. Examples:
    ``status:503:ratio=0.1``, ``drop:count=2``, ``latency:1.5:path=/api/v1/whatsapp,method=GET``.
    """
    parts = text.split(":")
    data: dict[str, Any] = {"kind": parts[0].strip().lower()}
    for part in parts[1:]:
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            for pair in part.split(","):
                if not pair.strip():
                    continue
                key, _, value = pair.partition("=")
                data[key.strip().lower()] = value.strip()
        elif data["kind"] == FaultKind.LATENCY.value:
            data["latency"] = part
        else:
            data["status"] = part
    return data


class FaultInjector:
    """The active faults, in the order they were added. Ratio draws use one seeded stream per fault."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._ids = itertools.count(1)
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        fault.fault_id = f"fault-{next(self._ids)}"
        fault.rng = random.Random(f"{self._seed}:{fault.fault_id}")
        self.faults.append(fault)
        return fault

    def clear(self, fault_id: str | None = None) -> int:
        """Remove one fault (by id) or all; returns how many were removed."""
        before = len(self.faults)
        self.faults = [] if fault_id is None else [f for f in self.faults if f.fault_id != fault_id]
        return before - len(self.faults)

    def pick(self, method: str, path: str) -> tuple[float, Fault | None]:
        """Total extra latency and the first terminal fault (if any) for this request."""
        delay = 0.0
        terminal: Fault | None = None
        for fault in self.faults:
            if fault.kind is FaultKind.LATENCY:
                if fault.applies(method, path):
                    delay += fault.latency or 0.0
            elif terminal is None and fault.applies(method, path):
                terminal = fault
        if any(f.exhausted for f in self.faults):
            self.faults = [f for f in self.faults if not f.exhausted]
        return delay, terminal

    def describe(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self.faults]

"""Counters for tests and benchmarks: requests, responses, connections, 429s, sends.

Only API requests (``/api/...`` and unknown paths) are counted as requests; admin calls under
``/_simulator/`` are not, so reading the statistics does not change them. Requests that carry a valid
key of the right family (those a key's rate limit applies to) are also counted per key, per second,
under the key's fingerprint, so a test can check the rate that several clients sharing one key sent
at together. TCP connections are
counted by the server's own connection hooks, so keep-alive reuse never increases
``connections.accepted``; they include every connection (admin ones too), since a connection is
accepted before any request on it is seen.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

#: ``responses_by_status`` key for requests answered by closing the connection (``drop`` fault).
DROPPED = "dropped"


@dataclass
class KeyTimeline:
    """One key's requests and 429s per whole wall-clock second."""

    requests: int = 0
    rate_limited: int = 0
    requests_per_second: Counter[int] = field(default_factory=Counter)
    rate_limited_per_second: Counter[int] = field(default_factory=Counter)
    first_rate_limited_at: float | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "requests_per_second": {str(second): n for second, n in sorted(self.requests_per_second.items())},
            "rate_limited_per_second": {
                str(second): n for second, n in sorted(self.rate_limited_per_second.items())
            },
            "first_rate_limited_at": self.first_rate_limited_at,
        }


class Stats:
    """Mutable counters; :meth:`snapshot` gives the JSON the admin API returns."""

    def __init__(self, now: float) -> None:
        self.connections_open = 0
        self.reset(now)

    def reset(self, now: float) -> None:
        """Zero every counter except the number of currently open connections (a live value)."""
        self.since = now
        self.requests_total = 0
        self.by_route: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.by_route_status: dict[str, Counter[str]] = {}
        self.rate_limited = 0
        self.faults: Counter[str] = Counter()
        self.connections_accepted = 0
        self.sends_by_recipient: Counter[str] = Counter()
        self.sends_by_channel: Counter[str] = Counter()
        # Wall-clock timeline (whole epoch seconds), for checking a client's request rate.
        self.requests_per_second: Counter[int] = Counter()
        self.rate_limited_per_second: Counter[int] = Counter()
        self.first_rate_limited_at: float | None = None
        # The same, per key (by fingerprint), for the requests a key's rate limit applies to.
        self.by_key: dict[str, KeyTimeline] = {}

    def connection_made(self) -> None:
        self.connections_accepted += 1
        self.connections_open += 1

    def connection_lost(self) -> None:
        self.connections_open = max(0, self.connections_open - 1)

    def request(self, route: str) -> None:
        self.requests_total += 1
        self.by_route[route] += 1
        self.requests_per_second[int(time.time())] += 1

    def response(self, route: str, status: int | str) -> None:
        key = str(status)
        self.by_status[key] += 1
        self.by_route_status.setdefault(route, Counter())[key] += 1
        if key == "429":
            self.rate_limited += 1
            now = time.time()
            self.rate_limited_per_second[int(now)] += 1
            if self.first_rate_limited_at is None:
                self.first_rate_limited_at = now

    def key_request(self, fingerprint: str, *, rate_limited: bool) -> None:
        """A request with a valid key (``fingerprint``) met its rate limit; a 429 if ``rate_limited``."""
        now = time.time()
        timeline = self.by_key.get(fingerprint)
        if timeline is None:
            timeline = self.by_key[fingerprint] = KeyTimeline()
        timeline.requests += 1
        timeline.requests_per_second[int(now)] += 1
        if rate_limited:
            timeline.rate_limited += 1
            timeline.rate_limited_per_second[int(now)] += 1
            if timeline.first_rate_limited_at is None:
                timeline.first_rate_limited_at = now

    def fault(self, kind: str) -> None:
        self.faults[kind] += 1

    def send(self, channel: str, phone: str) -> None:
        self.sends_by_recipient[phone] += 1
        self.sends_by_channel[channel] += 1

    def snapshot(
        self, messages: dict[str, Any] | None, now: float, message_counts: dict[str, dict[str, int]]
    ) -> dict[str, Any]:
        """The statistics JSON; ``messages`` of ``None`` leaves the per-message part out.

        ``message_counts`` (messages by source) is read from the store, not counted here, so
        :meth:`reset` does not zero it: it describes what exists, not what happened since.
        """
        snapshot = {
            "since": round(self.since, 6),
            "now": round(now, 6),
            "requests_total": self.requests_total,
            "requests_by_route": dict(self.by_route),
            "responses_by_status": dict(self.by_status),
            "responses_by_route": {route: dict(c) for route, c in self.by_route_status.items()},
            "rate_limited": self.rate_limited,
            "faults_injected": dict(self.faults),
            "connections": {"accepted": self.connections_accepted, "open": self.connections_open},
            "sends_by_recipient": dict(self.sends_by_recipient),
            "sends_by_channel": dict(self.sends_by_channel),
            **message_counts,
            "timeline": {
                "requests_per_second": {
                    str(second): n for second, n in sorted(self.requests_per_second.items())
                },
                "rate_limited_per_second": {
                    str(second): n for second, n in sorted(self.rate_limited_per_second.items())
                },
                "first_rate_limited_at": self.first_rate_limited_at,
                "by_key": {fingerprint: t.snapshot() for fingerprint, t in sorted(self.by_key.items())},
            },
        }
        if messages is not None:
            snapshot["messages"] = messages
        return snapshot

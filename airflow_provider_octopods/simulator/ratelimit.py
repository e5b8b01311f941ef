"""Per-key token buckets: the documented "per-API-key" rate limit, with numbers of our choosing.

The docs say only that sustained bursts get HTTP 429 and that clients must wait until "the
returned retry timestamp" (U1). Each key gets a bucket of ``burst`` tokens refilled at ``rate`` per
second; a request takes one token. A refused request takes none, so a client that honours the
retry time gets through at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """``rate`` requests per second, bursts of up to ``burst``."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError("rate limit must be a positive number of requests per second")
        if self.burst < 1:
            raise ValueError("rate burst must be at least 1")

    def to_dict(self) -> dict[str, float | int]:
        return {"rate": self.rate, "burst": self.burst}

    @classmethod
    def of(cls, rate: float, burst: int | None = None) -> RateLimit:
        """Burst defaults to the rate rounded up (one second's worth), at least 1."""
        return cls(float(rate), int(burst) if burst is not None else max(1, int(-(-rate // 1))))


class TokenBucket:
    """Classic token bucket on the simulator clock."""

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self.tokens = float(limit.burst)
        self.stamp = now

    def take(self, now: float) -> float:
        """Take a token: 0.0 if allowed, else seconds until one will be available (nothing taken)."""
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(float(self.limit.burst), self.tokens + elapsed * self.limit.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.limit.rate


class RateLimiter:
    """A default limit for every key plus per-key overrides (``None`` = unlimited)."""

    def __init__(self, default: RateLimit | None = None) -> None:
        self.default = default
        self._overrides: dict[str, RateLimit | None] = {}
        self._buckets: dict[str, TokenBucket] = {}

    def limit_for(self, key: str) -> RateLimit | None:
        return self._overrides.get(key, self.default)

    def set_default(self, limit: RateLimit | None) -> None:
        self.default = limit
        self._buckets.clear()

    def set_for_key(self, key: str, limit: RateLimit | None) -> None:
        self._overrides[key] = limit
        self._buckets.pop(key, None)

    def clear_key(self, key: str) -> None:
        self._overrides.pop(key, None)
        self._buckets.pop(key, None)

    def check(self, key: str, now: float) -> float:
        """0.0 when the request may proceed, else the seconds to wait."""
        limit = self.limit_for(key)
        if limit is None:
            return 0.0
        bucket = self._buckets.get(key)
        if bucket is None or bucket.limit != limit:
            bucket = self._buckets[key] = TokenBucket(limit, now)
        return bucket.take(now)

    def describe(self) -> dict[str, object]:
        return {
            "default": None if self.default is None else self.default.to_dict(),
            "per_key_count": len(self._overrides),
        }

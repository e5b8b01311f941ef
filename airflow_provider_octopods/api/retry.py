"""
When to repeat a request and how long to wait first: :class:`RetryPolicy`, and the 429 retry time.

The policy is pure: it answers "is this error worth another attempt?", "does it count against the
retry budget?" and "how long until the next attempt?". Both transports run it through tenacity
(:func:`~airflow_provider_octopods.api.retrying.tenacity_kwargs`), the sync hook with ``Retrying``
and the async hook with ``AsyncRetrying``, so a retry means the same thing on a worker and in the
triggerer.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_octopods.api.connection import DEFAULT_MAX_RETRIES
from airflow_provider_octopods.api.responses import ApiResponse, parse_timestamp
from airflow_provider_octopods.exceptions import (
    OctopodsConnectionError,
    OctopodsError,
    OctopodsRateLimitError,
    OctopodsServerError,
)

if TYPE_CHECKING:
    from airflow_provider_octopods.api.connection import ConnectionSettings
    from airflow_provider_octopods.api.endpoints import ApiRequest


_RETRY_BODY_KEYS = ("retry_at", "retry_after", "retry_timestamp", "retryAt", "retryAfter", "reset_at")
_EPOCH_THRESHOLD = 1e9  # numbers below this are "seconds to wait", above it absolute epoch seconds


def utc(epoch: float) -> dt.datetime:
    """Epoch seconds as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def _retry_hint(value: Any, now: float, *, http_date: bool) -> float | None:
    """One retry hint -> absolute epoch seconds, or None when unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            if http_date:
                try:
                    parsed = email.utils.parsedate_to_datetime(text)
                except (TypeError, ValueError, IndexError):
                    parsed = None
                if parsed is not None:
                    if parsed.tzinfo is None:
                        parsed = parsed.replace(tzinfo=dt.UTC)
                    return parsed.timestamp()
            stamp = parse_timestamp(text)
            return stamp.timestamp() if stamp else None
    if number is None or number != number or number in (float("inf"), float("-inf")):
        return None
    if number < _EPOCH_THRESHOLD:
        return now + max(number, 0.0)
    if number > 1e12:  # epoch milliseconds
        number /= 1000.0
    return number


def rate_limit_retry_at(response: ApiResponse, data: Any, *, now: float | None = None) -> dt.datetime | None:
    """
    When a 429 says the next request may go, or None if it gives no readable hint.

    Reads ``Retry-After`` (seconds or an HTTP date), ``X-RateLimit-Reset`` and the body's retry
    timestamp (epoch seconds or milliseconds, ISO 8601, or seconds to wait). The docs only say "the
    returned retry timestamp", so every plausible form is accepted; when several are present the
    latest wins, which is the safe reading.
    """
    current = time.time() if now is None else now
    hints = [
        _retry_hint(response.headers.get("retry-after"), current, http_date=True),
        _retry_hint(response.headers.get("x-ratelimit-reset"), current, http_date=False),
    ]
    if isinstance(data, Mapping):
        hints.extend(_retry_hint(data.get(key), current, http_date=False) for key in _RETRY_BODY_KEYS)
    valid = [hint for hint in hints if hint is not None]
    if not valid:
        return None
    # A hint in the past means "now"; one absurdly far away is capped at a day.
    return utc(min(max(max(valid), current), current + 86400.0))


def seconds_until(moment: dt.datetime, *, now: float | None = None) -> float:
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def transport_error(
    request: ApiRequest,
    problem: str,
    *,
    may_have_reached_server: bool,
    settings: ConnectionSettings | None = None,
) -> OctopodsConnectionError:
    """
    The connection-level failure of a transport, worded the same for both transports.

    When the connection's host had no scheme, the message says that https was assumed: the usual
    reason a connection to a plain-HTTP server (the bundled simulator, say) fails this way.
    """
    hint = ""
    if settings is not None and settings.scheme_assumed:
        http = "http://" + settings.base_url.removeprefix("https://")
        hint = (
            f" The connection's host has no scheme, so https was assumed ({settings.base_url}); for a "
            f"plain-HTTP server on a loopback address, such as the bundled simulator, write {http}."
        )
    return OctopodsConnectionError(
        f"Could not complete {request.describe()}: {problem}.{hint}",
        may_have_reached_server=may_have_reached_server,
    )


@dataclass(frozen=True)
class RetryPolicy:
    """
    When to repeat a request, and how long to wait first. Used through tenacity by both transports.

    * Connection failures, timeouts, 5xx and unreadable bodies are retried with exponential backoff
      and jitter, for reads. A send is repeated only if the connection failed before the request
      could leave, because Octopods has no idempotency key and a repeat would send twice.
    * A 429 waits until its retry time, for every request (a 429 means it was not processed). With
      ``max_rate_limit_wait`` set, a longer wait raises :class:`OctopodsRateLimitError` instead (the
      sync hook should not sleep for long on a worker); with ``None``, 429s are waited out and do not
      count as failures (triggers, whose deadline bounds the wait).
    * At most ``max_retries`` failures are retried in a row.

    :param max_retries: Failures to retry before giving up (the connection's ``max_retries``).
    :param backoff_initial: First backoff in seconds; doubled each time.
    :param backoff_max: Longest single backoff in seconds.
    :param max_rate_limit_wait: Longest 429 wait in seconds, or None for unbounded.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    max_rate_limit_wait: float | None = 60.0

    def is_retryable(self, error: BaseException, request: ApiRequest) -> bool:
        if isinstance(error, OctopodsRateLimitError):
            return (
                self.max_rate_limit_wait is None or seconds_until(error.retry_at) <= self.max_rate_limit_wait
            )
        if isinstance(error, OctopodsConnectionError):
            return request.idempotent or not error.may_have_reached_server
        if isinstance(error, OctopodsServerError):
            return request.idempotent
        return False

    def backoff(self, failures: int) -> float:
        """Exponential backoff with jitter for the ``failures``-th failure in a row (1-based)."""
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** max(failures - 1, 0)))
        return ceiling * random.uniform(0.5, 1.0)

    def delay(self, error: BaseException | None, failures: int, attempts: int | None = None) -> float:
        """
        Seconds to wait before the next attempt.

        :param failures: Failures counted so far (drives the backoff of transient errors).
        :param attempts: All attempts so far; drives the backoff of 429s that gave no retry time.
        """
        if isinstance(error, OctopodsRateLimitError):
            if error.retry_hinted:
                # A little jitter spreads the herd of waiters that got the same retry time.
                return seconds_until(error.retry_at) + random.uniform(0.0, 0.25)
            return self.backoff(attempts or failures)
        return self.backoff(failures)

    def counts_as_failure(self, error: BaseException | None) -> bool:
        return not (isinstance(error, OctopodsRateLimitError) and self.max_rate_limit_wait is None)


def retry_log_line(request: ApiRequest, error: BaseException, wait: float, failures: int, limit: int) -> str:
    """One log line per retry, the same for both transports (no key, no body)."""
    reason = type(error).__name__
    if isinstance(error, OctopodsError) and error.status_code:
        reason = f"HTTP {error.status_code}"
    if isinstance(error, OctopodsRateLimitError):
        return f"Octopods rate-limited {request.describe()}; waiting {wait:.1f} s as it asks."
    return f"{request.describe()} failed ({reason}); retry {failures}/{limit} in {wait:.1f} s."

"""
A :class:`~airflow_provider_octopods.api.retry.RetryPolicy` as tenacity strategies.

tenacity's own strategy classes (``retry_base``, ``stop_base``, ``wait_base``) built from the policy,
for both ``Retrying`` (sync hook) and ``AsyncRetrying`` (async hook). Imported on the first request,
not when a DAG file imports the provider.

One thing tenacity does not count for us: failures against ``max_retries``. A 429 that the
triggerer waits out is an attempt but not a failure, so the budget is not ``attempt_number``. The
count lives in the run's own tenacity statistics (``retry_object.statistics``, reset by tenacity
when a run begins), written by :class:`RetryUnderPolicy`, which tenacity always consults first, and
read by the stop and wait strategies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from airflow_provider_octopods.exceptions import OctopodsError

if TYPE_CHECKING:
    from tenacity import RetryCallState

    from airflow_provider_octopods.api.endpoints import ApiRequest
    from airflow_provider_octopods.api.retry import RetryPolicy

#: The key of the failure count in a run's tenacity statistics.
FAILURES = "octopods_failures"

OnRetry = Callable[[BaseException, float, int], None]


def _error(state: RetryCallState) -> BaseException | None:
    outcome = state.outcome
    return outcome.exception() if outcome is not None and outcome.failed else None


def failures_so_far(state: RetryCallState) -> int:
    """Failures of this run that count against ``max_retries``."""
    return int(state.retry_object.statistics.get(FAILURES, 0))


class RetryUnderPolicy(retry_base):
    """Retry what the policy retries for this request, and count the failures that count."""

    def __init__(self, policy: RetryPolicy, request: ApiRequest) -> None:
        self.policy = policy
        self.request = request

    def __call__(self, retry_state: RetryCallState) -> bool:
        error = _error(retry_state)
        if error is None or not self.policy.is_retryable(error, self.request):
            return False
        if self.policy.counts_as_failure(error):
            retry_state.retry_object.statistics[FAILURES] = failures_so_far(retry_state) + 1
        return True


class StopAfterFailures(stop_base):
    """Give up once more than ``max_failures`` failures counted (429s the triggerer waits out do not)."""

    def __init__(self, max_failures: int) -> None:
        self.max_failures = max_failures

    def __call__(self, retry_state: RetryCallState) -> bool:
        return failures_so_far(retry_state) > self.max_failures


class WaitUnderPolicy(wait_base):
    """The policy's pause: the 429's retry time, or exponential backoff with jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        return self.policy.delay(
            _error(retry_state), failures_so_far(retry_state), retry_state.attempt_number
        )


class ReportRetry:
    """``before_sleep``: tell the caller what failed, how long the pause is, and the failures so far."""

    def __init__(self, on_retry: OnRetry) -> None:
        self.on_retry = on_retry

    def __call__(self, retry_state: RetryCallState) -> None:
        error = _error(retry_state)
        if error is not None:
            self.on_retry(error, retry_state.upcoming_sleep, failures_so_far(retry_state))


class RaiseWithAttempts:
    """``retry_error_callback``: raise the last error itself, noting how many attempts it took."""

    def __call__(self, retry_state: RetryCallState) -> Any:
        error = _error(retry_state)
        assert error is not None, "tenacity gives up only after a failed attempt"
        if isinstance(error, OctopodsError):
            error.attempts = retry_state.attempt_number
        raise error


def tenacity_kwargs(policy: RetryPolicy, request: ApiRequest, *, on_retry: OnRetry | None) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying`` / ``tenacity.AsyncRetrying``."""
    kwargs: dict[str, Any] = {
        "retry": RetryUnderPolicy(policy, request),
        "stop": StopAfterFailures(policy.max_retries),
        "wait": WaitUnderPolicy(policy),
        "retry_error_callback": RaiseWithAttempts(),
        "reraise": True,
    }
    if on_retry is not None:
        kwargs["before_sleep"] = ReportRetry(on_retry)
    return kwargs

"""Typed errors of the Octopods provider.

Every error carries what the API told us (``status_code``, ``error_code``, ``request_id``) as
attributes, so callers branch on types and attributes instead of matching message strings. Messages
say what went wrong and what to do; they are built from response metadata only and never contain an
API key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

if TYPE_CHECKING:
    import datetime as dt

__all__ = [
    "OctopodsApiError",
    "OctopodsAuthError",
    "OctopodsConnectionError",
    "OctopodsDeliveryFailed",
    "OctopodsError",
    "OctopodsMalformedResponseError",
    "OctopodsNotFoundError",
    "OctopodsRateLimitError",
    "OctopodsSendOutcomeUnknown",
    "OctopodsServerError",
    "OctopodsTruncatedExportError",
    "OctopodsValidationError",
]


class OctopodsError(AirflowException):
    """
    Base class of every error raised by this provider.

    :param message: What went wrong and what to do about it.
    :param status_code: HTTP status of the response, when there was one.
    :param error_code: The ``error_code`` of the Octopods error envelope, when present. Its meaning
        depends on the endpoint family (WhatsApp 6 and SMS 5 both mean "deprecated key").
    :param request_id: The ``request_id`` Octopods assigned to the request; quote it to support.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code  # type: ignore[assignment]  # shadows the HTTPStatus class attribute
        self.error_code = error_code
        self.request_id = request_id

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request_id: {self.request_id})"
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only attributes must survive pickling (Airflow ships exceptions between processes).
        return (_rebuild_error, (type(self), self.message, self.__dict__.copy()))


def _rebuild_error(cls: type[OctopodsError], message: str, state: dict[str, Any]) -> OctopodsError:
    error = cls.__new__(cls)
    AirflowException.__init__(error, message)
    error.__dict__.update(state)
    return error


class OctopodsValidationError(OctopodsError, ValueError):
    """
    An input was rejected before any request was sent.

    It is also a :class:`ValueError`, because that is what it is; ``parameter`` names the offending
    argument or connection field.
    """

    def __init__(self, message: str, *, parameter: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class OctopodsAuthError(OctopodsError):
    """The API key was missing, unknown (HTTP 401) or rotated (HTTP 400 with the deprecated-key code)."""


class OctopodsNotFoundError(OctopodsError):
    """The message does not exist, or was sent with another key (HTTP 404, or 400 "not found")."""


class OctopodsRateLimitError(OctopodsError):
    """
    Octopods answered HTTP 429.

    :param retry_at: When the API allows the next request (UTC), from ``Retry-After`` or the body's
        retry timestamp; when the answer gave neither, the time of the first backoff step.
    :param retry_hinted: Whether ``retry_at`` came from the API (else retries back off exponentially).
    """

    def __init__(
        self,
        message: str,
        *,
        retry_at: dt.datetime,
        retry_hinted: bool = True,
        status_code: int | None = 429,
        error_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, error_code=error_code, request_id=request_id)
        self.retry_at = retry_at
        self.retry_hinted = retry_hinted


class OctopodsApiError(OctopodsError):
    """Any other 4xx answer (validation errors, 403 feature not enabled, ...)."""


class OctopodsServerError(OctopodsError):
    """Octopods (or a proxy in front of it) answered 5xx, still after the configured retries."""


class OctopodsMalformedResponseError(OctopodsServerError):
    """
    The response could not be read: not JSON, or missing a field the endpoint always returns.

    Treated like a server error (retried for reads), because a truncated body or a proxy's page in
    place of the API's answer is a transient fault of the path, not of the request.
    """


class OctopodsConnectionError(OctopodsError):
    """
    Octopods could not be reached, or the connection broke or timed out, still after the retries.

    :param may_have_reached_server: False only when the request provably never left (connection
        refused, DNS failure, connect timeout). A send is retried only in that case.
    """

    def __init__(self, message: str, *, may_have_reached_server: bool) -> None:
        super().__init__(message)
        self.may_have_reached_server = may_have_reached_server


class OctopodsDeliveryFailed(OctopodsError, AirflowFailException):  # noqa: N818 - the public name
    """
    A message ended in FAILED or UNDELIVERED (or was deleted before the awaited read receipt).

    It is also an ``AirflowFailException``: a failed message stays failed, so Airflow does not spend
    task retries polling it again (and ``soft_fail`` skips the sensor in poke mode as in deferred mode).

    :param message_id: The Octopods message id.
    :param delivery_status: The final status (``"FAILED"``, ``"UNDELIVERED"``, ``"DELETED"``).
    :param failure_code: The provider's code, e.g. ``470``, when Octopods gave one.
    :param failure_reason: The provider's reason text, when Octopods gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        message_id: int | None = None,
        delivery_status: str | None = None,
        failure_code: int | None = None,
        failure_reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message_id = message_id
        self.delivery_status = delivery_status
        self.failure_code = failure_code
        self.failure_reason = failure_reason


class OctopodsTruncatedExportError(OctopodsError):
    """
    An export window may hold more messages than the listing's newest 100 (``on_truncation="fail"``).

    Raised before anything is written, so the previous export file stays as it was.
    """


class OctopodsSendOutcomeUnknown(OctopodsError):  # noqa: N818 - reads as a state, like DeliveryFailed
    """
    An earlier try of a send task may have sent the message, and there is no way to check it.

    Raised on a retry of an SMS send whose earlier try ended after the request may have reached
    Octopods: sending again could deliver the SMS twice, so the task asks for a manual check.
    """

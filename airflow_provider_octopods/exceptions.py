"""Typed errors of the Octopods provider.

Every error carries what the API told us (``status_code``, ``error_code``, ``request_id``) as
attributes, so callers branch on types and attributes instead of matching message strings. Messages
say what went wrong and what to do; they are built from response metadata only and never contain an
API key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

__all__ = [
    "OctopodsApiError",
    "OctopodsAuthError",
    "OctopodsConnectionError",
    "OctopodsDeliveryFailed",
    "OctopodsError",
    "OctopodsIncompleteHistoryError",
    "OctopodsMalformedResponseError",
    "OctopodsNotFoundError",
    "OctopodsPartitionError",
    "OctopodsRateLimitError",
    "OctopodsSendOutcomeUnknown",
    "OctopodsServerError",
    "OctopodsTruncatedExportError",
    "OctopodsValidationError",
]


class OctopodsError(AirflowException):
    """
    Base class of every error raised by this provider.

    Errors cross process boundaries twice: in trigger events (the triggerer meets the error, the
    worker raises it) and pickled between Airflow's processes. Both go through :meth:`to_event` and
    :meth:`from_event`, a JSON-native form that keeps the type and every attribute, so the worker
    raises the very error the trigger met.

    :param message: What went wrong and what to do about it.
    :param status_code: HTTP status of the response, when there was one.
    :param error_code: The ``error_code`` of the Octopods error envelope, when present. Its meaning
        depends on the endpoint family (WhatsApp 6 and SMS 5 both mean "deprecated key").
    :param request_id: The ``request_id`` Octopods assigned to the request; quote it to support.
    :param attempts: How many requests were made before giving up (retries included).
    """

    #: Constructor keywords of a subclass that :meth:`to_event` carries besides the common ones.
    event_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_code: int | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.reason = message
        self.status_code = status_code  # type: ignore[assignment]  # shadows the HTTPStatus class attribute
        self.error_code = error_code
        self.request_id = request_id
        self.attempts = attempts

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _ERROR_TYPES[cls.__name__] = cls

    @property
    def message(self) -> str:
        """The reason, and how many attempts it took to give up, when there were retries."""
        if self.attempts > 1:
            return f"{self.reason} Gave up after {self.attempts} attempts."
        return self.reason

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request_id: {self.request_id})"
        return self.message

    def to_event(self) -> dict[str, Any]:
        """The error as JSON-native data (no key: messages and metadata never hold one)."""
        data: dict[str, Any] = {
            "type": type(self).__name__,
            "message": self.reason,
            "status_code": self.status_code,
            "error_code": self.error_code,
            "request_id": self.request_id,
            "attempts": self.attempts,
        }
        for name in self.event_fields:
            value = getattr(self, name)
            data[name] = value.isoformat() if isinstance(value, dt.datetime) else value
        return data

    @classmethod
    def from_event(cls, data: Mapping[str, Any]) -> OctopodsError:
        """
        The error :meth:`to_event` described, of its own type when it is one of this provider's
        errors, else an :class:`OctopodsError` with the same message (a trigger's unexpected bug).
        """
        error_type = _ERROR_TYPES.get(str(data.get("type")), OctopodsError)
        attempts = data.get("attempts")
        return error_type(
            str(data.get("message") or ""),
            status_code=data.get("status_code"),
            error_code=data.get("error_code"),
            request_id=data.get("request_id"),
            attempts=attempts if isinstance(attempts, int) and attempts > 0 else 1,
            **{name: error_type.decode_event_field(name, data.get(name)) for name in error_type.event_fields},
        )

    @classmethod
    def decode_event_field(cls, name: str, value: Any) -> Any:
        """Turn an :attr:`event_fields` value back into its attribute (datetimes from ISO 8601)."""
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only attributes must survive pickling (Airflow ships exceptions between processes).
        return (_error_from_event, (self.to_event(),))


_ERROR_TYPES: dict[str, type[OctopodsError]] = {"OctopodsError": OctopodsError}


def _error_from_event(data: Mapping[str, Any]) -> OctopodsError:
    return OctopodsError.from_event(data)


class OctopodsValidationError(OctopodsError, ValueError):
    """
    An input was rejected before any request was sent.

    It is also a :class:`ValueError`, because that is what it is; ``parameter`` names the offending
    argument or connection field.
    """

    event_fields = ("parameter",)

    def __init__(self, message: str, *, parameter: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.parameter = parameter

    @classmethod
    def decode_event_field(cls, name: str, value: Any) -> Any:
        return str(value) if value else "unknown"


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

    event_fields = ("retry_at", "retry_hinted")

    def __init__(
        self,
        message: str,
        *,
        retry_at: dt.datetime,
        retry_hinted: bool = True,
        status_code: int | None = 429,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, status_code=status_code, **kwargs)
        self.retry_at = retry_at
        self.retry_hinted = retry_hinted

    @classmethod
    def decode_event_field(cls, name: str, value: Any) -> Any:
        if name == "retry_at":
            try:
                return dt.datetime.fromisoformat(str(value))
            except ValueError:
                return dt.datetime.now(dt.UTC)
        return bool(value) if name == "retry_hinted" else value


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

    event_fields = ("may_have_reached_server",)

    def __init__(self, message: str, *, may_have_reached_server: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.may_have_reached_server = may_have_reached_server

    @classmethod
    def decode_event_field(cls, name: str, value: Any) -> Any:
        return value is not False  # when in doubt, the request may have reached Octopods


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

    event_fields = ("message_id", "delivery_status", "failure_code", "failure_reason")

    def __init__(
        self,
        message: str,
        *,
        message_id: int | None = None,
        delivery_status: str | None = None,
        failure_code: int | None = None,
        failure_reason: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.message_id = message_id
        self.delivery_status = delivery_status
        self.failure_code = failure_code
        self.failure_reason = failure_reason


class OctopodsTruncatedExportError(OctopodsError):
    """
    An export window may hold more messages than the listing's newest 100 (``on_truncation="fail"``).

    Raised before anything is written, so the previous export file stays as it was.
    """


class OctopodsIncompleteHistoryError(OctopodsError):
    """
    The capture partitions of a compaction leave stretches of its window uncovered (``on_gap="fail"``).

    Raised before anything is written and before any status is read again, so the previous history
    file stays as it was. A capture that has not landed yet shows up this way: a task retry a few
    minutes later picks it up.

    :param gaps: Each uncovered stretch as ``[start, end]`` ISO 8601 UTC strings (``None`` for an
        open end), in time order.
    """

    event_fields = ("gaps",)

    def __init__(self, message: str, *, gaps: list[list[str | None]] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.gaps = [list(gap) for gap in gaps or []]

    @classmethod
    def decode_event_field(cls, name: str, value: Any) -> Any:
        if not isinstance(value, list):
            return []
        return [list(gap) for gap in value if isinstance(gap, list | tuple) and len(gap) == 2]


class OctopodsPartitionError(OctopodsError):
    """
    A capture partition cannot be used: unreadable (corrupt gzip, bad JSON, wrong schema, unreadable
    Parquet), or written through another connection or API host than the others.

    Raised before anything is written. :attr:`partition` names the object (its URI, never a key).
    """

    event_fields = ("partition",)

    def __init__(self, message: str, *, partition: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.partition = partition

    @classmethod
    def decode_event_field(cls, name: str, value: Any) -> Any:
        return str(value) if value is not None else ""


class OctopodsSendOutcomeUnknown(OctopodsError):  # noqa: N818 - reads as a state, like DeliveryFailed
    """
    An earlier try of a send task may have sent the message, and there is no way to check it.

    Raised on a retry of an SMS send whose earlier try ended after the request may have reached
    Octopods: sending again could deliver the SMS twice, so the task asks for a manual check.
    """

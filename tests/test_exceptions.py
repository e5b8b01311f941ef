"""Errors cross process boundaries as data: one form for trigger events and for pickling."""

from __future__ import annotations

import datetime as dt
import json
import pickle

import pytest

from airflow_provider_octopods.exceptions import (
    OctopodsApiError,
    OctopodsAuthError,
    OctopodsConnectionError,
    OctopodsDeliveryFailed,
    OctopodsError,
    OctopodsIncompleteHistoryError,
    OctopodsMalformedResponseError,
    OctopodsNotFoundError,
    OctopodsPartitionError,
    OctopodsRateLimitError,
    OctopodsSendOutcomeUnknown,
    OctopodsServerError,
    OctopodsTruncatedExportError,
    OctopodsValidationError,
)

RETRY_AT = dt.datetime(2026, 4, 24, 12, 0, 30, tzinfo=dt.UTC)

ERRORS: list[OctopodsError] = [
    OctopodsError("plain"),
    OctopodsValidationError("bad phone", parameter="destination_phone"),
    OctopodsAuthError("rotated key", status_code=400, error_code=6, request_id="req-1"),
    OctopodsNotFoundError("no such message", status_code=404, request_id="req-2"),
    OctopodsRateLimitError("slow down", retry_at=RETRY_AT, retry_hinted=False, error_code=429),
    OctopodsApiError("refused", status_code=403),
    OctopodsServerError("down", status_code=503, attempts=4),
    OctopodsMalformedResponseError("truncated JSON", status_code=200),
    OctopodsConnectionError("connect refused", may_have_reached_server=False, attempts=3),
    OctopodsDeliveryFailed(
        "failed", message_id=98764, delivery_status="FAILED", failure_code=470, failure_reason="Window"
    ),
    OctopodsTruncatedExportError("window too wide"),
    OctopodsSendOutcomeUnknown("check the phone"),
    OctopodsIncompleteHistoryError(
        "gaps", gaps=[["2026-04-24T10:00:00Z", "2026-04-24T10:42:00Z"], ["2026-04-24T23:50:00Z", None]]
    ),
    OctopodsPartitionError("unreadable", partition="s3://bucket/capture/2026-04-24/x.jsonl.gz"),
]


def _state(error: OctopodsError) -> dict[str, object]:
    return {"type": type(error), "str": str(error), **vars(error)}


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: type(error).__name__)
def test_event_round_trip_keeps_type_message_and_attributes(error: OctopodsError) -> None:
    event = error.to_event()
    assert json.loads(json.dumps(event)) == event  # JSON-native, as trigger events must be
    rebuilt = OctopodsError.from_event(json.loads(json.dumps(event)))
    assert _state(rebuilt) == _state(error)


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: type(error).__name__)
def test_pickling_goes_through_the_same_form(error: OctopodsError) -> None:
    assert _state(pickle.loads(pickle.dumps(error))) == _state(error)


def test_attempts_show_in_the_message_only_after_retries() -> None:
    assert OctopodsServerError("down").message == "down"
    assert OctopodsServerError("down", attempts=4).message == "down Gave up after 4 attempts."


def test_an_unknown_type_becomes_a_plain_octopods_error() -> None:
    rebuilt = OctopodsError.from_event({"type": "KeyError", "message": "Unexpected KeyError"})
    assert type(rebuilt) is OctopodsError
    assert str(rebuilt) == "Unexpected KeyError"


def test_missing_fields_fall_back_to_the_safe_reading() -> None:
    """An event without a subclass's fields (say, an older one) still rebuilds, cautiously."""
    connection = OctopodsError.from_event({"type": "OctopodsConnectionError", "message": "broke"})
    assert isinstance(connection, OctopodsConnectionError)
    assert connection.may_have_reached_server is True  # a send is then never repeated
    limited = OctopodsError.from_event({"type": "OctopodsRateLimitError", "message": "429"})
    assert isinstance(limited, OctopodsRateLimitError)
    assert limited.retry_at.tzinfo is not None

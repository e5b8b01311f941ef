"""
The time window of an export or a compaction: ``[start, end)``, by default the run's data interval.

Both operators resolve their window here, so "a bound left out defaults to the data interval, when
the run has a real one" means the same thing for both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_octopods.exceptions import OctopodsValidationError
from airflow_provider_octopods.models import format_timestamp, parse_timestamp

__all__ = ["Window", "as_utc", "resolve_window"]


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[start, end)``; a missing bound is unbounded."""

    start: dt.datetime | None
    end: dt.datetime | None

    def __contains__(self, moment: dt.datetime) -> bool:
        return (self.start is None or moment >= self.start) and (self.end is None or moment < self.end)

    @property
    def bounded(self) -> bool:
        """Whether the window has a bound at all (a window-less run takes everything)."""
        return self.start is not None or self.end is not None

    def overlaps(self, other: Window) -> bool:
        """Whether the two windows share a moment."""
        starts_before_other_ends = self.start is None or other.end is None or self.start < other.end
        ends_after_other_starts = self.end is None or other.start is None or self.end > other.start
        return starts_before_other_ends and ends_after_other_starts

    def describe(self) -> str:
        return f"[{format_timestamp(self.start) or 'the beginning'}, {format_timestamp(self.end) or 'now'})"

    def as_pair(self) -> list[str | None]:
        """``[start, end]`` as ISO 8601 UTC strings (``None`` for an open end): JSON-native."""
        return [format_timestamp(self.start), format_timestamp(self.end)]


def as_utc(value: object, parameter: str) -> dt.datetime | None:
    """A datetime (pendulum included) or an ISO 8601 string, as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str) and (parsed := parse_timestamp(value)) is not None:
        return parsed
    raise OctopodsValidationError(
        f"Invalid `{parameter}`: expected a datetime or an ISO 8601 timestamp, got {value!r}.",
        parameter=parameter,
    )


def resolve_window(start: object, end: object, context: Mapping[str, Any]) -> Window:
    """
    The window of a run: ``start``/``end`` as given, a bound left out defaulting to the data interval.

    Manual runs and ``schedule=None`` DAGs get a zero-width data interval, which would select
    nothing: then a bound left out stays open.
    """
    first = as_utc(start, "start")
    last = as_utc(end, "end")
    interval_start = as_utc(context.get("data_interval_start"), "data_interval_start")
    interval_end = as_utc(context.get("data_interval_end"), "data_interval_end")
    if interval_start is not None and interval_end is not None and interval_start < interval_end:
        first = interval_start if start is None else first
        last = interval_end if end is None else last
    if first is not None and last is not None and first >= last:
        raise OctopodsValidationError(
            f"Invalid window: `start` ({format_timestamp(first)}) must be before `end` "
            f"({format_timestamp(last)}).",
            parameter="start",
        )
    return Window(first, last)

"""What a truncated export tells its user to do, from the message rate it just saw."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from airflow_provider_octopods import api

if TYPE_CHECKING:
    from airflow_provider_octopods.utils.windows import Window

__all__ = ["describe_duration", "truncation_advice"]

_CAPTURE_HINT = (
    "a capture DAG exporting into '.../capture/{{ ds }}/{{ ts_nodash }}.jsonl', compacted nightly "
    "with CompactSentMessagesOperator, keeps a complete history"
)


def describe_duration(seconds: float) -> str:
    """``90`` -> ``"1.5 minutes"``, ``30`` -> ``"30 seconds"``, ``1500`` -> ``"25 minutes"``."""
    if seconds < 60:
        return f"{max(seconds, 1):.0f} seconds"
    minutes = seconds / 60
    return f"{minutes:.1f} minutes" if minutes < 10 and minutes != int(minutes) else f"{minutes:.0f} minutes"


def truncation_advice(listed: list[dt.datetime], window: Window) -> str:
    """
    The remedy for a truncated export: a window, for a run without one; else how often to capture so
    that each capture holds fewer than 100 messages at the rate the listing shows (half the time the
    newest 100 spanned, leaving room for a busier stretch).
    """
    if not window.bounded:
        return (
            "This run has no window (no start or end, and no data interval, as manual runs and "
            "schedule=None DAGs get): give the export a window (start and end) or a schedule, so that "
            f"each run exports one interval and says exactly what it may have missed; {_CAPTURE_HINT}."
        )
    if len(listed) < 2:
        return f"Capture more often, and run each export soon after its interval ends; {_CAPTURE_HINT}."
    spanned = (max(listed) - min(listed)).total_seconds()
    return (
        f"Capture more often: the newest {api.LISTING_MAX_LIMIT} messages spanned "
        f"{describe_duration(spanned)}: capture at least every {describe_duration(spanned / 2)}, and run "
        f"each export soon after its interval ends; {_CAPTURE_HINT}."
    )

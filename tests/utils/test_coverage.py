"""Coverage and gaps of capture partitions: pure functions on windows with open ends."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_provider_octopods.utils.coverage import covered_by, gaps, span, union
from airflow_provider_octopods.utils.manifest import Manifest
from airflow_provider_octopods.utils.windows import Window


def at(hour: float) -> dt.datetime:
    return dt.datetime(2026, 4, 24, tzinfo=dt.UTC) + dt.timedelta(hours=hour)


def iso(hour: float | None) -> str | None:
    return None if hour is None else at(hour).isoformat().replace("+00:00", "Z")


def manifest(
    start: float | None,
    end: float | None,
    *,
    truncated: bool = False,
    oldest: float | None = None,
    exported: float = 48,
) -> Manifest:
    return Manifest(
        window_start=iso(start),
        window_end=iso(end),
        count=1,
        truncated=truncated,
        oldest_listed=iso(oldest),
        newest_listed=iso(end),
        exported_at=iso(exported) or "",
        file_format="jsonl",
        octopods_conn_id="octopods_default",
        api_host="app.octopods.io",
    )


def w(start: float | None, end: float | None) -> Window:
    return Window(None if start is None else at(start), None if end is None else at(end))


def after(hour: float, end: float | None) -> Window:
    """From just after ``hour``: a truncated capture may lack other messages of its oldest one's instant."""
    return Window(at(hour) + dt.timedelta(microseconds=1), None if end is None else at(end))


@pytest.mark.parametrize(
    ("given", "covers"),
    [
        (manifest(0, 1), w(0, 1)),
        (manifest(0, 1, truncated=True, oldest=0.5), after(0.5, 1)),  # only back to the oldest listed
        (manifest(0, 1, truncated=True, oldest=-1), w(0, 1)),
        (manifest(0, 1, truncated=True, oldest=2), None),  # listing newer than the whole window
        (manifest(0, 1, truncated=True), None),  # cut, and nothing dated to say how far back
        (manifest(0, 30, exported=25), w(0, 25)),  # a window into the future: up to the export only
        (manifest(30, 31, exported=25), None),
        (manifest(None, None, exported=5), w(None, 5)),  # no window: everything up to the export
        (manifest(None, None, truncated=True, oldest=3, exported=5), after(3, 5)),
    ],
    ids=[
        "whole",
        "truncated",
        "truncated-reaching-back",
        "truncated-newer",
        "truncated-undated",
        "future-window",
        "entirely-future",
        "no-window",
        "no-window-truncated",
    ],
)
def test_what_one_partition_covers(given: Manifest, covers: Window | None) -> None:
    assert covered_by(given) == covers


def test_the_export_time_counts_to_the_whole_second_before() -> None:
    """A message created just after the listing may print with a time a fraction before exported_at."""
    fraction = manifest(None, None, exported=5)
    stamped = Manifest(**{**fraction.__dict__, "exported_at": iso(5.0001)})
    assert covered_by(stamped) == w(None, 5)


def test_union_merges_overlapping_and_touching_windows() -> None:
    assert union([w(2, 3), w(0, 1), w(1, 1.5), w(2.5, 4), w(6, None)]) == [w(0, 1.5), w(2, 4), w(6, None)]
    assert union([w(None, 1), w(0, 2)]) == [w(None, 2)]
    assert union([]) == []


def test_gaps_are_the_uncovered_stretches_in_time_order() -> None:
    day = w(0, 24)
    assert gaps(day, [w(0, 24)]) == []
    assert gaps(day, [w(-1, 25)]) == []
    assert gaps(day, []) == [day]
    assert gaps(day, [w(1, 2), w(3, 23.5)]) == [w(0, 1), w(2, 3), w(23.5, 24)]
    assert gaps(day, [w(0, 10), w(10, 24)]) == []  # touching windows leave no gap
    assert gaps(day, [w(30, 40)]) == [day]
    assert gaps(w(None, 5), [w(1, 6)]) == [w(None, 1)]
    assert gaps(w(0, None), [w(None, 3)]) == [w(3, None)]


def test_span() -> None:
    assert span([w(3, 4), w(1, 2)]) == w(1, 4)
    assert span([w(None, 2), w(1, 3)]) == w(None, 3)
    assert span([]) is None


def test_window_overlaps_with_open_ends() -> None:
    assert w(0, 1).overlaps(w(0.5, 2))
    assert not w(0, 1).overlaps(w(1, 2))  # half-open: touching is not overlapping
    assert w(None, None).overlaps(w(5, 6))
    assert w(None, 1).overlaps(w(0, None))
    assert not w(2, None).overlaps(w(None, 2))

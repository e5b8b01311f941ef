"""
Which stretches of time a set of capture partitions covers, and the gaps they leave: pure functions
on :class:`~airflow_provider_octopods.utils.windows.Window`, with ``None`` bounds as unbounded.

A partition covers what its listing was sure to hold:

* its whole window when the listing was not cut (``truncated`` false);
* only what comes *after* ``oldest_listed`` when it was: older messages of the window may be
  missing, and so may other messages of the very instant of the oldest one listed (the API prints
  times to the second, so the 101st message may share it);
* never anything after ``exported_at``: messages created after the export ran cannot be in it (this
  is what makes a manifest with a window reaching into the future safe). The bound is taken to the
  whole second before, for the same reason: a message created just after the listing may print
  with a time a fraction of a second before ``exported_at``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from airflow_provider_octopods.utils.windows import Window

if TYPE_CHECKING:
    from airflow_provider_octopods.utils.manifest import Manifest

__all__ = ["covered_by", "gaps", "span", "union"]

_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)
_LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)
#: The finest time step of a record: a truncated capture covers from one step after its oldest.
_TICK = dt.timedelta(microseconds=1)


def _low(moment: dt.datetime | None) -> dt.datetime:
    return _EARLIEST if moment is None else moment


def _high(moment: dt.datetime | None) -> dt.datetime:
    return _LATEST if moment is None else moment


def _bound(moment: dt.datetime) -> dt.datetime | None:
    return None if moment in (_EARLIEST, _LATEST) else moment


def covered_by(manifest: Manifest) -> Window | None:
    """The stretch one partition covers, or None when it covers nothing."""
    start = manifest.moment("window_start")
    if manifest.truncated:
        oldest = manifest.moment("oldest_listed")
        if oldest is None:
            return None  # cut, and not even one dated record to say how far back it reached
        start = max(oldest + _TICK, _low(start))
    exported_at = manifest.moment("exported_at")
    if exported_at is not None:
        exported_at = exported_at.replace(microsecond=0)
    end = min(_high(manifest.moment("window_end")), _high(exported_at))
    if _low(start) >= end:
        return None
    return Window(_bound(_low(start)), _bound(end))


def union(windows: Iterable[Window]) -> list[Window]:
    """The windows merged into disjoint, sorted stretches (touching ones join)."""
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in sorted((_low(w.start), _high(w.end)) for w in windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return [Window(_bound(start), _bound(end)) for start, end in merged]


def span(windows: Iterable[Window]) -> Window | None:
    """From the earliest start to the latest end of ``windows`` (None for no windows)."""
    pairs = [(_low(w.start), _high(w.end)) for w in windows]
    if not pairs:
        return None
    return Window(_bound(min(start for start, _ in pairs)), _bound(max(end for _, end in pairs)))


def gaps(window: Window, covered: Iterable[Window]) -> list[Window]:
    """The stretches of ``window`` that no window of ``covered`` covers, in time order."""
    cursor, stop = _low(window.start), _high(window.end)
    found: list[Window] = []
    for piece in union(covered):
        start, end = _low(piece.start), _high(piece.end)
        if end <= cursor:
            continue
        if start >= stop:
            break
        if start > cursor:
            found.append(Window(_bound(cursor), _bound(start)))
        cursor = max(cursor, end)
        if cursor >= stop:
            break
    if cursor < stop:
        found.append(Window(_bound(cursor), _bound(stop)))
    return found

"""
The figures of a written file, on the asset events of the task's outlets.

A DAG scheduled on an export's (or a compaction's) asset runs when the file lands. The event that
triggers it carries the figures the task returned, so the downstream DAG can refuse an incomplete
day without opening the file:

* export: ``count``, ``window_start``, ``window_end``, ``truncated``;
* compaction: ``count``, ``window_start``, ``window_end``, ``complete``.

Every ``Asset`` outlet of the task (a ``Dataset`` on Airflow 2.11) gets them as its event's
``extra``. Every ``AssetAlias`` outlet (``DatasetAlias``) gets the file itself attached, as the
asset named by its plain URI, with the figures: that is how a templated destination
(``.../{{ ds }}.jsonl``) becomes a concrete asset of each run. Other outlets are left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["COMPACTION_FIGURES", "EXPORT_FIGURES", "attach_figures"]

#: The keys of the export's result that its asset events carry.
EXPORT_FIGURES = ("count", "window_start", "window_end", "truncated")
#: The keys of the compaction's result that its asset events carry.
COMPACTION_FIGURES = ("count", "window_start", "window_end", "complete")


def attach_figures(
    context: Mapping[str, Any], outlets: Iterable[Any], destination_uri: str, figures: Mapping[str, Any]
) -> None:
    """
    Put ``figures`` (JSON-native values) on the outlet events of ``outlets``: as the ``extra`` of
    each asset's event, and with the asset of ``destination_uri`` attached to each alias.

    A context without outlet events (an operator run by hand, outside a task) is left alone.
    """
    events = context.get("outlet_events")
    outlets = list(outlets or ())
    if events is None or not outlets:
        return
    from airflow.providers.common.compat.sdk import Asset, AssetAlias

    for outlet in outlets:
        if isinstance(outlet, AssetAlias):
            events[outlet].add(Asset(destination_uri), extra=dict(figures))
        elif isinstance(outlet, Asset):
            events[outlet].extra.update(figures)

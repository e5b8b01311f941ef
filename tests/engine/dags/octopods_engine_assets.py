"""
An export with its file as an outlet, and a DAG scheduled on that file, for the real-engine test.

``octopods_engine_export`` exports the WhatsApp listing to ``<AIRFLOW_HOME>/exports/whatsapp.jsonl``
with that file as its outlet asset; the scheduler then runs ``octopods_engine_export_consumer``,
whose task reads ``count`` and ``truncated`` from the event that triggered it (no file opened) and
returns them. On Airflow 2.11 the asset is a Dataset and the events are keyed by URI.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Asset, task

from airflow_provider_octopods.operators.export import ExportSentMessagesOperator

EXPORT = Asset(f"file://{Path(os.environ.get('AIRFLOW_HOME', '/tmp')) / 'exports' / 'whatsapp.jsonl'}")

with DAG(
    dag_id="octopods_engine_export",
    description="Export the listing; its file is an asset.",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    tags=["octopods", "engine-test"],
):
    ExportSentMessagesOperator(task_id="export", destination=EXPORT.uri, outlets=[EXPORT])

with DAG(
    dag_id="octopods_engine_export_consumer",
    description="Runs when the export lands; reads its figures from the asset event.",
    schedule=[EXPORT],
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    tags=["octopods", "engine-test"],
):

    @task
    def read_the_figures(**context: Any) -> dict[str, Any]:
        if "triggering_asset_events" in context:  # Airflow 3
            events = context["triggering_asset_events"][EXPORT]
        else:  # Airflow 2.11: Dataset events, keyed by URI
            events = context["triggering_dataset_events"][EXPORT.uri]
        figures = events[-1].extra
        return {"count": figures["count"], "truncated": figures["truncated"]}

    read_the_figures()

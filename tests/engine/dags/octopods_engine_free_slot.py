"""
A one-task DAG for the real-engine test: it can only run if an executor slot is free.

The engine runs with a single executor slot (``parallelism=1``). The test triggers this DAG while
the delivery sensor of ``octopods_gate_on_delivery`` is deferred: if the deferred sensor held the
slot, this task would stay queued.
"""

from __future__ import annotations

import datetime as dt

from airflow.providers.common.compat.sdk import DAG, task

with DAG(
    dag_id="octopods_engine_free_slot",
    description="Runs one tiny task: proof that an executor slot is free.",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    tags=["octopods", "engine-test"],
):

    @task
    def use_the_only_slot() -> str:
        return "ran while the delivery sensor was deferred"

    use_the_only_slot()

"""
A DAG that misses its deadline, for the real-engine test of ``OctopodsNotifier`` as a Deadline Alert.

The deadline is three seconds after the run is queued and its task takes fifteen, so every run
misses it: the scheduler sees the deadline pass, and the triggerer runs the notifier, which sends
an SMS (the default body, which names the late run) to the simulator. Deadline Alerts arrived in
Airflow 3.1; before it the DAG has no deadline and the test is skipped.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_octopods.notifications.octopods import OctopodsNotifier

ON_CALL = "+14155550188"


def deadline() -> dict[str, Any]:
    try:  # Airflow >= 3.2
        from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference
    except ImportError:
        try:  # Airflow 3.1
            from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference
        except ImportError:  # Airflow 2.11 and 3.0
            return {}
    return {
        "deadline": DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=dt.timedelta(seconds=3),
            callback=AsyncCallback(OctopodsNotifier, kwargs={"destination_phones": ON_CALL}),
        )
    }


with DAG(
    dag_id="octopods_engine_deadline",
    description="Always late: its deadline passes while its only task runs.",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    tags=["octopods", "engine-test"],
    **deadline(),
):

    @task
    def take_fifteen_seconds() -> None:
        time.sleep(15)

    take_fifteen_seconds()

"""
Two DAGs for the scale-out and failover engine test (``tests/engine/test_scaleout.py``).

``octopods_engine_scaleout`` has six deferrable delivery sensors on one WhatsApp key; each waits for
the list of message ids its run's conf gives it (``conf["wait_0"]``, ...), so a few hundred waits sit
in six triggers. ``wait_4`` tolerates two failed messages; every other sensor fails on the first.

``octopods_engine_late_delivery`` has one sensor with a short timeout: its deadline passes while the
triggerer holding its wait is dead, and it must then fail with a sensor timeout (``soft_fail`` is
off), although its messages are delivered after the deadline.

Every task has a single try (``retries=0``): a second try would hide a lost or repeated event.
"""

from __future__ import annotations

import datetime as dt

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_octopods.sensors.delivery import MessageDeliverySensor

#: Sensors of the scale-out DAG, and the one that tolerates failures (and how many).
SENSORS = 6
TOLERANT = 4
ALLOWED_FAILURES = 2
#: Seconds: long enough for every wait of the scale-out DAG; the late one ends during the outage.
TIMEOUT = 600
LATE_TIMEOUT = 120
#: The longest pause between two polls of one message, in seconds.
POKE_INTERVAL = 10

default_args = {"retries": 0}

with DAG(
    dag_id="octopods_engine_scaleout",
    description="Hundreds of delivery waits in a few triggers, spread over two triggerers.",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    default_args=default_args,
    tags=["octopods", "engine-test"],
):
    for index in range(SENSORS):
        MessageDeliverySensor(
            task_id=f"wait_{index}",
            message_id=f"{{{{ dag_run.conf['wait_{index}'] }}}}",
            allowed_failures=ALLOWED_FAILURES if index == TOLERANT else 0,
            poke_interval=POKE_INTERVAL,
            timeout=TIMEOUT,
        )

with DAG(
    dag_id="octopods_engine_late_delivery",
    description="A wait whose deadline passes while its triggerer is dead.",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    default_args=default_args,
    tags=["octopods", "engine-test"],
):
    MessageDeliverySensor(
        task_id="wait_late",
        message_id="{{ dag_run.conf['wait_late'] }}",
        poke_interval=POKE_INTERVAL,
        timeout=LATE_TIMEOUT,
        soft_fail=False,
    )

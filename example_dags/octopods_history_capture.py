"""
Capture the WhatsApp sent-message listing every 10 minutes, for a complete history of a busy channel.

The Octopods listing returns only the newest 100 messages and cannot page further back, so a channel
that sends more than 100 messages a day loses the older ones before a nightly export runs. This DAG
captures as it goes: every 10 minutes ``octopods_history_capture`` exports the interval that just
ended to

    <root>/octopods/whatsapp/capture/<day>/<interval start>.jsonl

with a manifest beside each file (``.jsonl.manifest.json``) saying which stretch of time the
capture really covers. ``<root>`` is the Airflow Variable ``octopods_export_root`` (any
ObjectStoragePath: ``/data/exports``, ``s3://my-bucket/exports`` with ``storage_conn_id``, ...), by
default an ``exports`` folder under ``AIRFLOW_HOME``. ``octopods_nightly_history`` compacts each day's
captures into one file.

**How often.** Each capture must hold fewer than 100 messages: at 10 minutes that is up to ~600
messages an hour. When a capture is cut anyway (a burst), its warning says how often to capture from
the rate it saw, and its manifest records how far back it reached, so the nightly compaction reports
the exact gap instead of silently missing messages.

**Paths.** The folder and file are named after the data interval (``data_interval_start | ds`` and
``| ts_nodash``), which for scheduled runs is exactly ``{{ ds }}/{{ ts_nodash }}``; a manual run,
whose logical date is the moment it was triggered, still lands in the folder of the day it captures.
The schedule is an explicit ``CronDataIntervalTimetable``: on Airflow 3 a plain cron string gives
runs without a data interval, and a capture needs its 10-minute window.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.providers.common.compat.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_octopods.operators.export import ExportSentMessagesOperator

DEFAULT_ROOT = os.path.join(os.path.expanduser(os.environ.get("AIRFLOW_HOME", "~/airflow")), "exports")
ROOT = "{{ var.value.get('octopods_export_root', '" + DEFAULT_ROOT + "') }}"
# <root>/octopods/whatsapp/capture/{{ ds }}/{{ ts_nodash }}.jsonl for scheduled runs (see above).
CAPTURE = (
    ROOT
    + "/octopods/whatsapp/capture/{{ data_interval_start | ds }}"
    + "/{{ data_interval_start | ts_nodash }}.jsonl"
)

# [START howto_operator_octopods_capture]
with DAG(
    dag_id="octopods_history_capture",
    description="Capture the WhatsApp sent messages of the last 10 minutes, for the nightly compaction.",
    schedule=CronDataIntervalTimetable("*/10 * * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=3,
    # A capture retried within minutes still reaches back over its interval; much later it may not,
    # and its manifest says so.
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=1)},
    tags=["octopods", "example"],
) as history_capture:
    ExportSentMessagesOperator(
        task_id="capture_sent_messages",
        destination=CAPTURE,
        on_truncation="warn",  # a cut capture is still written: its manifest tells the compaction the gap
    )
# [END howto_operator_octopods_capture]

"""
Compact each day's captures into one complete WhatsApp sent-message history, with final statuses.

Every night ``octopods_nightly_history`` reads the partitions ``octopods_history_capture`` wrote for
the day (``<root>/octopods/whatsapp/capture/<day>/``) and writes

    <root>/octopods/whatsapp/history/<day>.parquet

one row per message sent that day, deduplicated across overlapping captures, sorted by time, with
its status read again where it could still change (SENT, DELIVERED, ...), so the file holds final
statuses. Parquet needs the ``parquet`` extra (``pip install 'airflow-provider-octopods[parquet]'``);
name the file ``.jsonl`` or ``.csv`` to do without it.

**Gaps fail the run, and retries pick up late captures.** The compaction checks that the captures'
manifests cover the whole day. The last capture of the day (23:50 to midnight) runs at midnight,
like this DAG, so it may not have landed yet: the day then shows a gap at its end, the task fails
with ``OctopodsIncompleteHistoryError`` naming it (``on_gap="fail"``, nothing is written) and its
retry ten minutes later finds the capture. A gap that stays (captures that did not run, or a burst of
more than 100 messages between two captures) keeps failing with the exact stretch named: set
``on_gap="warn"`` to write the day anyway and report the gaps in the result.

**Why a time schedule, also on Airflow 3.** Scheduling on the captures' output asset would start a
compaction after every capture (every 10 minutes), since an asset event says "a capture landed", not
"the day's last capture landed"; gating it on the last one would need a condition on the event's
extra that the schedule cannot express. A daily data-interval schedule plus retries is simple and
the same on Airflow 2.11 and 3.x. The paths are named after ``data_interval_start``, so a manual
re-run of a day (whose logical date is the moment it was triggered) still compacts that day.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.providers.common.compat.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_octopods.operators.compact import CompactSentMessagesOperator

DEFAULT_ROOT = os.path.join(os.path.expanduser(os.environ.get("AIRFLOW_HOME", "~/airflow")), "exports")
WHATSAPP = "{{ var.value.get('octopods_export_root', '" + DEFAULT_ROOT + "') }}/octopods/whatsapp"

# [START howto_operator_octopods_compact]
with DAG(
    dag_id="octopods_nightly_history",
    description="Compact a day of WhatsApp captures into one Parquet file with final statuses.",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    # The day's last capture runs at midnight too: a retry after it has landed completes the day.
    default_args={"retries": 3, "retry_delay": dt.timedelta(minutes=10)},
    tags=["octopods", "example"],
) as nightly_history:
    CompactSentMessagesOperator(
        task_id="compact_sent_messages",
        source=WHATSAPP + "/capture/{{ data_interval_start | ds }}/",
        destination=WHATSAPP + "/history/{{ data_interval_start | ds }}.parquet",
        refresh_statuses=True,  # read SENT/DELIVERED/... statuses again, so the day holds final ones
        on_gap="fail",  # "warn" writes an incomplete day and reports its gaps
    )
# [END howto_operator_octopods_compact]

"""
Nightly export of the WhatsApp sent-message history into object storage.

Every day, ``octopods_nightly_export`` writes the messages Octopods received during the previous day
(the run's data interval) to ``<root>/octopods/whatsapp/<ds>.jsonl``, one JSON object per message,
sorted by time. ``<root>`` is the Airflow Variable ``octopods_export_root`` (any ObjectStoragePath:
``/data/exports``, ``file:///data/exports``, ``s3://my-bucket/exports`` with ``storage_conn_id``,
...), by default an ``exports`` folder under ``AIRFLOW_HOME``.

The file is written atomically and replaced on re-runs, so backfills and retries are safe.

**Choosing the schedule.** The Octopods listing returns only the newest 100 messages, with no way to
page further back. If a channel sends more than 100 messages in one data interval, the oldest of
them are out of reach by the time the export runs: the operator then logs a warning naming the gap
(or fails, with ``on_truncation="fail"``) and reports ``truncated: true``. For busy channels, use
``schedule="@hourly"`` (and ``.../{{ ts_nodash }}.jsonl``) so that each interval stays under 100.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_octopods.operators.export import ExportSentMessagesOperator

DEFAULT_ROOT = os.path.join(os.path.expanduser(os.environ.get("AIRFLOW_HOME", "~/airflow")), "exports")

# [START howto_operator_octopods_export]
with DAG(
    dag_id="octopods_nightly_export",
    description="Export yesterday's WhatsApp sent messages to object storage as JSON Lines.",
    schedule="@daily",  # "@hourly" for channels that send more than 100 messages a day
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    default_args={"retries": 3, "retry_delay": dt.timedelta(minutes=5)},
    tags=["octopods", "example"],
) as nightly_export:
    ExportSentMessagesOperator(
        task_id="export_sent_messages",
        destination=(
            "{{ var.value.get('octopods_export_root', '"
            + DEFAULT_ROOT
            + "') }}/octopods/whatsapp/{{ ds }}.jsonl"
        ),
        file_format="jsonl",
        on_truncation="warn",
    )
# [END howto_operator_octopods_export]

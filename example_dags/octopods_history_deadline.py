"""
The nightly WhatsApp history with a Deadline Alert: text the on-call when it is not done by 02:00.

``octopods_history_deadline`` compacts each day's captures like ``octopods_nightly_history`` (run
one of the two: they write the same file), with a deadline. When a run has not finished two hours
after it was queued, 02:00 UTC for the midnight run, whether it is still retrying for a late capture
or stuck on a gap, the scheduler sees the deadline pass and the triggerer runs ``OctopodsNotifier``:
an SMS to the on-call, sent on the triggerer's shared session. A run that finishes in time sends
nothing.

**What the alert's text can say.** A Deadline Alert's templates are rendered in the triggerer
against the run, as a dict (``dag_run.dag_id``, ``dag_run.dag_run_id``, ``dag_run.state``,
``dag_run.data_interval_start``, ``dag_run.queued_at``, ...), and the deadline
(``deadline.deadline_time``); there is no task instance, no ``ti``. Without a ``body`` the notifier
names the late run and its deadline.

**Versions.** Deadline Alerts arrived in Airflow 3.1 (exported from ``airflow.sdk`` since 3.2). On
Airflow 2.11 and 3.0 the file still parses and the DAG runs without an alert. ``dag.test()`` of
Airflow 3.1 and 3.3 cannot run a DAG that has a deadline (3.1 finds no ``queued_at`` for the run,
3.3 fails once the run succeeds): test the compaction with ``octopods_nightly_history`` and the
alert on a running scheduler and triggerer.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from airflow.providers.common.compat.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_octopods.notifications.octopods import OctopodsNotifier
from airflow_provider_octopods.operators.compact import CompactSentMessagesOperator

DEFAULT_ROOT = os.path.join(os.path.expanduser(os.environ.get("AIRFLOW_HOME", "~/airflow")), "exports")
WHATSAPP = "{{ var.value.get('octopods_export_root', '" + DEFAULT_ROOT + "') }}/octopods/whatsapp"
ON_CALL = "+14155552671"
LATE = (
    "The WhatsApp history of {{ (dag_run.data_interval_start or dag_run.queued_at)[:10] }} is not done "
    "two hours after its run was queued ({{ dag_run.dag_id }}: {{ dag_run.state }})."
)


# [START howto_notifier_octopods_deadline]
def late_night_alert() -> dict[str, Any]:
    """The DAG's ``deadline`` argument: an SMS to the on-call two hours after the run was queued."""
    try:  # Airflow >= 3.2
        from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference
    except ImportError:
        try:  # Airflow 3.1
            from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference
        except ImportError:  # Airflow 2.11 and 3.0: no Deadline Alerts
            return {}
    return {
        "deadline": DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=dt.timedelta(hours=2),
            callback=AsyncCallback(OctopodsNotifier, kwargs={"destination_phones": ON_CALL, "body": LATE}),
        )
    }


with DAG(
    dag_id="octopods_history_deadline",
    description="The nightly WhatsApp history, with an SMS to the on-call when it is not done by 02:00.",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    default_args={"retries": 3, "retry_delay": dt.timedelta(minutes=10)},
    tags=["octopods", "example"],
    **late_night_alert(),
) as history_deadline:
    CompactSentMessagesOperator(
        task_id="compact_sent_messages",
        source=WHATSAPP + "/capture/{{ data_interval_start | ds }}/",
        destination=WHATSAPP + "/history/{{ data_interval_start | ds }}.parquet",
    )
# [END howto_notifier_octopods_deadline]

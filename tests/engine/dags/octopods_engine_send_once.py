"""
A send whose worker dies on its first try after the send, for the real-engine at-most-once test.

``send`` is a ``SendSmsOperator`` that kills its own process (SIGKILL, as a dying host would) on its
first try, as the last of its success callbacks: after the send returned, after Airflow pushed the
result, after the operator's own callback removed the send record, and (on Airflow 2) before the
worker committed the task's success. The retry must find the record and send nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
from typing import Any

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_octopods.operators.send import SendSmsOperator

RECIPIENT = "+14155550177"


def die_on_the_first_try(context: Any) -> None:
    if context["ti"].try_number == 1:
        os.kill(os.getpid(), signal.SIGKILL)


class SendSmsThenDie(SendSmsOperator):
    """The provider's operator, with a last success callback that kills the worker on the first try."""

    @SendSmsOperator.on_success_callback.getter  # type: ignore[attr-defined,untyped-decorator]
    def on_success_callback(self) -> list[Any]:
        return [*super().on_success_callback, die_on_the_first_try]


with DAG(
    dag_id="octopods_engine_send_once",
    description="A send whose worker is killed after the send, then retried.",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    tags=["octopods", "engine-test"],
):
    SendSmsThenDie(
        task_id="send",
        destination_phone=RECIPIENT,
        body="Your code is 482910",
        retries=1,
        retry_delay=dt.timedelta(seconds=1),
    )

"""
WhatsApp first, SMS for whoever it failed for: a fallback inside one DAG, on every Airflow version.

``octopods_whatsapp_with_sms_fallback`` sends a WhatsApp template to each recipient (dynamic task
mapping), waits for every message with ``allowed_failures`` covering all of them (so failures do not
fail the wait: they are the point), then sends an SMS to each recipient whose WhatsApp message
FAILED or was UNDELIVERED. A recipient who is not on WhatsApp gets the SMS within the wait's polling
interval, not at the next scheduled run.

On Airflow 3, ``octopods_failure_remediation`` does the same for every failed message of the key,
whoever sent it, driven by events instead of a wait.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_octopods.operators.send import SendSmsOperator, SendWhatsAppTemplateOperator
from airflow_provider_octopods.sensors.delivery import MessageDeliverySensor

RECIPIENTS = ["+14155552671", "+14155550470", "+14155552672"]  # ...0470 fails on the simulator

# [START howto_sensor_octopods_sms_fallback]
with DAG(
    dag_id="octopods_whatsapp_with_sms_fallback",
    description="Send a WhatsApp template; SMS the recipients whose message failed.",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    params={
        "recipients": Param(RECIPIENTS, type="array", description="E.164 phone numbers"),
        "sms_text": Param("Your order #1234 is on its way.", type="string"),
    },
    tags=["octopods", "example"],
) as whatsapp_with_sms_fallback:

    @task
    def recipients(**context: Any) -> list[str]:
        return list(context["params"]["recipients"])

    phones = recipients()
    sends = SendWhatsAppTemplateOperator.partial(
        task_id="send_whatsapp", template_id=84579, message_variables=["there", "#1234"]
    ).expand(destination_phone=phones)

    # Every message may fail without failing the wait: the result lists each final status.
    wait = MessageDeliverySensor(
        task_id="wait_for_whatsapp",
        message_id=sends.output["message_id"],
        allowed_failures=len(RECIPIENTS),
        poke_interval=10,
        timeout=3600,
    )

    @task
    def failed_recipients(
        phones: list[str], message_ids: list[int], statuses: list[dict[str, Any]]
    ) -> list[str]:
        """The recipients whose WhatsApp message FAILED or was UNDELIVERED (sends map in order)."""
        failed = {item["message_id"] for item in statuses if item["status"] in ("FAILED", "UNDELIVERED")}
        return [phone for phone, message_id in zip(phones, message_ids, strict=True) if message_id in failed]

    fallback = failed_recipients(phones, sends.output["message_id"], wait.output)
    SendSmsOperator.partial(task_id="send_sms", body="{{ params.sms_text }}").expand(
        destination_phone=fallback
    )
    wait >> fallback
# [END howto_sensor_octopods_sms_fallback]

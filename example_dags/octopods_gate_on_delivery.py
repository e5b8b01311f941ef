"""
Gate a task on WhatsApp delivery.

``octopods_gate_on_delivery`` sends one WhatsApp template message, waits until Octopods reports it
DELIVERED (or READ, or DELETED after delivery), then runs the task that must only happen once the
customer has the message. The wait is deferred: the sensor checks once on a worker and hands the
wait to the triggerer, so no worker slot is held however long delivery takes. If the message fails
(not a WhatsApp user, re-engagement window expired, ...), the sensor fails with Octopods' reason
and code and the downstream task does not run.

``octopods_gate_on_delivery_batch`` sends the same template to many recipients with dynamic task
mapping, and waits for all of them in a single sensor, tolerating a few failures
(``allowed_failures``); its result lists the final status of every message.

Both read the Octopods connection ``octopods_default``: the base URL and a WhatsApp API key (see the
README). Against the bundled simulator (``make demo``), the default template 84579 takes two values
(a name and an order number), and numbers ending in 0470 fail with "Re-engagement window expired".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_octopods.operators.send import SendWhatsAppTemplateOperator
from airflow_provider_octopods.sensors.delivery import MessageDeliverySensor

DEFAULT_ARGS = {"retries": 2, "retry_delay": dt.timedelta(seconds=30)}

# [START howto_sensor_octopods_gate_on_delivery]
with DAG(
    dag_id="octopods_gate_on_delivery",
    description="Send a WhatsApp template, then run downstream work only once it is delivered.",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    default_args=DEFAULT_ARGS,
    params={
        "template_id": Param(84579, type="integer", description="Octopods WhatsApp template id"),
        "recipient": Param("+14155552671", type="string", description="E.164 phone number"),
        "customer_name": Param("Alex", type="string"),
        "order_number": Param("#1234", type="string"),
    },
    tags=["octopods", "example"],
) as gate_on_delivery:
    send = SendWhatsAppTemplateOperator(
        task_id="send_order_update",
        template_id="{{ params.template_id }}",
        destination_phone="{{ params.recipient }}",
        message_variables=["{{ params.customer_name }}", "{{ params.order_number }}"],
    )

    # Deferrable by default: one check on the worker, then the wait moves to the triggerer.
    wait = MessageDeliverySensor(
        task_id="wait_for_delivery",
        message_id=send.output["message_id"],
        channel="whatsapp",
        target_status="DELIVERED",
        poke_interval=10,
        timeout=dt.timedelta(hours=6).total_seconds(),
    )

    @task
    def release_shipment(delivery: dict[str, Any]) -> str:
        """Work that must only happen once the customer has the message."""
        return f"message {delivery['message_id']} {delivery['status']}: releasing the shipment"

    release_shipment(wait.output)
# [END howto_sensor_octopods_gate_on_delivery]


# [START howto_sensor_octopods_gate_on_delivery_batch]
with DAG(
    dag_id="octopods_gate_on_delivery_batch",
    description="Send to many recipients with a mapped task and wait for all of them in one sensor.",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    default_args=DEFAULT_ARGS,
    params={
        "template_id": Param(84579, type="integer"),
        "recipients": Param(
            ["+14155552671", "+14155552672", "+14155552673", "+14155550470"],
            type="array",
            description="E.164 phone numbers; the last one fails on the simulator",
        ),
    },
    tags=["octopods", "example"],
) as gate_on_delivery_batch:

    @task
    def recipients(**context: Any) -> list[str]:
        return list(context["params"]["recipients"])

    sends = SendWhatsAppTemplateOperator.partial(
        task_id="send_to_each",
        template_id="{{ params.template_id }}",
        message_variables=["there", "#batch"],
    ).expand(destination_phone=recipients())

    # One sensor, one trigger, every message id of the mapped sends.
    MessageDeliverySensor(
        task_id="wait_for_all",
        message_id=sends.output["message_id"],
        allowed_failures=1,
        poke_interval=10,
        timeout=dt.timedelta(hours=6).total_seconds(),
    )
# [END howto_sensor_octopods_gate_on_delivery_batch]

"""Send operators and the notifier in real DAG runs against the simulator, retries included."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_octopods.notifications.octopods import OctopodsNotifier
from airflow_provider_octopods.operators.send import SendSmsOperator, SendWhatsAppTemplateOperator
from airflow_provider_octopods.sensors.delivery import MessageDeliverySensor
from tests.dag_runner import AIRFLOW_3, run_dag, task_state, xcom

if TYPE_CHECKING:
    from airflow_provider_octopods.testing import SimulatorHandle

pytestmark = [
    pytest.mark.usefixtures("airflow_db"),
    pytest.mark.octopods_simulator(deliver_after=0.3, read_after=None),
]

PHONE = "+14155552671"


def new_dag(**kwargs: Any) -> DAG:
    return DAG(
        f"send_{uuid.uuid4().hex[:8]}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), **kwargs
    )


def sends(simulator: SimulatorHandle) -> dict[str, int]:
    return simulator.stats()["sends_by_recipient"]


def test_send_then_gate_on_delivery(simulator: SimulatorHandle) -> None:
    with new_dag() as dag:
        send = SendWhatsAppTemplateOperator(
            task_id="send", template_id=84579, destination_phone=PHONE, message_variables=["Alex", "#1234"]
        )
        MessageDeliverySensor(
            task_id="wait", message_id=send.output["message_id"], poke_interval=0.5, timeout=60
        )
    dag_run = run_dag(dag)
    assert task_state(dag_run, "wait") == "success"
    sent = xcom(dag_run, "send")
    assert set(sent) == {"message_id", "channel", "request_id", "channel_message_id"}
    assert xcom(dag_run, "send", key="message_id") == sent["message_id"]  # multiple_outputs
    assert xcom(dag_run, "wait")["message_id"] == sent["message_id"]
    assert sends(simulator) == {PHONE: 1}
    assert simulator.get_message(sent["message_id"])["content"] == "Hi Alex, your order #1234 is on the way!"


def test_templated_sms_and_jinja_pulled_id(simulator: SimulatorHandle) -> None:
    with new_dag(params={"phone": PHONE}) as dag:
        send = SendSmsOperator(
            task_id="send", destination_phone="{{ params.phone }}", body="Run {{ run_id }} is done"
        )
        wait = MessageDeliverySensor(
            task_id="wait",
            channel="sms",
            message_id="{{ ti.xcom_pull(task_ids='send')['message_id'] }}",
            poke_interval=0.5,
            timeout=60,
        )
        send >> wait
    dag_run = run_dag(dag)
    assert task_state(dag_run, "wait") == "success"
    assert xcom(dag_run, "wait")["channel"] == "sms"
    assert sends(simulator) == {PHONE: 1}


def test_mapped_send_over_20_recipients_feeds_one_sensor(simulator: SimulatorHandle) -> None:
    phones = [f"+1415555{n:04d}" for n in range(3000, 3020)]
    with new_dag() as dag:
        send = SendWhatsAppTemplateOperator.partial(
            task_id="send", template_id=84579, message_variables=["Alex", "#1"]
        ).expand(destination_phone=phones)
        MessageDeliverySensor(
            task_id="wait", message_id=send.output["message_id"], poke_interval=0.5, timeout=60
        )
    dag_run = run_dag(dag)
    assert task_state(dag_run, "wait") == "success"
    results = xcom(dag_run, "wait")
    assert len(results) == 20
    assert {result["status"] for result in results} == {"DELIVERED"}
    assert sends(simulator) == dict.fromkeys(phones, 1)


def test_notifier_fires_on_a_failing_task(simulator: SimulatorHandle) -> None:
    alert = OctopodsNotifier(
        destination_phones=["+14155550111", "+14155550112"],
        body="{{ ti.dag_id }}.{{ ti.task_id }} failed: {{ exception }}",
    )
    with new_dag() as dag:

        @task(on_failure_callback=alert)
        def flaky() -> None:
            raise ValueError("the warehouse is on fire")

        flaky()
    dag_run = run_dag(dag)
    assert task_state(dag_run, "flaky") == "failed"
    assert sends(simulator) == {"+14155550111": 1, "+14155550112": 1}
    contents = {message["content"] for message in simulator.messages()}
    assert contents == {f"{dag.dag_id}.flaky failed: the warehouse is on fire"}


def test_notifier_failure_is_logged_not_raised(simulator: SimulatorHandle) -> None:
    simulator.inject_fault("status", status=500, count=10, method="POST")
    alert = OctopodsNotifier(destination_phones="+14155550113")
    with new_dag() as dag:

        @task(on_success_callback=alert)
        def fine() -> int:
            return 1

        fine()
    dag_run = run_dag(dag)
    assert task_state(dag_run, "fine") == "success"
    assert simulator.stats()["requests_by_route"]["sms.send"] == 1  # a send is never repeated blindly


def test_whatsapp_retry_after_a_lost_answer_reuses_the_sent_message(simulator: SimulatorHandle) -> None:
    simulator.inject_fault("lost_response", count=1, method="POST")
    with new_dag() as dag:
        SendWhatsAppTemplateOperator(
            task_id="send",
            template_id=84579,
            destination_phone=PHONE,
            message_variables=["Alex", "#9"],
            retries=1,
            retry_delay=dt.timedelta(seconds=0),
        )
    dag_run = run_dag(dag)
    assert task_state(dag_run, "send") == "success"
    (message,) = simulator.messages()
    assert xcom(dag_run, "send")["message_id"] == message["message_id"]
    assert sends(simulator) == {PHONE: 1}
    assert dag_run.get_task_instance("send").try_number == 2


def test_sms_retry_after_a_lost_answer_asks_for_a_manual_check(simulator: SimulatorHandle) -> None:
    simulator.inject_fault("lost_response", count=1, method="POST")
    with new_dag() as dag:
        SendSmsOperator(
            task_id="send",
            destination_phone=PHONE,
            body="Your code is 1234",
            retries=2,
            retry_delay=dt.timedelta(seconds=0),
        )
    dag_run = run_dag(dag)
    assert task_state(dag_run, "send") == "failed"
    assert sends(simulator) == {PHONE: 1}
    assert simulator.stats()["requests_by_route"]["sms.send"] == 1


def test_retry_after_a_refused_send_sends_once(simulator: SimulatorHandle) -> None:
    # 4xx means Octopods refused it: nothing was sent, so the retry may send.
    simulator.rotate_key("channel")  # the connection now holds a deprecated key: 400, code 5
    with new_dag() as dag:
        SendSmsOperator(
            task_id="send", destination_phone=PHONE, body="hi", retries=1, retry_delay=dt.timedelta(seconds=0)
        )
    dag_run = run_dag(dag)
    assert task_state(dag_run, "send") == "failed"
    assert sends(simulator) == {}
    assert simulator.stats()["requests_by_route"]["sms.send"] == 2


@pytest.mark.skipif(not AIRFLOW_3, reason="the task state store keeps the 'sent' record (Airflow >= 3.3)")
def test_retry_after_a_completed_send_returns_the_recorded_result(simulator: SimulatorHandle) -> None:
    import airflow

    if tuple(int(part) for part in airflow.__version__.split(".")[:2]) < (3, 3):
        pytest.skip("the task state store arrived in Airflow 3.3")

    class CrashAfterSend(SendSmsOperator):
        def execute(self, context: Any) -> dict[str, Any]:
            result = super().execute(context)
            if context["ti"].try_number == 1:
                raise RuntimeError("the worker died after the send")
            return result

    with new_dag() as dag:
        CrashAfterSend(
            task_id="send", destination_phone=PHONE, body="hi", retries=1, retry_delay=dt.timedelta(seconds=0)
        )
    dag_run = run_dag(dag)
    assert task_state(dag_run, "send") == "success"
    assert sends(simulator) == {PHONE: 1}

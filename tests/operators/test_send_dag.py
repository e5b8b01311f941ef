"""Send operators and the notifier in real DAG runs against the simulator, retries included."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_octopods.notifications.octopods import OctopodsNotifier
from airflow_provider_octopods.operators import _send_ledger
from airflow_provider_octopods.operators.send import SendSmsOperator, SendWhatsAppTemplateOperator
from airflow_provider_octopods.send_records import find_send_records, purge_send_records
from airflow_provider_octopods.sensors.delivery import MessageDeliverySensor
from airflow_provider_octopods.version_compat import HAS_TASK_STATE_STORE
from tests.dag_runner import AIRFLOW_3, rerun, run_dag, task_state, xcom

if TYPE_CHECKING:
    from airflow_provider_octopods.testing import SimulatorHandle

pytestmark = [
    pytest.mark.usefixtures("airflow_db"),
    pytest.mark.octopods_simulator(deliver_after=0.3, read_after=None),
]

PHONE = "+14155552671"

#: Where the running Airflow can keep the send record: on 3.3 the task state store, or a Variable with
#: the store turned off; below 3.3, only a Variable.
LEDGERS = ["task_state_store", "variable"] if HAS_TASK_STATE_STORE else ["variable"]


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


def send_records(dag: DAG) -> list[str]:
    """The send records (Variables) of ``dag``'s task instances in the metadata database."""
    return [record.name for record in find_send_records() if f"__{dag.dag_id}__" in record.name]


@pytest.fixture(params=LEDGERS)
def ledger_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each place the running Airflow can keep the send record; on 3.3, also with its store turned off."""
    if request.param == "variable":
        monkeypatch.setattr(_send_ledger, "HAS_TASK_STATE_STORE", False)
    return str(request.param)


def fail_the_first_result_push(monkeypatch: pytest.MonkeyPatch, task_id: str) -> list[int]:
    """
    Make Airflow's push of ``task_id``'s result fail on its first try (after the send returned): the
    task runner's ``_xcom_push(ti, key, ...)`` on Airflow 3, ``TaskInstance.xcom_push(self, key, ...)``
    on Airflow 2; both take the task instance, then the key.
    """
    owner: Any
    if AIRFLOW_3:
        from airflow.sdk.execution_time import task_runner

        owner, name, lost = task_runner, "_xcom_push", "the API server"
    else:
        from airflow.models.taskinstance import TaskInstance

        owner, name, lost = TaskInstance, "xcom_push", "the metadata database"
    push = getattr(owner, name)
    failures: list[int] = []

    def failing_push(ti: Any, key: str, *args: Any, **kwargs: Any) -> Any:
        if ti.task_id == task_id and key == "return_value" and ti.try_number == 1:
            failures.append(ti.try_number)
            raise ConnectionError(f"{lost} went away during the XCom push")
        return push(ti, key, *args, **kwargs)

    monkeypatch.setattr(owner, name, failing_push)
    return failures


class CrashAfterSend(SendSmsOperator):
    """Fails its first try after the send returned, as a worker dying there would."""

    def execute(self, context: Any) -> dict[str, Any]:
        result = super().execute(context)
        if context["ti"].try_number == 1:
            raise RuntimeError("the worker died after the send")
        return result


@pytest.mark.parametrize("failure", ["xcom_push", "after_execute"])
def test_a_failure_after_the_send_then_a_retry_sends_once(
    simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch, ledger_kind: str, failure: str
) -> None:
    called: list[str] = []
    operator = SendSmsOperator if failure == "xcom_push" else CrashAfterSend
    failures = fail_the_first_result_push(monkeypatch, "send") if failure == "xcom_push" else []
    with new_dag() as dag:
        operator(
            task_id="send",
            destination_phone=PHONE,
            body="Your code is 1234",
            retries=1,
            retry_delay=dt.timedelta(seconds=0),
            on_success_callback=lambda context: called.append(context["ti"].task_id),
        )
    dag_run = run_dag(dag)
    assert task_state(dag_run, "send") == "success"
    assert dag_run.get_task_instance("send").try_number == 2
    if failure == "xcom_push":
        assert failures == [1]
    (message,) = simulator.messages()
    assert sends(simulator) == {PHONE: 1}
    assert simulator.stats()["requests_by_route"]["sms.send"] == 1
    assert xcom(dag_run, "send")["message_id"] == message["message_id"]  # the first try's, recorded
    assert called == ["send"], "the user's own success callback runs, once"
    assert send_records(dag) == []


def test_a_normal_run_leaves_no_record(simulator: SimulatorHandle, ledger_kind: str) -> None:
    phones = [f"+1415555{n:04d}" for n in range(3100, 3103)]
    with new_dag() as dag:
        SendSmsOperator(task_id="one", destination_phone=PHONE, body="hi")
        SendWhatsAppTemplateOperator.partial(
            task_id="each", template_id=84579, message_variables=["Alex", "#1"]
        ).expand(destination_phone=phones)
    dag_run = run_dag(dag)
    assert task_state(dag_run, "one") == "success"
    assert sends(simulator) == {PHONE: 1, **dict.fromkeys(phones, 1)}
    assert send_records(dag) == []


def test_a_failing_cleanup_never_fails_the_task(
    simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_send_ledger, "HAS_TASK_STATE_STORE", False)

    if AIRFLOW_3:
        from airflow.sdk import Variable

        def broken_delete(*args: Any, **kwargs: Any) -> None:
            raise ConnectionError("the API server went away")

        monkeypatch.setattr(Variable, "delete", staticmethod(broken_delete))
    else:
        # The removal fails inside the worker's own transaction, the one that records the success.
        def broken_removal(name: str) -> None:
            from airflow import settings
            from sqlalchemy import text

            settings.Session().execute(text("DELETE FROM no_such_table"))

        monkeypatch.setattr(_send_ledger, "_delete_with_the_recorded_success", broken_removal)
    called: list[str] = []
    with new_dag() as dag:
        SendSmsOperator(
            task_id="send",
            destination_phone=PHONE,
            body="hi",
            on_success_callback=lambda context: called.append("mine"),
        )
    dag_run = run_dag(dag)
    assert task_state(dag_run, "send") == "success"
    assert called == ["mine"]
    assert "Could not remove the send record" in caplog.text
    [left] = send_records(dag)
    assert left.startswith("octopods_send_ledger__")
    [record] = [record for record in find_send_records() if record.name == left]
    assert record.state == "sent"
    assert record.recorded_at is not None
    assert dt.datetime.now(dt.UTC) - record.recorded_at < dt.timedelta(minutes=5)
    # The documented helper removes it by age (and a dry run only reports it).
    assert left in [r.name for r in purge_send_records(older_than=dt.timedelta(0), dry_run=True)]
    assert left in send_records(dag)
    assert left in [r.name for r in purge_send_records(older_than=dt.timedelta(0))]
    assert left not in send_records(dag)


@pytest.mark.parametrize("ledger_kind", ["variable"], indirect=True)
def test_a_leftover_record_is_returned_then_removed_by_the_next_successful_try(
    simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch, ledger_kind: str
) -> None:
    """A record whose removal failed makes a re-run of that task instance return it, and goes with it."""
    real_release = _send_ledger.VariableLedger.release
    monkeypatch.setattr(_send_ledger.VariableLedger, "release", lambda self: None)
    with new_dag() as dag:
        SendSmsOperator(task_id="send", destination_phone=PHONE, body="hi")
    first = run_dag(dag)
    [left] = send_records(dag)
    monkeypatch.setattr(_send_ledger.VariableLedger, "release", real_release)
    second_try = rerun(dag, first)
    assert second_try.run_id == first.run_id
    assert task_state(second_try, "send") == "success"
    assert sends(simulator) == {PHONE: 1}
    assert xcom(second_try, "send")["message_id"] == xcom(first, "send")["message_id"]
    assert left not in send_records(dag)

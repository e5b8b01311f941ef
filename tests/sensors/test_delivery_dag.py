"""The sensor in real DAG runs (``dag.test()``) against the bundled simulator: defer, resume, poke."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_octopods.sensors.delivery import MessageDeliverySensor
from airflow_provider_octopods.triggers.delivery import MessageDeliveryTrigger
from tests.dag_runner import run_dag, task_state, xcom
from tests.keys import assert_no_key

if TYPE_CHECKING:
    from airflow_provider_octopods.testing import SimulatorHandle

pytestmark = [
    pytest.mark.usefixtures("airflow_db"),
    pytest.mark.octopods_simulator(deliver_after=1.0, read_after=1.0),
]


def sensor_dag(**sensor_kwargs: Any) -> DAG:
    with DAG(
        f"delivery_{uuid.uuid4().hex[:8]}", schedule=None, start_date=pendulum.datetime(2026, 1, 1)
    ) as dag:
        MessageDeliverySensor(task_id="wait", **{"poke_interval": 0.5, "timeout": 60, **sensor_kwargs})
    return dag


def sensor_keys(simulator: SimulatorHandle) -> list[str]:
    return [simulator.whatsapp_api_key, simulator.channel_api_key]


@pytest.fixture
def trigger_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record every trigger ``dag.test()`` runs inline (its kwargs after the serde round trip)."""
    runs: list[dict[str, Any]] = []
    original = MessageDeliveryTrigger.run

    def recording_run(self: MessageDeliveryTrigger) -> Any:
        runs.append(self.serialize()[1])
        return original(self)

    monkeypatch.setattr(MessageDeliveryTrigger, "run", recording_run)
    return runs


@pytest.mark.parametrize("channel", ["whatsapp", "sms"])
def test_defers_and_resumes_until_delivered(
    simulator: SimulatorHandle,
    capfd: pytest.CaptureFixture[str],
    trigger_runs: list[dict[str, Any]],
    channel: str,
) -> None:
    # One status per poll: the worker-side check sees SENT, so the sensor defers; the trigger sees the rest.
    message_id = simulator.add_message("+14155552671", channel=channel, script=["SENT", "SENT", "DELIVERED"])
    dag_run = run_dag(sensor_dag(message_id=str(message_id), channel=channel))
    out, err = capfd.readouterr()
    assert task_state(dag_run, "wait") == "success"
    result = xcom(dag_run, "wait")
    assert result["message_id"] == message_id
    assert result["channel"] == channel
    assert result["status"] == "DELIVERED"
    # The worker-side check found it pending, so the sensor deferred and the trigger took over.
    assert len(trigger_runs) == 1
    assert trigger_runs[0]["message_ids"] == [message_id]
    assert simulator.stats()["requests_by_route"][f"{channel}.status"] == 3
    for key in sensor_keys(simulator):
        assert key not in out + err + str(trigger_runs) + str(result)
    assert_no_key(out, err, result)


def test_no_deferral_when_already_delivered(
    simulator: SimulatorHandle, trigger_runs: list[dict[str, Any]]
) -> None:
    message_id = simulator.add_message("+14155552675", status="DELIVERED")
    dag_run = run_dag(sensor_dag(message_id=message_id))
    assert xcom(dag_run, "wait")["status"] == "DELIVERED"
    assert trigger_runs == []


def test_read_target_waits_for_the_read_receipt(simulator: SimulatorHandle) -> None:
    message_id = simulator.add_message("+14155552672", script=["SENT", "DELIVERED", "DELIVERED", "READ"])
    dag_run = run_dag(sensor_dag(message_id=message_id, target_status="READ"))
    assert xcom(dag_run, "wait")["status"] == "READ"


def test_poke_mode_in_a_dag(simulator: SimulatorHandle, trigger_runs: list[dict[str, Any]]) -> None:
    message_id = simulator.add_message("+14155552673", channel="sms", script=["QUEUED", "SENT", "DELIVERED"])
    dag_run = run_dag(sensor_dag(message_id=message_id, channel="sms", deferrable=False, mode="poke"))
    assert task_state(dag_run, "wait") == "success"
    assert xcom(dag_run, "wait")["status"] == "DELIVERED"
    assert trigger_runs == []
    assert simulator.stats()["requests_by_route"]["sms.status"] == 3


def test_fifty_ids_one_failing_within_allowed_failures(simulator: SimulatorHandle) -> None:
    ids = [simulator.add_message(f"+1415555{n:04d}", script=["SENT", "DELIVERED"]) for n in range(1100, 1149)]
    failing = simulator.add_message(
        "+14155550470",
        script=["SENT", "SENT", "FAILED"],
        failure_code=470,
        failure_reason="Re-engagement window expired",
    )
    ids.insert(25, failing)
    dag_run = run_dag(sensor_dag(message_id=ids, allowed_failures=1))
    assert task_state(dag_run, "wait") == "success"
    results = xcom(dag_run, "wait")
    assert [result["message_id"] for result in results] == ids
    failed = [result for result in results if result["status"] == "FAILED"]
    assert [(r["message_id"], r["failure_code"], r["failure_reason"]) for r in failed] == [
        (failing, 470, "Re-engagement window expired")
    ]


def test_failure_fails_the_task(simulator: SimulatorHandle, trigger_runs: list[dict[str, Any]]) -> None:
    ids = [
        simulator.add_message("+14155552674", script=["SENT", "SENT", "DELIVERED"]),
        simulator.add_message(
            "+14155550470",
            script=["SENT", "FAILED"],
            failure_code=470,
            failure_reason="Re-engagement window expired",
        ),
    ]
    dag_run = run_dag(sensor_dag(message_id=f"{ids}"))  # the string form of a list
    assert task_state(dag_run, "wait") == "failed"
    assert trigger_runs[0]["message_ids"] == ids


def test_timeout_with_soft_fail_skips(simulator: SimulatorHandle) -> None:
    message_id = simulator.add_message("+14155550007")  # the recipient rule: SENT forever
    dag_run = run_dag(sensor_dag(message_id=message_id, timeout=2, soft_fail=True))
    assert task_state(dag_run, "wait") == "skipped"


def test_unknown_message_fails_at_once(simulator: SimulatorHandle) -> None:
    dag_run = run_dag(sensor_dag(message_id=987654321))
    assert task_state(dag_run, "wait") == "failed"
    assert simulator.stats()["requests_by_route"]["whatsapp.status"] == 1

"""The gate example DAG on Airflow's real components: deferral in the triggerer, no slot held, resume.

``octopods_gate_on_delivery`` sends a WhatsApp template, waits for delivery with the deferrable
``MessageDeliverySensor`` and then releases the shipment. Here it runs on a real scheduler,
triggerer (and on Airflow 3 a dag-processor and an api-server) with the LocalExecutor on
PostgreSQL, against the simulator in its own process. The simulator keeps the message SENT until
the test marks it DELIVERED, so the test sees the sensor ``deferred``; while it is, a one-task DAG
runs and succeeds although the executor has a single slot; then delivery resumes the sensor and the
run succeeds.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from airflow_provider_octopods.simulator import SimulatorAdminClient
from tests.engine.airflow_engine import StateObserver, log
from tests.engine.conftest import send_records_left

if TYPE_CHECKING:
    from tests.engine.airflow_engine import AirflowEngine

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]

GATE = "octopods_gate_on_delivery"
FREE_SLOT = "octopods_engine_free_slot"
SENSOR = "wait_for_delivery"
TRIGGER_CLASS = "airflow_provider_octopods.triggers.delivery.MessageDeliveryTrigger"
RECIPIENT = "+14155552671"


def test_gate_dag_defers_without_holding_a_slot_then_resumes(airflow_engine: AirflowEngine) -> None:
    engine = airflow_engine
    assert engine.simulator is not None
    simulator = SimulatorAdminClient(engine.simulator.base_url)
    engine.wait_for_dags([GATE, FREE_SLOT])

    run_id = f"engine_gate_{uuid.uuid4().hex[:8]}"
    engine.trigger(GATE, run_id)
    log(f"triggered {GATE} run {run_id} (executor slots: {engine.parallelism})")
    gate = StateObserver(engine, GATE, run_id)

    # 1. The send runs on a worker; the sensor checks once, finds SENT and defers to the triggerer.
    gate.until(f"{SENSOR} deferred", lambda states: states.get(SENSOR) == "deferred")
    [message] = [m for m in simulator.messages() if m["phone_number"] == RECIPIENT]
    message_id = int(message["message_id"])
    simulator.hold(message_id)
    assert simulator.get_message(message_id)["status"] == "SENT"
    sensor = engine.task_instances(GATE, run_id)[SENSOR]
    trigger = sensor.get("trigger") or {}
    assert trigger.get("classpath") == TRIGGER_CLASS, sensor
    log(
        f"message {message_id} held at SENT; {SENSOR} deferred on trigger {trigger.get('id')} {TRIGGER_CLASS}"
    )

    # 2. While it waits, the only executor slot is free: another DAG's task runs and succeeds.
    free_run = f"engine_free_slot_{uuid.uuid4().hex[:8]}"
    engine.trigger(FREE_SLOT, free_run)
    free = StateObserver(engine, FREE_SLOT, free_run)

    def free_slot_done(states: dict[str, str]) -> bool:
        gate_states = gate.poll()
        assert gate_states[SENSOR] == "deferred", f"{SENSOR} left deferred before delivery: {gate_states}"
        return free.run_state == "success"

    free.until(f"{FREE_SLOT} to succeed while {SENSOR} is deferred", free_slot_done)
    pool = engine.pool("default_pool")
    log(
        "default_pool while deferred: "
        + ", ".join(f"{k}={pool[k]}" for k in ("slots", "occupied_slots", "running_slots", "deferred_slots"))
    )
    assert pool["deferred_slots"] == 1
    assert pool["running_slots"] == 0
    assert pool["occupied_slots"] == 0, "a deferred task must not occupy a pool slot"

    # The wait runs in the triggerer: its trigger polls the simulator, sees SENT and keeps waiting.
    def status_polls() -> int:
        return int(simulator.stats(messages=False)["requests_by_route"].get("whatsapp.status", 0))

    engine.wait_for("the trigger to poll the message (SENT) from the triggerer", lambda: status_polls() >= 2)
    polls_while_deferred = status_polls()
    assert gate.poll()[SENSOR] == "deferred"
    assert simulator.get_message(message_id)["status"] == "SENT"

    # 3. Delivery: the trigger sees it, the sensor resumes on a worker, and the run succeeds.
    simulator.set_status(message_id, "DELIVERED")
    log(
        f"message {message_id} set to DELIVERED ({polls_while_deferred} status polls so far: the sensor's "
        "check on the worker, then the trigger's)"
    )
    gate.until(f"{GATE} run to succeed", lambda states: gate.run_state == "success")

    states = engine.task_states(GATE, run_id)
    assert states == {"send_order_update": "success", SENSOR: "success", "release_shipment": "success"}
    # Below Airflow 3.3 the send's record is an Airflow Variable, kept until the task instance
    # succeeded; the operator's success callback removed it with that success (on 2.11 in the same
    # transaction), so none is left behind.
    records = send_records_left(engine, GATE)
    assert records == [], f"send records left behind: {records}"
    sensor_sequence = gate.sequences[SENSOR]
    assert "deferred" in sensor_sequence
    assert sensor_sequence[-1] == "success"
    after_deferral = sensor_sequence[sensor_sequence.index("deferred") + 1 :]
    assert after_deferral, "the sensor never left the deferred state"
    assert engine.task_instances(GATE, run_id)[SENSOR]["try_number"] == 1, "the resume must be the same try"
    assert "DELIVERED" in str(engine.xcom(GATE, run_id, "release_shipment"))
    assert status_polls() > polls_while_deferred

    # One try: deferred by execute(), resumed by execute_complete() once the trigger fired.
    sensor_log = engine.task_log_lines(GATE, run_id, SENSOR)
    key_lines = [
        line
        for line in sensor_log
        if any(
            needle in line
            for needle in ("deferring until", "DEFERRED", "starting", "is DELIVERED", "messages reached")
        )
    ]
    log(f"{SENSOR} attempt 1 log, deferral and resume:")
    for line in sorted(key_lines, key=lambda line: line.split(": ", 1)[-1]):
        log("  " + line[:220])
    assert any("deferring until" in line for line in sensor_log)
    assert any("reached DELIVERED" in line and ".trigger." not in line.split(":")[0] for line in sensor_log)

    log(f"Airflow {engine.version} observed states:")
    for task_id in ("send_order_update", SENSOR, "release_shipment"):
        log("  " + gate.summary(task_id))
    log("  " + free.summary("use_the_only_slot") + f"  (while {SENSOR} was deferred)")

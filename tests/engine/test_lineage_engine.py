"""
Assets and alerts on Airflow's real components (scheduler, triggerer, DAG processor, LocalExecutor).

* An export whose file is its outlet: the scheduler runs the DAG scheduled on that file, and that
  DAG reads the export's ``count`` and ``truncated`` from the triggering asset event (Airflow 3.x
  and 2.11).
* A DAG run that misses its deadline: the scheduler sees it, the triggerer runs
  ``OctopodsNotifier`` as the alert's callback, and the simulator receives the SMS (Airflow >= 3.1).
"""

from __future__ import annotations

import ast
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_octopods.simulator import SimulatorAdminClient
from airflow_provider_octopods.version_compat import AIRFLOW_V_3_1_PLUS
from tests.engine.airflow_engine import StateObserver, log

if TYPE_CHECKING:
    from tests.engine.airflow_engine import AirflowEngine

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]

DAGS = Path(__file__).resolve().parent / "dags"
EXPORT, CONSUMER = "octopods_engine_export", "octopods_engine_export_consumer"
LATE = "octopods_engine_deadline"
ON_CALL = "+14155550188"


def simulator_of(engine: AirflowEngine) -> SimulatorAdminClient:
    assert engine.simulator is not None
    return SimulatorAdminClient(engine.simulator.base_url)


def xcom_value(engine: AirflowEngine, dag_id: str, run_id: str, task_id: str) -> Any:
    """A task's return value through the REST API (Airflow 2's API gives its ``repr``)."""
    value = engine.xcom(dag_id, run_id, task_id)
    return ast.literal_eval(value) if isinstance(value, str) else value


def test_a_dag_scheduled_on_the_export_reads_its_figures_from_the_event(
    airflow_engine: AirflowEngine,
) -> None:
    engine = airflow_engine
    simulator = simulator_of(engine)
    for n in range(3):
        simulator.add_message(f"+1415555{n:04d}", status="DELIVERED")
    engine.add_dag_files(DAGS / "octopods_engine_assets.py")
    engine.wait_for_dags([EXPORT, CONSUMER])

    run_id = f"engine_export_{uuid.uuid4().hex[:8]}"
    engine.trigger(EXPORT, run_id)
    export = StateObserver(engine, EXPORT, run_id)
    export.until(f"{EXPORT} to succeed", lambda states: export.run_state == "success")
    exported = xcom_value(engine, EXPORT, run_id, "export")
    log(f"{EXPORT} exported {exported['count']} messages to {exported['path']}")
    assert exported["count"] >= 3

    def consumer_run() -> dict[str, Any] | None:
        runs = engine.get(f"/dags/{CONSUMER}/dagRuns")["dag_runs"]
        done = [run for run in runs if run["state"] == "success"]
        failed = [run for run in runs if run["state"] == "failed"]
        assert not failed, f"{CONSUMER} failed: {failed}\n{engine.logs_tail()}"
        return done[0] if done else None

    run = engine.wait_for(f"the scheduler to run {CONSUMER} on the export's asset event", consumer_run)
    run_id_key = "dag_run_id" if "dag_run_id" in run else "run_id"
    log(f"{CONSUMER} ran as {run[run_id_key]} ({run['run_type']})")
    assert run["run_type"] in ("asset_triggered", "dataset_triggered")
    figures = xcom_value(engine, CONSUMER, run[run_id_key], "read_the_figures")
    assert figures == {"count": exported["count"], "truncated": exported["truncated"]}


@pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="Deadline Alerts arrived in Airflow 3.1")
def test_a_missed_deadline_makes_the_triggerer_send_the_alert(airflow_engine: AirflowEngine) -> None:
    engine = airflow_engine
    simulator = simulator_of(engine)
    engine.add_dag_files(DAGS / "octopods_engine_deadline.py")
    engine.wait_for_dags([LATE])

    run_id = f"engine_late_{uuid.uuid4().hex[:8]}"
    engine.trigger(LATE, run_id)
    log(f"triggered {LATE} run {run_id}: its deadline is 3 s after it was queued, its task takes 15 s")

    def alerts() -> list[dict[str, Any]]:
        return [message for message in simulator.messages() if message["phone_number"] == ON_CALL]

    [alert] = engine.wait_for("the deadline alert's SMS", alerts, timeout=120)
    log(f"the simulator received: {alert['content']!r}")
    assert alert["content"].startswith(f"{LATE} (run {run_id}) missed its deadline of ")
    late = StateObserver(engine, LATE, run_id)
    state = late.poll().get("take_fifteen_seconds")
    assert state in ("queued", "running", "success"), state  # sent while the run was still going
    late.until(f"{LATE} to finish", lambda states: late.run_state == "success")
    sent_by = [
        path.name
        for path in engine.home.rglob("*.log*")
        if "Octopods notification sent to" in path.read_text(errors="replace")
    ]
    log(f"the notifier's log line is in: {', '.join(sent_by) or 'no log file'}")
    assert sent_by, "the notifier logged nothing"
    assert all("trigger" in name for name in sent_by), sent_by
    assert engine.simulator is not None
    keys = [engine.simulator.info["whatsapp_api_key"], engine.simulator.info["channel_api_key"]]
    triggerer_log = (engine.home / "triggerer.log").read_text(errors="replace")
    assert not [key for key in keys if key in triggerer_log], "an API key leaked into the triggerer's log"
    assert len(alerts()) == 1  # one alert per missed deadline

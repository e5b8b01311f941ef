"""At most once on the real engine: a worker killed after the send, then the retry.

``octopods_engine_send_once`` sends an SMS and, on its first try, kills its own worker process as the
last of its success callbacks. On Airflow 2 that is before the worker commits the task's success:
the removal of the send record (in that same transaction) is undone with it, the scheduler finds the
task instance orphaned and retries it, and the retry returns the recorded result without sending.
On Airflow 3 the API server recorded the success before any callback ran, so the run succeeds on its
first try. Either way the simulator receives exactly one SMS, and no record is left behind.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_octopods.simulator import SimulatorAdminClient
from tests.engine.airflow_engine import StateObserver, log
from tests.engine.conftest import send_records_left

if TYPE_CHECKING:
    from tests.engine.airflow_engine import AirflowEngine

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]

DAG_FILE = Path(__file__).resolve().parent / "dags" / "octopods_engine_send_once.py"
DAG_ID = "octopods_engine_send_once"
RECIPIENT = "+14155550177"


def test_a_worker_killed_after_the_send_then_the_retry_sends_nothing(airflow_engine: AirflowEngine) -> None:
    engine = airflow_engine
    assert engine.simulator is not None
    simulator = SimulatorAdminClient(engine.simulator.base_url)
    engine.add_dag_files(DAG_FILE)
    engine.wait_for_dags([DAG_ID], timeout=180)

    run_id = f"engine_send_once_{uuid.uuid4().hex[:8]}"
    engine.trigger(DAG_ID, run_id)
    run = StateObserver(engine, DAG_ID, run_id)
    run.until(f"{DAG_ID} run to succeed", lambda states: run.run_state == "success", timeout=300)

    sent = [message for message in simulator.messages() if message["phone_number"] == RECIPIENT]
    assert len(sent) == 1, f"expected exactly one SMS to {RECIPIENT}, the simulator has {len(sent)}"
    message_id = str(sent[0]["message_id"])
    assert str(engine.xcom(DAG_ID, run_id, "send", key="message_id")) == message_id  # the recorded result
    try_number = engine.task_instances(DAG_ID, run_id)["send"]["try_number"]
    log(f"Airflow {engine.version}: {run.summary('send')}, try {try_number}, one SMS ({message_id})")
    if engine.major < 3:
        # The kill undid the uncommitted success and the record's removal: the retry returned the record.
        assert try_number == 2
        retry_log = "\n".join(engine.task_log_lines(DAG_ID, run_id, "send", try_number=2))
        assert "An earlier try already sent sms message" in retry_log
    else:
        assert try_number == 1
    records = send_records_left(engine, DAG_ID)
    assert records == [], f"send records left behind: {records}"

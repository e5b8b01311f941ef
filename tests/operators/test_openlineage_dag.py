"""
OpenLineage end to end: a DAG file run with ``dag.test()`` while the OpenLineage provider is on,
its events written by the file transport, and read back.

The provider registers its listener when Airflow loads plugins, once per process, and only when a
transport is configured; so the DAG runs in a child process with the transport set. Since Airflow
3.1, ``dag.test()`` runs only DAGs of a bundle: the file goes into the DAGs folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_octopods.utils.records import FIELDS, HISTORY_FIELDS
from tests.keys import assert_no_key
from tests.operators.test_export_dag import WINDOW, seed

if TYPE_CHECKING:
    from airflow_provider_octopods.testing import SimulatorHandle

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.slow]

DAG_FILE = """
from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_octopods.operators.compact import CompactSentMessagesOperator
from airflow_provider_octopods.operators.export import ExportSentMessagesOperator
from airflow_provider_octopods.operators.send import SendSmsOperator

WINDOW = {window!r}

with DAG({dag_id!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
    send = SendSmsOperator(task_id="send", destination_phone="+14155550100", body="Your order shipped")
    export = ExportSentMessagesOperator(task_id="export", destination={export!r}, **WINDOW)
    compact = CompactSentMessagesOperator(
        task_id="compact", source={capture!r}, destination={history!r}, refresh_statuses=False, **WINDOW
    )
    send >> export >> compact

if __name__ == "__main__":
    dag.test()
"""


def completed(events: list[dict[str, Any]], job: str) -> dict[str, Any]:
    [event] = [e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"] == job]
    return event


def fields_of(dataset: dict[str, Any]) -> list[tuple[str, str]]:
    return [(field["name"], field["type"]) for field in dataset["facets"]["schema"]["fields"]]


def test_dag_test_emits_the_facets_of_every_operator(simulator: SimulatorHandle, tmp_path: Path) -> None:
    seed(simulator)
    dag_id = f"openlineage_{uuid.uuid4().hex[:8]}"
    capture, history = tmp_path / "capture", tmp_path / "history" / "2026-04-24.parquet"
    dag_file = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
    dag_file.write_text(
        DAG_FILE.format(
            window=WINDOW,
            dag_id=dag_id,
            export=f"file://{capture}/2026-04-24.jsonl",
            capture=f"{capture}/",
            history=str(history),
        )
    )
    events_file = tmp_path / "openlineage" / "events.jsonl"
    events_file.parent.mkdir()
    env = {
        **os.environ,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "octopods-tests",
    }
    try:
        result = subprocess.run(
            [sys.executable, str(dag_file)], env=env, capture_output=True, text=True, timeout=240, check=False
        )
    finally:
        dag_file.unlink()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_no_key(result.stdout, result.stderr)  # the task logs of the child process
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    octopods = f"octopods://{simulator.host}:{simulator.port}"

    send = completed(events, f"{dag_id}.send")
    assert send["inputs"] == []
    assert [(d["namespace"], d["name"]) for d in send["outputs"]] == [(octopods, "sms/messages")]

    export = completed(events, f"{dag_id}.export")
    assert [(d["namespace"], d["name"]) for d in export["inputs"]] == [(octopods, "whatsapp/messages")]
    [written] = export["outputs"]
    assert (written["namespace"], written["name"]) == ("file", f"{capture}/2026-04-24.jsonl")
    assert [name for name, _ in fields_of(written)] == list(FIELDS)

    compact = completed(events, f"{dag_id}.compact")
    assert [(d["namespace"], d["name"]) for d in compact["inputs"]] == [(octopods, "whatsapp/messages")]
    [written] = compact["outputs"]
    assert (written["namespace"], written["name"]) == ("file", str(history))
    assert fields_of(written)[-1] == ("status_checked_at", "timestamp")
    assert [name for name, _ in fields_of(written)] == list(HISTORY_FIELDS)

"""Every example DAG, end to end under ``dag.test()`` against the simulator, on both Airflow versions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.dag_runner import run_dag, task_state, xcom

if TYPE_CHECKING:
    from airflow_provider_octopods.testing import SimulatorHandle

EXAMPLES = Path(__file__).resolve().parent.parent / "example_dags"

pytestmark = [
    pytest.mark.usefixtures("airflow_db"),
    pytest.mark.octopods_simulator(deliver_after=0.5, read_after=None),
]


@pytest.fixture(scope="module")
def example_dags() -> dict[str, Any]:
    from airflow.providers.common.compat.sdk import DAG  # noqa: F401 - the DAG class of this Airflow

    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2, 3.0 and 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    bag = (
        DagBag(dag_folder=str(EXAMPLES), include_examples=False)
        if _airflow2()
        else DagBag(dag_folder=str(EXAMPLES))
    )
    assert bag.import_errors == {}
    return dict(bag.dags)


def _airflow2() -> bool:
    import airflow

    return airflow.__version__.startswith("2.")


def test_the_examples_parse(example_dags: dict[str, Any]) -> None:
    assert set(example_dags) == {
        "octopods_gate_on_delivery",
        "octopods_gate_on_delivery_batch",
        "octopods_nightly_export",
    }
    for dag in example_dags.values():
        assert dag.doc_md or dag.description


def test_gate_on_delivery(simulator: SimulatorHandle, example_dags: dict[str, Any]) -> None:
    dag_run = run_dag(example_dags["octopods_gate_on_delivery"])
    assert task_state(dag_run, "release_shipment") == "success"
    delivery = xcom(dag_run, "wait_for_delivery")
    assert delivery["status"] == "DELIVERED"
    assert (
        xcom(dag_run, "release_shipment")
        == f"message {delivery['message_id']} DELIVERED: releasing the shipment"
    )
    assert simulator.stats()["sends_by_recipient"] == {"+14155552671": 1}


def test_gate_on_delivery_batch(simulator: SimulatorHandle, example_dags: dict[str, Any]) -> None:
    dag_run = run_dag(example_dags["octopods_gate_on_delivery_batch"])
    assert task_state(dag_run, "wait_for_all") == "success"
    results = xcom(dag_run, "wait_for_all")
    assert sorted(result["status"] for result in results) == ["DELIVERED", "DELIVERED", "DELIVERED", "FAILED"]
    failed = next(result for result in results if result["status"] == "FAILED")
    assert (failed["failure_code"], failed["failure_reason"]) == (470, "Re-engagement window expired")


def test_nightly_export(
    simulator: SimulatorHandle, example_dags: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_OCTOPODS_EXPORT_ROOT", str(tmp_path))
    # Half past the previous hour: always in the past (the simulator hides messages created in the future).
    now = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(minute=30, second=0, microsecond=0)
    seeded = {}
    for hours_ago in range(0, 60, 2):  # one message every two hours over the last 60 hours
        created = now - dt.timedelta(hours=hours_ago)
        seeded[simulator.add_message(f"+1415555{hours_ago:04d}", created_at=created.isoformat())] = created
    dag_run = run_dag(example_dags["octopods_nightly_export"])
    assert task_state(dag_run, "export_sent_messages") == "success"
    result = xcom(dag_run, "export_sent_messages")
    start, end = dag_run.data_interval_start, dag_run.data_interval_end
    if start < end:  # a scheduled-style run exports its data interval...
        expected = sorted(i for i, created in seeded.items() if start <= created < end)
    else:  # ...a manual run (zero-width interval) everything the listing returns
        expected = sorted(seeded)
    assert result["count"] == len(expected) > 0
    (path,) = (tmp_path / "octopods" / "whatsapp").iterdir()
    assert path.name == f"{dag_run.logical_date:%Y-%m-%d}.jsonl"
    assert result["path"] == f"file://{path}"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(row["message_id"] for row in rows) == expected

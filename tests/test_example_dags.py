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
    from airflow_provider_octopods.version_compat import AIRFLOW_V_3_0_PLUS

    assert set(example_dags) == {
        "octopods_gate_on_delivery",
        "octopods_gate_on_delivery_batch",
        "octopods_nightly_export",
        "octopods_history_capture",
        "octopods_nightly_history",
        "octopods_history_deadline",
        "octopods_whatsapp_with_sms_fallback",
    } | ({"octopods_failure_remediation"} if AIRFLOW_V_3_0_PLUS else set())  # asset watchers: Airflow 3
    for dag in example_dags.values():
        assert dag.doc_md or dag.description


def test_the_deadline_alert_is_there_from_airflow_3_1(example_dags: dict[str, Any]) -> None:
    """Airflow's dag.test() cannot run a DAG with a deadline (3.1, 3.3); the engine tests run one."""
    from airflow_provider_octopods.version_compat import AIRFLOW_V_3_1_PLUS

    deadline = getattr(example_dags["octopods_history_deadline"], "deadline", None)
    if not AIRFLOW_V_3_1_PLUS:
        assert not deadline
        return
    [alert] = deadline if isinstance(deadline, list) else [deadline]
    assert alert.callback.path == "airflow_provider_octopods.notifications.octopods.OctopodsNotifier"
    assert alert.callback.kwargs["destination_phones"] == "+14155552671"
    assert alert.interval == dt.timedelta(hours=2)


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
    (path,) = [
        p for p in (tmp_path / "octopods" / "whatsapp").iterdir() if not p.name.endswith(".manifest.json")
    ]
    assert path.name == f"{dag_run.logical_date:%Y-%m-%d}.jsonl"
    assert result["path"] == f"file://{path}"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(row["message_id"] for row in rows) == expected


# -- complete history: capture every 10 minutes, compact nightly --------------------------------------

TODAY = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
YESTERDAY = TODAY - dt.timedelta(days=1)


def _logical_date(moment: dt.datetime) -> dict[str, dt.datetime]:
    """dag.test()'s run date: the run of ``moment`` covers the interval that ends at ``moment``."""
    return {("execution_date" if _airflow2() else "logical_date"): moment}


def _capture(simulator: SimulatorHandle, dag: Any, window_end: dt.datetime) -> Any:
    """Move the simulator's clock to just past ``window_end`` and run the capture of that interval."""
    behind = window_end.timestamp() + 1 - simulator.clock()["now"]
    if behind > 0:
        simulator.advance_clock(behind)
    return run_dag(dag, **_logical_date(window_end))


def test_history_capture(
    simulator: SimulatorHandle, example_dags: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_OCTOPODS_EXPORT_ROOT", str(tmp_path))
    end = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).replace(second=0, microsecond=0)
    end -= dt.timedelta(minutes=end.minute % 10)
    start = end - dt.timedelta(minutes=10)
    inside = [
        simulator.add_message(f"+1415555{n:04d}", created_at=(start + dt.timedelta(minutes=n)).isoformat())
        for n in range(1, 10, 2)
    ]
    simulator.add_message("+14155550100", created_at=(start - dt.timedelta(seconds=1)).isoformat())
    dag_run = run_dag(example_dags["octopods_history_capture"], **_logical_date(end))
    assert task_state(dag_run, "capture_sent_messages") == "success"
    path = (
        tmp_path / "octopods" / "whatsapp" / "capture" / f"{start:%Y-%m-%d}" / f"{start:%Y%m%dT%H%M%S}.jsonl"
    )
    assert xcom(dag_run, "capture_sent_messages")["path"] == f"file://{path}"
    assert [json.loads(line)["message_id"] for line in path.read_text().splitlines()] == inside
    manifest = json.loads(Path(f"{path}.manifest.json").read_text())
    assert (manifest["window_start"], manifest["window_end"], manifest["count"], manifest["truncated"]) == (
        f"{start:%Y-%m-%dT%H:%M:%S}Z",
        f"{end:%Y-%m-%dT%H:%M:%S}Z",
        5,
        False,
    )


@pytest.mark.slow
@pytest.mark.day_replay
@pytest.mark.octopods_simulator(clock_start=YESTERDAY.isoformat(), deliver_after=60, read_after=600, jitter=0)
def test_nightly_history_of_a_day_of_captures(
    simulator: SimulatorHandle, example_dags: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 messages in a day, 150 of them in one hour, captured every 10 minutes and compacted at night."""
    import pyarrow.parquet as pq

    monkeypatch.setenv("AIRFLOW_VAR_OCTOPODS_EXPORT_ROOT", str(tmp_path))
    simulator.add_traffic(
        count=150,
        duration=86400,
        start=YESTERDAY.isoformat(),
        bursts=[{"offset": 36000, "duration": 3600, "count": 150}],
    )
    capture, nightly = example_dags["octopods_history_capture"], example_dags["octopods_nightly_history"]
    nightly.get_task("compact_sent_messages").retries = 0  # the retry is shown below, by hand
    ends = [YESTERDAY + dt.timedelta(minutes=10 * n) for n in range(1, 145)]
    for window_end in ends[:-1]:  # the last capture of the day has not landed yet
        assert task_state(_capture(simulator, capture, window_end), "capture_sent_messages") == "success"
    simulator.advance_clock(TODAY.timestamp() + 3600 - simulator.clock()["now"])  # every status final

    history = tmp_path / "octopods" / "whatsapp" / "history" / f"{YESTERDAY:%Y-%m-%d}.parquet"
    first = run_dag(nightly, **_logical_date(TODAY))
    assert task_state(first, "compact_sent_messages") == "failed"  # the gap of the capture not landed
    assert not history.exists()

    last = ends[-1]
    dag_run = run_dag(capture, **_logical_date(last))  # the late capture lands; the retry finds it
    assert task_state(dag_run, "capture_sent_messages") == "success"
    dag_run = run_dag(nightly, **_logical_date(TODAY))
    assert task_state(dag_run, "compact_sent_messages") == "success"
    result = xcom(dag_run, "compact_sent_messages")
    sent = [m for m in simulator.messages() if YESTERDAY.timestamp() <= m["created_at"] < TODAY.timestamp()]
    assert len(sent) == 300
    assert (result["count"], result["complete"], result["gaps"], result["partitions"]) == (300, True, [], 144)
    assert result["path"] == f"file://{history}"
    rows = pq.read_table(history).to_pylist()
    assert sorted(row["message_id"] for row in rows) == sorted(m["message_id"] for m in sent)
    assert {row["status"] for row in rows} == {"READ"}
    assert result["refreshed"] == sum(1 for row in rows if row["status_checked_at"] is not None) > 0


def test_whatsapp_with_sms_fallback(simulator: SimulatorHandle, example_dags: dict[str, Any]) -> None:
    """The recipient not reached on WhatsApp (0470 fails on the simulator) gets one SMS; the others none."""
    dag_run = run_dag(example_dags["octopods_whatsapp_with_sms_fallback"])
    assert task_state(dag_run, "wait_for_whatsapp") == "success"
    assert xcom(dag_run, "failed_recipients") == ["+14155550470"]
    stats = simulator.stats()
    assert stats["sends_by_channel"]["sms"] == 1
    sms = [message for message in stats["messages"].values() if message["channel"] == "sms"]
    assert [message["phone_number"] for message in sms] == ["+14155550470"]

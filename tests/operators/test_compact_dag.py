"""Capture, then compact in a real DAG run (``dag.test()``): local paths, file:// and s3:// (moto)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import uuid
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_octopods.operators.compact import CompactSentMessagesOperator
from airflow_provider_octopods.operators.export import ExportSentMessagesOperator
from airflow_provider_octopods.utils.records import HISTORY_FIELDS
from tests.dag_runner import run_dag, task_state, xcom
from tests.operators.test_export_dag import s3_server  # noqa: F401 - the fixture

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_octopods.testing import SimulatorHandle

pytestmark = pytest.mark.usefixtures("airflow_db")

HOUR = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
WINDOW = {"start": HOUR.isoformat(), "end": (HOUR + dt.timedelta(hours=1)).isoformat()}
MESSAGES = 90


def capture_the_hour(simulator: SimulatorHandle, root: str, file_format: str, conn: str | None) -> None:
    """Six 10-minute captures, each run just after its interval, as the capture DAG would."""
    simulator.add_traffic(count=MESSAGES, duration=3600, start=HOUR.isoformat())
    for step in range(6):
        start, end = HOUR + dt.timedelta(minutes=10 * step), HOUR + dt.timedelta(minutes=10 * (step + 1))
        simulator.advance_clock(max(0.0, end.timestamp() + 1 - simulator.clock()["now"]))
        ExportSentMessagesOperator(
            task_id="capture",
            destination=f"{root}/capture/{start:%Y%m%dT%H%M%S}.{file_format}",
            storage_conn_id=conn,
            start=start,
            end=end,
        ).execute({})
    simulator.advance_clock(3600)  # every status is final by the night


def compaction_dag(**kwargs: Any) -> DAG:
    with DAG(
        f"compact_{uuid.uuid4().hex[:8]}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1),
        params=WINDOW,
    ) as dag:
        CompactSentMessagesOperator(
            task_id="compact", start="{{ params.start }}", end="{{ params.end }}", **kwargs
        )
    return dag


def rows_of(raw: bytes, file_format: str) -> list[dict[str, Any]]:
    if file_format == "jsonl":
        return [json.loads(line) for line in raw.decode().splitlines()]
    if file_format == "csv":
        text = raw.decode()
        assert text.splitlines()[0] == ",".join(HISTORY_FIELDS)
        return list(csv.DictReader(io.StringIO(text, newline="")))
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(raw)).to_pylist()


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.mark.octopods_simulator(clock_start=HOUR.isoformat(), deliver_after=30, read_after=120, jitter=0)
@pytest.mark.parametrize(
    ("target", "file_format"),
    [("plain", "jsonl"), ("file-uri", "csv"), ("plain", "parquet"), ("s3", "parquet"), ("s3", "jsonl")],
)
def test_capture_then_compact(
    simulator: SimulatorHandle,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    file_format: str,
) -> None:
    conn, bucket = None, f"history-{uuid.uuid4().hex[:8]}"  # moto keeps its buckets for the process
    if target == "s3":
        endpoint = request.getfixturevalue("s3_server")
        s3_client(endpoint).create_bucket(Bucket=bucket)
        # Airflow keeps one filesystem per connection id for the process: a new id per moto server.
        conn = f"aws_{uuid.uuid4().hex[:8]}"
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn.upper()}", os.environ["AIRFLOW_CONN_AWS_LOOPBACK"])
        root = f"s3://{bucket}/octopods"
    else:
        root = str(tmp_path) if target == "plain" else f"file://{tmp_path}"
    capture_the_hour(simulator, root, file_format, conn)
    destination = f"{root}/history/{HOUR:%Y-%m-%dT%H}.{file_format}"
    dag_run = run_dag(
        compaction_dag(source=f"{root}/capture/", destination=destination, storage_conn_id=conn)
    )
    assert task_state(dag_run, "compact") == "success"
    result = xcom(dag_run, "compact")
    assert (result["count"], result["complete"], result["gaps"], result["partitions"]) == (
        MESSAGES,
        True,
        [],
        6,
    )
    assert result["refreshed"] > 0  # the newest messages of each capture were not read yet
    if target == "s3":
        key = destination.removeprefix(f"s3://{bucket}/")
        raw = (
            s3_client(request.getfixturevalue("s3_server")).get_object(Bucket=bucket, Key=key)["Body"].read()
        )
        assert result["path"] == destination
    else:
        raw = (tmp_path / "history" / f"{HOUR:%Y-%m-%dT%H}.{file_format}").read_bytes()
        assert result["path"] == f"file://{tmp_path}/history/{HOUR:%Y-%m-%dT%H}.{file_format}"
    rows = rows_of(raw, file_format)
    sent = sorted(m["message_id"] for m in simulator.messages() if m["source"] == "traffic")
    assert sorted(int(row["message_id"]) for row in rows) == sent
    assert {row["status"] for row in rows} == {"READ"}
    checked = [row for row in rows if row["status_checked_at"] not in (None, "")]
    assert len(checked) == result["refreshed"]


def test_an_incomplete_history_fails_the_task_and_writes_nothing(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    (tmp_path / "capture").mkdir()
    dag_run = run_dag(compaction_dag(source=str(tmp_path / "capture"), destination=str(tmp_path / "h.jsonl")))
    assert task_state(dag_run, "compact") == "failed"
    assert not (tmp_path / "h.jsonl").exists()
    assert simulator.stats()["requests_total"] == 0

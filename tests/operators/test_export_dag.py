"""The export in real DAG runs (``dag.test()``) against the simulator: local, file:// and s3:// targets."""

from __future__ import annotations

import csv
import io
import json
import socket
import uuid
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_octopods.operators.export import ExportSentMessagesOperator
from airflow_provider_octopods.utils.records import FIELDS
from tests.dag_runner import run_dag, task_state, xcom

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from airflow_provider_octopods.testing import SimulatorHandle

pytestmark = pytest.mark.usefixtures("airflow_db")

WINDOW = {"start": "2026-04-24T00:00:00Z", "end": "2026-04-25T00:00:00Z"}

# (phone, created_at, status, failure) -- seeded into the simulator's listing
SEEDED = [
    ("+14155550101", "2026-04-23T23:59:59Z", "DELIVERED", None),  # before the window
    ("+14155550102", "2026-04-24T00:00:00Z", "DELIVERED", None),  # on the start edge: included
    ("+447700900103", "2026-04-24T08:15:30Z", "READ", None),
    ("+14155550104", "2026-04-24T12:30:10Z", "FAILED", (470, "Re-engagement window expired")),
    ("+14155550105", "2026-04-24T12:30:10Z", "SENT", None),  # same instant: ordered by id
    ("+14155550106", "2026-04-24T23:59:59Z", "DELIVERED", None),  # last second: included
    ("+14155550107", "2026-04-25T00:00:00Z", "DELIVERED", None),  # on the end edge: excluded
]


def seed(simulator: SimulatorHandle) -> dict[str, int]:
    ids = {}
    for phone, created_at, status, failure in SEEDED:
        extra: dict[str, Any] = {}
        if failure:
            extra = {"failure_code": failure[0], "failure_reason": failure[1]}
        ids[phone] = simulator.add_message(
            phone,
            created_at=created_at,
            status=status,
            content=f'Hi, "{phone[-3:]}", your order — ok',
            **extra,
        )
    return ids


def export_dag(**operator_kwargs: Any) -> DAG:
    with DAG(
        f"export_{uuid.uuid4().hex[:8]}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1),
        params=WINDOW,
    ) as dag:
        ExportSentMessagesOperator(
            task_id="export",
            start="{{ params.start }}",
            end="{{ params.end }}",
            **operator_kwargs,
        )
    return dag


def expected_records(ids: dict[str, int], *, array_shape: bool) -> list[dict[str, Any]]:
    """What the export must contain: the bare-array listing carries message_content and failure codes."""
    rows = []
    for phone, created_at, status, failure in SEEDED[1:-1]:
        rows.append(
            {
                "message_id": ids[phone],
                "channel": "whatsapp",
                "phone_number": phone,
                "created_at": created_at,
                "message_content": f'Hi, "{phone[-3:]}", your order — ok' if array_shape else None,
                "status": status,
                # The object listing gives failure_reason as plain text (article 14824157): no code.
                "failure_code": failure[0] if failure and array_shape else None,
                "failure_reason": failure[1] if failure else None,
            }
        )
    return rows


@pytest.mark.parametrize("listing_shape", ["array", "object"])
@pytest.mark.parametrize(
    ("file_format", "target"),
    [("jsonl", "plain"), ("csv", "file-uri"), ("jsonl", "file-uri"), ("csv", "plain")],
)
def test_export_record_by_record(
    simulator: SimulatorHandle, tmp_path: Path, listing_shape: str, file_format: str, target: str
) -> None:
    simulator.set_profile(listing_shape=listing_shape)
    ids = seed(simulator)
    path = tmp_path / "octopods" / f"2026-04-24.{file_format}"
    destination = str(path) if target == "plain" else f"file://{path}"
    dag_run = run_dag(export_dag(destination=destination, file_format=file_format))
    assert task_state(dag_run, "export") == "success"
    result = xcom(dag_run, "export")
    assert result == {
        "path": f"file://{path}",
        "count": 5,
        "window_start": WINDOW["start"],
        "window_end": WINDOW["end"],
        "truncated": False,
    }
    text = path.read_text(encoding="utf-8")
    if file_format == "jsonl":
        rows = [json.loads(line) for line in text.splitlines()]
    else:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        assert text.splitlines()[0] == ",".join(FIELDS)
    expected = expected_records(ids, array_shape=listing_shape == "array")
    for row, want in zip(rows, expected, strict=True):
        got = {key: row[key] for key in want}
        if file_format == "csv":
            got["message_id"] = int(got["message_id"])
            got["failure_code"] = int(got["failure_code"]) if got["failure_code"] else None
            got["failure_reason"] = got["failure_reason"] or None
            got["message_content"] = got["message_content"] or None
        assert got == want
        assert row["exported_at"].endswith("Z")


def test_rerun_is_idempotent_and_empty_channel_writes_empty_file(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    path = tmp_path / "empty.jsonl"
    dag = export_dag(destination=str(path))
    assert xcom(run_dag(dag), "export")["count"] == 0  # nothing ever sent: the listing's 400 code 2
    assert path.read_bytes() == b""
    seed(simulator)
    assert xcom(run_dag(export_dag(destination=str(path))), "export")["count"] == 5
    assert xcom(run_dag(export_dag(destination=str(path))), "export")["count"] == 5
    assert len(path.read_text().splitlines()) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.jsonl", "empty.jsonl.manifest.json"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def s3_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An S3-compatible server (moto) on loopback, and an Airflow AWS connection ``aws_loopback`` to it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_LOOPBACK",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            }
        ),
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield endpoint
    finally:
        server.stop()


def test_export_to_s3_through_an_aws_connection(simulator: SimulatorHandle, s3_server: str) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="exports")
    s3.put_object(Bucket="exports", Key="octopods/whatsapp/2026-04-24.jsonl", Body=b"stale previous export\n")
    ids = seed(simulator)
    dag_run = run_dag(
        export_dag(
            destination="s3://exports/octopods/whatsapp/{{ params.start[:10] }}.jsonl",
            storage_conn_id="aws_loopback",
        )
    )
    assert task_state(dag_run, "export") == "success"
    assert xcom(dag_run, "export")["path"] == "s3://exports/octopods/whatsapp/2026-04-24.jsonl"
    body = s3.get_object(Bucket="exports", Key="octopods/whatsapp/2026-04-24.jsonl")["Body"].read().decode()
    rows = [json.loads(line) for line in body.splitlines()]
    assert [row["message_id"] for row in rows] == [
        record["message_id"] for record in expected_records(ids, array_shape=True)
    ]
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="exports")["Contents"]]
    # the temporary objects are gone: the file and its manifest
    assert keys == ["octopods/whatsapp/2026-04-24.jsonl", "octopods/whatsapp/2026-04-24.jsonl.manifest.json"]
    manifest = json.loads(
        s3.get_object(Bucket="exports", Key="octopods/whatsapp/2026-04-24.jsonl.manifest.json")["Body"].read()
    )
    assert (manifest["count"], manifest["window_start"], manifest["truncated"]) == (5, WINDOW["start"], False)

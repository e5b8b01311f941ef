"""
Lineage of the export and the compaction: hook lineage, OpenLineage facets, asset events.

Hook lineage is read from a fresh recording collector (as if a lineage reader were registered):
exactly the destination goes out and the Octopods listing comes in, on local disk and on S3, and a
re-run records the same asset again, never a temporary sibling or a manifest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import DAG, Asset, AssetAlias

from airflow_provider_octopods.operators.compact import CompactSentMessagesOperator
from airflow_provider_octopods.operators.export import ExportSentMessagesOperator
from airflow_provider_octopods.operators.send import SendSmsOperator, SendWhatsAppTemplateOperator
from airflow_provider_octopods.utils.records import FIELDS, HISTORY_FIELDS
from tests.dag_runner import run_dag, task_state, xcom
from tests.history_helpers import DAY, iso, record, write_partition
from tests.keys import assert_no_key
from tests.lineage_helpers import (
    asset_events,
    collected_uris,
    fresh_hook_lineage_collector,
    queued_runs,
    sync_dags,
)
from tests.operators.test_export_dag import WINDOW, export_dag, s3_server, seed  # noqa: F401 - a fixture

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_octopods.testing import SimulatorHandle
    from tests.canned_server import CannedServer

pytestmark = pytest.mark.usefixtures("airflow_db")

#: The API host the hand-made partitions of ``tests.history_helpers`` came from.
PARTITION_HOST = "app.octopods.io"


@dataclass
class Target:
    """Where a test writes: a local folder as a ``file://`` URI, or a fresh bucket on moto's S3."""

    root: str
    conn: str | None = None
    client: Any = None

    def put(self, local: Path, key: str) -> None:
        """Upload a file made locally (a hand-made partition) to ``<root>/<key>``."""
        if self.client is None:
            target = self.root.removeprefix("file://") + "/" + key
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(local, target)
        else:
            bucket = self.root.removeprefix("s3://").split("/")[0]
            self.client.put_object(Bucket=bucket, Key=key, Body=local.read_bytes())


@pytest.fixture(params=["file", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Target:
    if request.param == "file":
        return Target(root=f"file://{tmp_path}/out")
    import boto3

    endpoint = request.getfixturevalue("s3_server")
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"lineage-{uuid.uuid4().hex[:8]}"  # moto keeps its buckets for the process
    client.create_bucket(Bucket=bucket)
    # Airflow keeps one filesystem per connection id for the process: a new id per moto server.
    conn = f"aws_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn.upper()}", os.environ["AIRFLOW_CONN_AWS_LOOPBACK"])
    return Target(root=f"s3://{bucket}", conn=conn, client=client)


def listing(host: str) -> str:
    return f"octopods://{host}/whatsapp/messages"


# -- hook lineage ------------------------------------------------------------------------------------


def test_export_records_its_destination_and_the_listing(simulator: SimulatorHandle, target: Target) -> None:
    seed(simulator)
    destination = f"{target.root}/whatsapp/2026-04-24.jsonl"
    for _ in range(2):  # a re-run records the same asset, not a new one
        with fresh_hook_lineage_collector() as collector:
            dag_run = run_dag(export_dag(destination=destination, storage_conn_id=target.conn))
            assert task_state(dag_run, "export") == "success"
            inputs, outputs = collected_uris(collector)
            assert_no_key(repr(collector.collected_assets))
        assert inputs == [listing(f"{simulator.host}:{simulator.port}")]
        assert outputs == [destination]  # not the temporary sibling, not the manifest


def test_compaction_records_its_destination_and_the_listing(tmp_path: Path, target: Target) -> None:
    for hour in range(24):
        local = write_partition(
            tmp_path / "made" / f"{hour:02d}.jsonl",
            [record(hour + 1, 60 * hour + 5)],
            start=60 * hour,
            end=60 * (hour + 1),
        )
        target.put(local, f"capture/{local.name}")
        target.put(local.parent / f"{local.name}.manifest.json", f"capture/{local.name}.manifest.json")
    destination = f"{target.root}/history/2026-04-24.parquet"
    for _ in range(2):
        with fresh_hook_lineage_collector() as collector:
            dag_run = run_dag(compaction_dag(f"{target.root}/capture/", destination, target.conn))
            assert task_state(dag_run, "compact") == "success"
            inputs, outputs = collected_uris(collector)
        assert xcom(dag_run, "compact")["count"] == 24
        assert inputs == [listing(PARTITION_HOST)]
        assert outputs == [destination]


def compaction_dag(source: str, destination: str, conn: str | None, **kwargs: Any) -> DAG:
    with DAG(
        f"compact_lineage_{uuid.uuid4().hex[:8]}", schedule=None, start_date=pendulum.datetime(2026, 1, 1)
    ) as dag:
        CompactSentMessagesOperator(
            task_id="compact",
            source=source,
            destination=destination,
            storage_conn_id=conn,
            start=iso(DAY),
            end=iso(DAY + pendulum.duration(days=1)),
            refresh_statuses=False,
            **kwargs,
        )
    return dag


def test_nothing_is_recorded_without_a_lineage_reader(simulator: SimulatorHandle, tmp_path: Path) -> None:
    """Without a reader, Airflow's collector is a no-op: the export runs as before."""
    from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

    seed(simulator)
    dag_run = run_dag(export_dag(destination=str(tmp_path / "x.jsonl")))
    assert task_state(dag_run, "export") == "success"
    assert not get_hook_lineage_collector().collected_assets.outputs


# -- OpenLineage facets, as the OpenLineage provider asks for them -----------------------------------


def schema_of(dataset: Any) -> list[tuple[str, str]]:
    return [(field.name, field.type) for field in dataset.facets["schema"].fields]


@pytest.mark.parametrize(("suffix", "mask_pii"), [("jsonl", False), ("csv.gz", True), ("parquet", False)])
def test_export_facets_name_the_listing_and_the_file_with_its_columns(
    simulator: SimulatorHandle, tmp_path: Path, suffix: str, mask_pii: bool
) -> None:
    seed(simulator)
    operator = ExportSentMessagesOperator(
        task_id="export", destination=f"{tmp_path}/out.{suffix}", mask_pii=mask_pii, **WINDOW
    )
    assert operator.get_openlineage_facets_on_complete(None) is None  # nothing written yet
    operator.execute({})
    facets = operator.get_openlineage_facets_on_complete(None)
    [source] = facets.inputs
    [output] = facets.outputs
    assert (source.namespace, source.name) == (
        f"octopods://{simulator.host}:{simulator.port}",
        "whatsapp/messages",
    )
    assert (output.namespace, output.name) == ("file", f"{tmp_path}/out.{suffix}")
    columns = HISTORY_FIELDS if suffix == "parquet" else FIELDS  # Parquet files have the full schema
    expected = [name for name in columns if not (mask_pii and name == "message_content")]
    assert [name for name, _ in schema_of(output)] == expected
    assert dict(schema_of(output))["created_at"] == "timestamp"
    assert dict(schema_of(output))["message_id"] == "integer"


def test_compaction_facets_add_status_checked_at(target: Target, tmp_path: Path) -> None:
    local = write_partition(tmp_path / "made" / "all.jsonl", [record(1, 5)], start=0, end=24 * 60)
    target.put(local, "capture/all.jsonl")
    target.put(local.parent / "all.jsonl.manifest.json", "capture/all.jsonl.manifest.json")
    operator = CompactSentMessagesOperator(
        task_id="compact",
        source=f"{target.root}/capture/",
        destination=f"{target.root}/history/day.csv",
        storage_conn_id=target.conn,
        start=iso(DAY),
        end=iso(DAY + pendulum.duration(days=1)),
        refresh_statuses=False,
    )
    operator.execute({})
    facets = operator.get_openlineage_facets_on_complete(None)
    [source] = facets.inputs
    [output] = facets.outputs
    assert (source.namespace, source.name) == (f"octopods://{PARTITION_HOST}", "whatsapp/messages")
    if target.client is None:
        assert (output.namespace, output.name) == (
            "file",
            f"{target.root.removeprefix('file://')}/history/day.csv",
        )
    else:
        assert (output.namespace, output.name) == (target.root, "history/day.csv")
    assert [name for name, _ in schema_of(output)] == list(HISTORY_FIELDS)


@pytest.mark.parametrize(
    ("operator", "name"),
    [
        (SendSmsOperator(task_id="sms", destination_phone="+14155552671", body="hi"), "sms/messages"),
        (
            SendWhatsAppTemplateOperator(task_id="wa", template_id=539, destination_phone="+14155552671"),
            "whatsapp/messages",
        ),
    ],
    ids=["sms", "whatsapp"],
)
def test_send_facets_name_the_channel_as_output(
    octopods_conn: CannedServer, monkeypatch: pytest.MonkeyPatch, operator: Any, name: str
) -> None:
    facets = operator.get_openlineage_facets_on_complete(None)
    assert facets.inputs == []
    [output] = facets.outputs
    assert (output.namespace, output.name) == (f"octopods://127.0.0.1:{octopods_conn.port}", name)
    monkeypatch.delenv("AIRFLOW_CONN_OCTOPODS_DEFAULT")
    operator.__dict__.pop("hook", None)
    assert operator.get_openlineage_facets_on_complete(None) is None  # the connection is unreadable


def test_importing_the_operators_does_not_import_openlineage() -> None:
    """Airflow reads every provider's metadata; the OpenLineage classes themselves stay unloaded."""
    code = (
        "import sys\n"
        "import airflow_provider_octopods.operators.export, airflow_provider_octopods.operators.compact\n"
        "import airflow_provider_octopods.operators.send, airflow_provider_octopods.notifications.octopods\n"
        "heavy = ('openlineage.', 'airflow.providers.openlineage.extractors',"
        " 'airflow.providers.common.compat.openlineage')\n"
        "loaded = [m for m in sys.modules if m == 'openlineage' or m.startswith(heavy)]\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


# -- asset events that carry the figures -------------------------------------------------------------


def consumer_of(asset: Any) -> DAG:
    with DAG(
        f"consumer_{uuid.uuid4().hex[:8]}", schedule=[asset], start_date=pendulum.datetime(2026, 1, 1)
    ) as dag:
        ExportSentMessagesOperator(task_id="unused", destination="/tmp/never-run.jsonl")
    return dag


@pytest.mark.parametrize("outlet", ["asset", "alias"])
def test_export_asset_event_carries_the_figures(
    simulator: SimulatorHandle, tmp_path: Path, outlet: str
) -> None:
    seed(simulator)
    destination = f"file://{tmp_path}/whatsapp/2026-04-24.jsonl"
    asset = Asset(destination)
    producer = export_dag(
        destination=destination,
        outlets=[asset if outlet == "asset" else AssetAlias(f"octopods_exports_{uuid.uuid4().hex[:8]}")],
    )
    consumer = consumer_of(asset)
    sync_dags(producer, consumer)
    dag_run = run_dag(producer)
    assert task_state(dag_run, "export") == "success"
    assert asset_events(destination, producer.dag_id) == [
        {"count": 5, "window_start": WINDOW["start"], "window_end": WINDOW["end"], "truncated": False}
    ]
    assert queued_runs(consumer.dag_id) == [destination]  # the scheduler would run the consumer now


def test_compaction_asset_event_carries_complete(tmp_path: Path) -> None:
    local = write_partition(
        tmp_path / "capture" / "all.jsonl", [record(1, 5), record(2, 6)], start=0, end=720
    )
    destination = f"file://{tmp_path}/history/2026-04-24.jsonl"
    producer = compaction_dag(
        str(local.parent), destination, None, on_gap="warn", outlets=[Asset(destination)]
    )
    sync_dags(producer)
    assert task_state(run_dag(producer), "compact") == "success"
    assert asset_events(destination, producer.dag_id) == [
        {
            "count": 2,
            "window_start": iso(DAY),
            "window_end": iso(DAY + pendulum.duration(days=1)),
            "complete": False,
        }
    ]


def test_other_outlets_and_runs_outside_a_task_are_left_alone(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    from airflow_provider_octopods.utils.outlets import attach_figures

    events: dict[Any, Any] = {}
    attach_figures({}, [Asset("file:///x")], "file:///x", {"count": 1})  # no outlet_events: no-op
    attach_figures({"outlet_events": events}, ["not an asset"], "file:///x", {"count": 1})
    assert events == {}
    seed(simulator)
    operator = ExportSentMessagesOperator(task_id="export", destination=str(tmp_path / "x.jsonl"), **WINDOW)
    assert operator.execute({})["count"] == 5  # no context at all: no outlet events to fill


def test_figures_are_json_native_and_keyless(simulator: SimulatorHandle, tmp_path: Path) -> None:
    import json

    seed(simulator)
    operator = ExportSentMessagesOperator(
        task_id="export", destination=str(tmp_path / "x.jsonl"), outlets=[Asset("file:///y")], **WINDOW
    )
    recorded: dict[str, Any] = {}

    class OutletEvents:  # what Airflow hands a task: one accessor per outlet
        def __getitem__(self, outlet: Any) -> Any:
            return SimpleNamespace(extra=recorded)

    operator.execute({"outlet_events": OutletEvents()})  # type: ignore[typeddict-item]
    assert sorted(recorded) == ["count", "truncated", "window_end", "window_start"]
    assert json.loads(json.dumps(recorded)) == recorded
    assert_no_key(json.dumps(recorded))

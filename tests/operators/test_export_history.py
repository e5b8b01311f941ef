"""The export's part in a complete history: its manifest, Parquet, and advice from the rate it saw."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import AirflowOptionalProviderFeatureException

from airflow_provider_octopods.exceptions import OctopodsTruncatedExportError, OctopodsValidationError
from airflow_provider_octopods.operators.compact import CompactSentMessagesOperator
from airflow_provider_octopods.operators.export import ExportSentMessagesOperator
from airflow_provider_octopods.utils import atomic
from tests.data.doc_responses import LISTING_ARRAY
from tests.history_helpers import write_partition
from tests.keys import assert_no_key
from tests.operators.test_export import DAY, LISTING, export, serve_full_listing

if TYPE_CHECKING:
    from tests.canned_server import CannedServer


def manifest_of(path: Path) -> dict[str, Any]:
    return dict(json.loads(Path(f"{path}.manifest.json").read_text()))


def test_the_manifest_says_what_the_export_saw(octopods_conn: CannedServer, tmp_path: Path) -> None:
    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    before = dt.datetime.now(dt.UTC)
    export(tmp_path / "day.jsonl.gz")
    after = dt.datetime.now(dt.UTC)
    manifest = manifest_of(tmp_path / "day.jsonl.gz")
    exported_at = dt.datetime.fromisoformat(manifest.pop("exported_at").replace("Z", "+00:00"))
    assert before <= exported_at <= after
    assert manifest == {
        "format_version": 1,
        "window_start": "2026-04-24T00:00:00Z",
        "window_end": "2026-04-25T00:00:00Z",
        "count": 2,
        "truncated": False,
        "oldest_listed": "2026-04-24T12:30:10Z",
        "newest_listed": "2026-04-24T12:34:56Z",
        "file_format": "jsonl",
        "octopods_conn_id": "octopods_default",
        "api_host": f"127.0.0.1:{octopods_conn.port}",
    }
    text = Path(f"{tmp_path}/day.jsonl.gz.manifest.json").read_text()
    assert text.startswith('{\n  "format_version": 1,')
    assert_no_key(text)


def test_a_truncated_export_records_how_far_back_it_reached(
    octopods_conn: CannedServer, tmp_path: Path
) -> None:
    serve_full_listing(octopods_conn, "2026-04-24T23:00", every_minutes=5)
    export(tmp_path / "t.csv")
    manifest = manifest_of(tmp_path / "t.csv")
    assert (manifest["truncated"], manifest["count"], manifest["file_format"]) == (True, 100, "csv")
    assert (manifest["oldest_listed"], manifest["newest_listed"]) == (
        "2026-04-24T14:45:00Z",
        "2026-04-24T23:00:00Z",
    )


def test_an_export_without_a_window_has_a_null_window(octopods_conn: CannedServer, tmp_path: Path) -> None:
    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    export(tmp_path / "all.jsonl", {})
    manifest = manifest_of(tmp_path / "all.jsonl")
    assert (manifest["window_start"], manifest["window_end"]) == (None, None)


def test_a_failed_rewrite_leaves_no_manifest_describing_another_file(
    octopods_conn: CannedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old manifest goes before the data file is replaced; the new one comes after it is in place."""
    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    export(tmp_path / "day.jsonl")
    assert Path(f"{tmp_path}/day.jsonl.manifest.json").exists()
    real = atomic.write_atomically

    def fail_on_the_manifest(destination: Any, write: Any) -> int:
        if destination.name.endswith(".manifest.json"):
            raise OSError("disk full")
        return real(destination, write)

    monkeypatch.setattr(atomic, "write_atomically", fail_on_the_manifest)
    with pytest.raises(OSError, match="disk full"):
        export(tmp_path / "day.jsonl")
    assert (tmp_path / "day.jsonl").exists()
    assert not Path(f"{tmp_path}/day.jsonl.manifest.json").exists()  # so a compaction will not use it


def test_on_truncation_fail_keeps_the_previous_file_and_manifest(
    octopods_conn: CannedServer, tmp_path: Path
) -> None:
    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)  # the first run's answer...
    serve_full_listing(octopods_conn, "2026-04-24T23:00", every_minutes=5)  # ... then the second's
    export(tmp_path / "day.jsonl")
    previous = Path(f"{tmp_path}/day.jsonl.manifest.json").read_bytes()
    with pytest.raises(OctopodsTruncatedExportError):
        export(tmp_path / "day.jsonl", on_truncation="fail")
    assert Path(f"{tmp_path}/day.jsonl.manifest.json").read_bytes() == previous


# -- advice ---------------------------------------------------------------------------------------


def test_truncation_advice_comes_from_the_rate_the_listing_showed(
    octopods_conn: CannedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    serve_full_listing(octopods_conn, "2026-04-24T23:00", every_minutes=1)  # 100 messages in 99 minutes
    export(tmp_path / "t.jsonl")
    logged = caplog.text + "".join(capfd.readouterr())
    assert "the newest 100 messages spanned 99 minutes: capture at least every 50 minutes" in logged
    assert "CompactSentMessagesOperator" in logged


def test_a_run_without_a_window_is_told_to_get_one(
    octopods_conn: CannedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    serve_full_listing(octopods_conn, "2026-04-24T23:00", every_minutes=1)
    result = export(tmp_path / "t.jsonl", {})
    assert result["truncated"] is True
    logged = caplog.text + "".join(capfd.readouterr())
    assert "give the export a window (start and end) or a schedule" in logged
    assert "more often" not in logged


# -- Parquet --------------------------------------------------------------------------------------


def test_parquet_export_has_the_typed_schema_and_concatenates_with_a_compaction(
    octopods_conn: CannedServer, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    export(tmp_path / "export" / "day.parquet")
    table = pq.read_table(tmp_path / "export" / "day.parquet")
    timestamp = pa.timestamp("us", tz="UTC")
    assert [(field.name, field.type) for field in table.schema] == [
        ("message_id", pa.int64()),
        ("channel", pa.string()),
        ("phone_number", pa.string()),
        ("created_at", timestamp),
        ("message_content", pa.string()),
        ("status", pa.dictionary(pa.int32(), pa.string())),
        ("failure_code", pa.int32()),
        ("failure_reason", pa.string()),
        ("exported_at", timestamp),
        ("status_checked_at", timestamp),
    ]
    rows = table.to_pylist()
    assert [row["message_id"] for row in rows] == [98764, 98765]
    assert rows[0]["created_at"] == dt.datetime(2026, 4, 24, 12, 30, 10, tzinfo=dt.UTC)
    assert (rows[0]["status"], rows[0]["failure_code"]) == ("FAILED", 470)
    assert {row["status_checked_at"] for row in rows} == {None}
    assert manifest_of(tmp_path / "export" / "day.parquet")["file_format"] == "parquet"
    # A compaction of the export reads the Parquet partition back, and its own file concatenates.
    operator = CompactSentMessagesOperator(
        task_id="compact",
        source=str(tmp_path / "export"),
        destination=str(tmp_path / "history" / "day.parquet"),
        refresh_statuses=False,
        on_gap="warn",
    )
    assert operator.execute(DAY)["count"] == 2
    both = pa.concat_tables([table, pq.read_table(tmp_path / "history" / "day.parquet")])
    assert both.num_rows == 4


def test_parquet_with_mask_pii_has_no_content_column(octopods_conn: CannedServer, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    export(tmp_path / "day.parquet", mask_pii=True)
    table = pq.read_table(tmp_path / "day.parquet")
    assert "message_content" not in table.schema.names
    assert table.column("phone_number").to_pylist() == ["+1********34", "+1********71"]


def test_an_empty_window_writes_a_parquet_file_with_its_schema(
    octopods_conn: CannedServer, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    octopods_conn.add("GET", LISTING, 400, {"error_code": 2, "error": "Resource Not Found"})
    assert export(tmp_path / "empty.parquet")["count"] == 0
    table = pq.read_table(tmp_path / "empty.parquet")
    assert (table.num_rows, table.schema.names[-1]) == (0, "status_checked_at")


def test_gzipped_parquet_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OctopodsValidationError, match=r"drop the '\.gz'") as caught:
        ExportSentMessagesOperator(task_id="e", destination=str(tmp_path / "day.parquet.gz"))
    assert caught.value.parameter == "destination"


@pytest.fixture
def without_pyarrow(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [module for module in sys.modules if module == "pyarrow" or module.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)


@pytest.mark.usefixtures("without_pyarrow")
@pytest.mark.parametrize(
    "kwargs",
    [{"destination": "/data/day.parquet"}, {"destination": "/data/day.out", "file_format": "parquet"}],
    ids=["suffix", "file_format"],
)
def test_without_pyarrow_a_literal_parquet_output_fails_when_the_dag_is_parsed(
    kwargs: dict[str, Any],
) -> None:
    with pytest.raises(
        AirflowOptionalProviderFeatureException, match=r"airflow-provider-octopods\[parquet\]"
    ):
        ExportSentMessagesOperator(task_id="e", **kwargs)
    with pytest.raises(
        AirflowOptionalProviderFeatureException, match=r"airflow-provider-octopods\[parquet\]"
    ):
        CompactSentMessagesOperator(task_id="c", source="/data/capture/", **kwargs)


@pytest.mark.usefixtures("without_pyarrow")
def test_without_pyarrow_a_templated_parquet_output_fails_before_any_request(
    octopods_conn: CannedServer, tmp_path: Path
) -> None:
    operator = ExportSentMessagesOperator(task_id="e", destination="{{ var.value.root }}/day.parquet")
    operator.destination = str(tmp_path / "day.parquet")  # what rendering gives
    with pytest.raises(AirflowOptionalProviderFeatureException, match=r"pip install"):
        operator.execute({"data_interval_start": pendulum.datetime(2026, 4, 24)})
    assert octopods_conn.requests == []
    write_partition(tmp_path / "capture" / "a.jsonl", [], start=0, end=60)
    compaction = CompactSentMessagesOperator(
        task_id="c", source=str(tmp_path / "capture"), destination="{{ var.value.root }}/day.parquet"
    )
    compaction.destination = str(tmp_path / "day.parquet")
    with pytest.raises(AirflowOptionalProviderFeatureException):
        compaction.execute(DAY)
    assert not (tmp_path / "day.parquet").exists()


def test_dag_files_do_not_import_pyarrow() -> None:
    """DAG files import the operators on every parse: pyarrow is loaded only to write or read Parquet."""
    import subprocess

    code = (
        "import sys\n"
        "import airflow_provider_octopods.operators.export, airflow_provider_octopods.operators.compact\n"
        "from airflow_provider_octopods.operators.compact import CompactSentMessagesOperator\n"
        "CompactSentMessagesOperator(task_id='c', source='/c/', destination='/h/{{ ds }}.parquet')\n"
        "assert 'pyarrow' not in sys.modules, 'pyarrow imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, capture_output=True)

"""CompactSentMessagesOperator: selection, deduplication, coverage and gaps, bad partitions, formats."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_octopods.exceptions import (
    OctopodsError,
    OctopodsIncompleteHistoryError,
    OctopodsPartitionError,
    OctopodsValidationError,
)
from airflow_provider_octopods.operators.compact import CompactSentMessagesOperator
from airflow_provider_octopods.utils.records import HISTORY_FIELDS
from tests.history_helpers import DAY, at, iso, read_jsonl, record, write_partition

WHOLE_DAY = {"start": iso(DAY), "end": iso(at(24 * 60))}


def compact(source: Path | str, destination: Path | str, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"refresh_statuses": False, **WHOLE_DAY, **kwargs}
    operator = CompactSentMessagesOperator(
        task_id="compact", source=str(source), destination=str(destination), **options
    )
    return operator.execute({})


def logged(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> str:
    return caplog.text + "".join(capfd.readouterr())


def day_of_captures(folder: Path, records_by_hour: dict[int, list[dict[str, Any]]] | None = None) -> None:
    """24 hourly partitions covering the day, with the given records in each hour."""
    for hour in range(24):
        rows = (records_by_hour or {}).get(hour, [])
        write_partition(folder / f"{hour:02d}.jsonl", rows, start=hour * 60, end=(hour + 1) * 60)


def test_one_record_per_message_the_latest_observation_wins_sorted_by_time(tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    day_of_captures(capture)
    early, late = at(24 * 60 + 1), at(24 * 60 + 30)
    # Two overlapping captures saw message 7: the later observation wins, whatever the file order.
    write_partition(
        capture / "b-late.jsonl",
        [record(7, 70, "READ", exported_at=late)],
        start=60,
        end=120,
        exported_at=late,
    )
    write_partition(
        capture / "c-early.jsonl",
        [record(7, 70, "DELIVERED", exported_at=early), record(3, 70), record(9, 65), record(1, 10)],
        start=0,
        end=120,
        exported_at=early,
    )
    write_partition(  # records outside the window are left out; the partition still overlaps it
        capture / "d-edges.jsonl",
        [record(11, -1), record(12, 0), record(13, 24 * 60 - 0.001), record(14, 24 * 60)],
        start=-60,
        end=24 * 60 + 60,
    )
    result = compact(capture, tmp_path / "history" / "day.jsonl")
    rows = read_jsonl(tmp_path / "history" / "day.jsonl")
    assert [(row["message_id"], row["status"]) for row in rows] == [
        (12, "READ"),
        (1, "READ"),
        (9, "READ"),
        (3, "READ"),  # same created_at as 7: ordered by id
        (7, "READ"),
        (13, "READ"),
    ]
    assert all(list(row) == list(HISTORY_FIELDS) for row in rows)
    assert [row["status_checked_at"] for row in rows] == [None] * 6
    assert result == {
        "path": f"file://{tmp_path}/history/day.jsonl",
        "count": 6,
        "window_start": "2026-04-24T00:00:00Z",
        "window_end": "2026-04-25T00:00:00Z",
        "complete": True,
        "gaps": [],
        "refreshed": 0,
        "partitions": 27,
    }


def test_status_checked_at_beats_exported_at(tmp_path: Path) -> None:
    """The observation time is status_checked_at when the status was read again, else exported_at."""
    capture = tmp_path / "capture"
    day_of_captures(capture, {0: [record(5, 1, "SENT", exported_at=at(24 * 60 + 1))]})
    checked = record(5, 1, "READ", exported_at=at(24 * 60 + 1), status_checked_at=iso(at(24 * 60 + 40)))
    later_capture = record(5, 1, "DELIVERED", exported_at=at(24 * 60 + 30))
    write_partition(capture / "x.jsonl", [checked], start=0, end=60)
    write_partition(capture / "y.jsonl", [later_capture], start=0, end=60)
    compact(capture, tmp_path / "out.jsonl")
    (row,) = read_jsonl(tmp_path / "out.jsonl")
    assert (row["status"], row["status_checked_at"]) == ("READ", "2026-04-25T00:40:00Z")


def test_a_gap_fails_before_writing_naming_it(tmp_path: Path, octopods_conn: Any) -> None:
    capture = tmp_path / "capture"
    for hour in [*range(10), *range(11, 23)]:  # hour 10 and the last hour were not captured
        write_partition(
            capture / f"{hour:02d}.jsonl",
            [record(hour, hour * 60 + 5, "SENT")],
            start=hour * 60,
            end=(hour + 1) * 60,
            api_host=f"127.0.0.1:{octopods_conn.port}",
        )
    target = tmp_path / "day.jsonl"
    target.write_text("previous\n")
    with pytest.raises(OctopodsIncompleteHistoryError) as caught:
        compact(capture, target, refresh_statuses=True)
    assert caught.value.gaps == [
        ["2026-04-24T10:00:00Z", "2026-04-24T11:00:00Z"],
        ["2026-04-24T23:00:00Z", "2026-04-25T00:00:00Z"],
    ]
    assert "[2026-04-24T10:00:00Z, 2026-04-24T11:00:00Z)" in str(caught.value)
    assert "retry" in str(caught.value)
    assert target.read_text() == "previous\n"
    assert octopods_conn.requests == []  # no status was read again
    rebuilt = OctopodsError.from_event(json.loads(json.dumps(caught.value.to_event())))
    assert isinstance(rebuilt, OctopodsIncompleteHistoryError)
    assert rebuilt.gaps == caught.value.gaps


def test_on_gap_warn_writes_and_reports(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "capture"
    write_partition(capture / "a.jsonl", [record(1, 30)], start=0, end=12 * 60)
    result = compact(capture, tmp_path / "day.jsonl", on_gap="warn")
    assert (result["complete"], result["count"]) == (False, 1)
    assert result["gaps"] == [["2026-04-24T12:00:00Z", "2026-04-25T00:00:00Z"]]
    assert "is incomplete" in logged(caplog, capfd)


def test_a_truncated_capture_covers_back_to_the_oldest_message_it_listed(tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    day_of_captures(capture)
    write_partition(  # replaces hour 10 with a cut capture that reached back to 10:42 only
        capture / "10.jsonl", [record(1, 642), record(2, 650)], start=600, end=660, truncated=True, oldest=642
    )
    result = compact(capture, tmp_path / "day.jsonl", on_gap="warn")
    # up to and including 10:42:00: another message of that second may have been the 101st
    assert result["gaps"] == [["2026-04-24T10:00:00Z", "2026-04-24T10:42:00.000001Z"]]
    assert result["count"] == 2


def test_a_manifest_with_a_future_window_covers_only_up_to_its_export(tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    day_of_captures(capture)
    # A capture whose window runs to 13:00 but which ran at 12:20: 12:20 to 13:00 is not covered.
    write_partition(capture / "12.jsonl", [record(1, 725)], start=720, end=780, exported_at=at(740))
    result = compact(capture, tmp_path / "day.jsonl", on_gap="warn")
    assert result["gaps"] == [["2026-04-24T12:20:00Z", "2026-04-24T13:00:00Z"]]


def test_unpaired_files_cover_nothing_and_are_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "capture"
    day_of_captures(capture)
    write_partition(capture / "orphan.jsonl", [record(99, 30)], start=0, end=60, manifest=False)
    write_partition(capture / "gone.jsonl", [record(98, 30)], start=0, end=60).unlink()
    (capture / ".00.jsonl.octopods-tmp-0123456789ab").write_text("half written")
    (capture / "notes.txt").write_text("not a partition")
    (capture / "_SUCCESS").write_bytes(b"")
    result = compact(capture, tmp_path / "day.jsonl")
    assert result["count"] == 0  # neither orphan's record is used
    text = logged(caplog, capfd)
    assert f"file://{capture}/orphan.jsonl" in text
    assert f"file://{capture}/gone.jsonl.manifest.json" in text
    assert "octopods-tmp" not in text
    assert "notes.txt" not in text


@pytest.mark.parametrize(
    ("other", "named"),
    [({"conn_id": "octopods_other"}, "octopods_other"), ({"api_host": "api.octopods.io"}, "api.octopods.io")],
)
def test_partitions_of_another_connection_or_host_are_refused(
    tmp_path: Path, other: dict[str, str], named: str
) -> None:
    capture = tmp_path / "capture"
    day_of_captures(capture)
    write_partition(capture / "zz.jsonl", [record(1, 30)], start=0, end=60, **other)
    with pytest.raises(
        OctopodsPartitionError, match="one history holds the messages of one account"
    ) as caught:
        compact(capture, tmp_path / "day.jsonl")
    assert named in str(caught.value)
    assert caught.value.partition == f"file://{capture}/zz.jsonl"
    assert not (tmp_path / "day.jsonl").exists()


def test_when_refreshing_the_partitions_host_must_be_the_connections(
    tmp_path: Path, octopods_conn: Any
) -> None:
    capture = tmp_path / "capture"
    day_of_captures(capture, {0: [record(1, 5, "SENT")]})  # exported from app.octopods.io
    with pytest.raises(OctopodsPartitionError, match="cannot be read again there"):
        compact(capture, tmp_path / "day.jsonl", refresh_statuses=True)
    assert octopods_conn.requests == []
    assert not (tmp_path / "day.jsonl").exists()


def test_an_empty_source_is_one_gap(tmp_path: Path) -> None:
    (tmp_path / "capture").mkdir()
    with pytest.raises(OctopodsIncompleteHistoryError, match="no capture partition under") as caught:
        compact(tmp_path / "capture", tmp_path / "day.jsonl")
    assert caught.value.gaps == [["2026-04-24T00:00:00Z", "2026-04-25T00:00:00Z"]]
    result = compact(tmp_path / "capture", tmp_path / "day.csv", on_gap="warn")
    assert (result["count"], result["complete"]) == (0, False)
    assert (tmp_path / "day.csv").read_text().splitlines() == [",".join(HISTORY_FIELDS)]


def test_a_missing_source_says_so(tmp_path: Path) -> None:
    with pytest.raises(OctopodsIncompleteHistoryError, match="does not exist") as caught:
        compact(tmp_path / "no-such-folder", tmp_path / "day.jsonl")
    assert caught.value.gaps == [["2026-04-24T00:00:00Z", "2026-04-25T00:00:00Z"]]
    assert not (tmp_path / "day.jsonl").exists()


def test_a_prefix_selects_the_folders_it_starts(tmp_path: Path) -> None:
    day_of_captures(tmp_path / "capture" / "2026-04-24")
    write_partition(tmp_path / "capture" / "2026-04-24" / "x.jsonl", [record(1, 5)], start=0, end=60)
    write_partition(tmp_path / "capture" / "2026-05-01" / "y.jsonl", [record(2, 5)], start=0, end=60)
    result = compact(f"{tmp_path}/capture/2026-04-2", tmp_path / "day.jsonl")
    assert (result["count"], result["partitions"], result["complete"]) == (1, 25, True)


def test_partitions_outside_the_window_are_not_read(tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    day_of_captures(capture)
    write_partition(capture / "yesterday.jsonl", [], start=-24 * 60, end=-23 * 60)
    (capture / "yesterday.jsonl").write_text("this is not JSON\n")  # never opened: its window is another day
    assert compact(capture, tmp_path / "day.jsonl")["partitions"] == 24


def test_no_window_takes_every_partition_and_checks_the_span_between_them(tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    write_partition(capture / "a.jsonl", [record(1, 5)], start=0, end=60)
    write_partition(capture / "b.jsonl", [record(2, 125)], start=120, end=180)
    operator = CompactSentMessagesOperator(
        task_id="compact",
        source=str(capture),
        destination=str(tmp_path / "all.jsonl"),
        refresh_statuses=False,
        on_gap="warn",
    )
    result = operator.execute({})  # a manual run: no data interval, no start/end
    assert (result["window_start"], result["window_end"], result["count"]) == (None, None, 2)
    assert result["gaps"] == [["2026-04-24T01:00:00Z", "2026-04-24T02:00:00Z"]]


# -- partitions that cannot be read fail the task, naming them, and write nothing -------------------


def _corrupt(capture: Path, kind: str) -> Path:
    day_of_captures(capture)
    if kind == "gzip":
        path = write_partition(capture / "bad.jsonl.gz", [record(1, 5)], start=0, end=60)
        path.write_bytes(path.read_bytes()[:-12])
    elif kind == "json":
        path = write_partition(capture / "bad.jsonl", [record(1, 5)], start=0, end=60)
        path.write_text(path.read_text() + '{"message_id": 2, "created_at": \n')
    elif kind == "schema":
        path = write_partition(capture / "bad.jsonl", [record(1, 5)], start=0, end=60)
        path.write_text(json.dumps({"id": 1, "when": "2026-04-24T00:05:00Z"}) + "\n")
    elif kind == "value":
        path = write_partition(capture / "bad.csv", [record(1, 5)], start=0, end=60)
        path.write_text(path.read_text().replace("2026-04-24T00:05:00Z", "five past midnight"))
    elif kind == "parquet":
        path = write_partition(capture / "bad.parquet", [record(1, 5)], start=0, end=60)
        path.write_bytes(b"PAR1" + b"\x00" * 40 + b"PAR1")
    else:  # the manifest itself
        path = write_partition(capture / "bad.jsonl", [record(1, 5)], start=0, end=60)
        path = Path(f"{path}.manifest.json")
        path.write_text('{"format_version": 1, "window_start": "noon"}')
    return path


@pytest.mark.parametrize("kind", ["gzip", "json", "schema", "value", "parquet", "manifest"])
def test_an_unreadable_partition_fails_naming_it_and_writes_nothing(tmp_path: Path, kind: str) -> None:
    bad = _corrupt(tmp_path / "capture", kind)
    target = tmp_path / "history" / "day.parquet"
    target.parent.mkdir()
    target.write_bytes(b"previous history")
    with pytest.raises(OctopodsPartitionError) as caught:
        compact(tmp_path / "capture", target)
    assert caught.value.partition == f"file://{bad}"
    assert f"file://{bad}" in str(caught.value)
    assert target.read_bytes() == b"previous history"
    assert [path.name for path in target.parent.iterdir()] == ["day.parquet"]


# -- output ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["day.jsonl", "day.jsonl.gz", "day.csv", "day.csv.gz", "day.parquet"])
def test_every_output_format_reads_back_the_same(tmp_path: Path, name: str) -> None:
    capture = tmp_path / "capture"
    failed = record(2, 20, "FAILED", failure_code=470, failure_reason='Window, "expired"')
    day_of_captures(capture, {0: [record(1, 10, phone="+447700900123"), failed]})
    result = compact(capture, tmp_path / name)
    raw = (tmp_path / name).read_bytes()
    text = gzip.decompress(raw).decode() if name.endswith(".gz") else raw.decode(errors="replace")
    if name.startswith("day.jsonl"):
        rows = [json.loads(line) for line in text.splitlines()]
    elif name.startswith("day.csv"):
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        assert text.splitlines()[0] == ",".join(HISTORY_FIELDS)
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(tmp_path / name).to_pylist()
    assert result["count"] == len(rows) == 2
    assert [str(row["message_id"]) for row in rows] == ["1", "2"]
    assert rows[1]["failure_reason"] == 'Window, "expired"'
    assert str(rows[1]["failure_code"]) == "470"


def test_mask_pii(tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    day_of_captures(capture, {0: [record(1, 10, phone="+447700900123")]})
    compact(capture, tmp_path / "day.jsonl", mask_pii=True)
    (row,) = read_jsonl(tmp_path / "day.jsonl")
    assert row["phone_number"] == "+44********23"
    assert "message_content" not in row
    assert "hello" not in (tmp_path / "day.jsonl").read_text()


def test_partitions_exported_with_mask_pii_stay_masked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "capture"
    day_of_captures(capture)
    masked = {key: value for key, value in record(1, 10).items() if key != "message_content"}
    write_partition(capture / "00.jsonl", [{**masked, "phone_number": "+1********71"}], start=0, end=60)
    compact(capture, tmp_path / "a.jsonl")
    compact(capture, tmp_path / "b.jsonl", mask_pii=True)
    assert read_jsonl(tmp_path / "a.jsonl")[0]["phone_number"] == "+1********71"
    assert read_jsonl(tmp_path / "a.jsonl")[0]["message_content"] is None
    assert read_jsonl(tmp_path / "b.jsonl")[0]["phone_number"] == "+1********71"  # not masked twice
    assert "exported with mask_pii" in logged(caplog, capfd)


def test_the_destination_must_not_lie_among_the_partitions(tmp_path: Path) -> None:
    day_of_captures(tmp_path / "capture")
    with pytest.raises(OctopodsValidationError, match="lies under the source") as caught:
        compact(tmp_path / "capture", tmp_path / "capture" / "day.jsonl")
    assert caught.value.parameter == "destination"


def test_rerun_replaces_the_file(tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    day_of_captures(capture, {3: [record(1, 200)]})
    compact(capture, tmp_path / "out" / "day.jsonl")
    write_partition(capture / "03b.jsonl", [record(2, 201)], start=180, end=240)
    assert compact(capture, tmp_path / "out" / "day.jsonl")["count"] == 2
    assert [row["message_id"] for row in read_jsonl(tmp_path / "out" / "day.jsonl")] == [1, 2]
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["day.jsonl"]

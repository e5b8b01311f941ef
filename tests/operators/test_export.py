"""ExportSentMessagesOperator: windows, formats, truncation, masking, atomic and idempotent writes."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pendulum
import pytest

from airflow_provider_octopods.exceptions import OctopodsTruncatedExportError, OctopodsValidationError
from airflow_provider_octopods.operators.export import ExportSentMessagesOperator
from airflow_provider_octopods.utils import records as records_module
from airflow_provider_octopods.utils.records import FIELDS, mask_phone
from tests.data.doc_responses import LISTING_ARRAY, LISTING_OBJECT
from tests.keys import assert_no_key

if TYPE_CHECKING:
    from tests.canned_server import CannedServer

LISTING = "/api/v1/whatsapp/messages"
DAY = {
    "data_interval_start": pendulum.datetime(2026, 4, 24),
    "data_interval_end": pendulum.datetime(2026, 4, 25),
}


def export(destination: Path | str, context: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    operator = ExportSentMessagesOperator(task_id="export", destination=str(destination), **kwargs)
    return operator.execute(context if context is not None else DAY)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def item(message_id: int, created_at: str, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "status": "delivered",
        "phone_number": "+15551234567",
        "sent_at": created_at,
        **fields,
    }


@pytest.mark.parametrize("listing", [LISTING_ARRAY, LISTING_OBJECT], ids=["array", "object"])
def test_both_listing_shapes_give_the_same_schema(
    octopods_conn: CannedServer, tmp_path: Path, listing: str
) -> None:
    octopods_conn.add("GET", LISTING, 200, listing)
    result = export(tmp_path / "out.jsonl")
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert result["count"] == len(rows) == 2
    assert all(list(row) == list(FIELDS) for row in rows)
    assert [row["created_at"] for row in rows] == sorted(row["created_at"] for row in rows)
    assert octopods_conn.requests[0].query == {"limit": "100"}


def test_records_of_the_documented_listing(octopods_conn: CannedServer, tmp_path: Path) -> None:
    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    result = export(tmp_path / "day.jsonl")
    first, second = read_jsonl(tmp_path / "day.jsonl")
    assert {key: first[key] for key in FIELDS if key != "exported_at"} == {
        "message_id": 98764,
        "channel": "whatsapp",
        "phone_number": "+14155551234",
        "created_at": "2026-04-24T12:30:10Z",
        "message_content": "Your verification code is 482910.",
        "status": "FAILED",
        "failure_code": 470,
        "failure_reason": "Re-engagement window expired",
    }
    assert second["message_id"] == 98765
    assert second["message_content"] == "Hi Alex — your order is on the way!"
    assert (second["failure_code"], second["failure_reason"]) == (None, None)
    assert dt.datetime.fromisoformat(second["exported_at"].replace("Z", "+00:00")).tzinfo is not None
    assert result == {
        "path": f"file://{tmp_path}/day.jsonl",
        "count": 2,
        "window_start": "2026-04-24T00:00:00Z",
        "window_end": "2026-04-25T00:00:00Z",
        "truncated": False,
    }


def test_window_edges_start_included_end_excluded(octopods_conn: CannedServer, tmp_path: Path) -> None:
    octopods_conn.add(
        "GET",
        LISTING,
        200,
        {
            "messages": [
                item(5, "2026-04-25T00:00:00Z"),  # == end: excluded
                item(4, "2026-04-24T23:59:59.999Z"),  # just inside
                item(3, "2026-04-24T00:00:00Z"),  # == start: included
                item(2, "2026-04-23T23:59:59Z"),  # before: excluded
                item(6, "2026-04-24T00:00:00Z"),  # same instant as 3: ordered by id
            ]
        },
    )
    export(tmp_path / "w.jsonl")
    assert [row["message_id"] for row in read_jsonl(tmp_path / "w.jsonl")] == [3, 6, 4]


def test_explicit_templated_window_and_half_open_windows(octopods_conn: CannedServer, tmp_path: Path) -> None:
    octopods_conn.add(
        "GET", LISTING, 200, {"messages": [item(2, "2026-04-24T10:00:00Z"), item(1, "2026-04-24T08:00:00Z")]}
    )
    # A bound left out defaults to the data interval's...
    result = export(tmp_path / "a.jsonl", start="2026-04-24T09:00:00+00:00", end=None)
    assert (result["count"], result["window_start"], result["window_end"]) == (
        1,
        "2026-04-24T09:00:00Z",
        "2026-04-25T00:00:00Z",
    )
    result = export(tmp_path / "b.jsonl", end=dt.datetime(2026, 4, 24, 9))
    assert [row["message_id"] for row in read_jsonl(tmp_path / "b.jsonl")] == [1]
    assert result["window_start"] == "2026-04-24T00:00:00Z"
    # ... and is open when the run has no real interval (a manual run, schedule=None).
    result = export(tmp_path / "c.jsonl", {}, start="2026-04-24T09:00:00Z")
    nine = "2026-04-24T09:00:00Z"
    assert (result["count"], result["window_start"], result["window_end"]) == (1, nine, None)
    result = export(tmp_path / "d.jsonl", {}, end=nine)
    assert (result["count"], result["window_start"], result["window_end"]) == (1, None, nine)


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"data_interval_start": None, "data_interval_end": None},
        {
            "data_interval_start": pendulum.datetime(2026, 4, 24),
            "data_interval_end": pendulum.datetime(2026, 4, 24),
        },
    ],
    ids=["no-interval", "none", "zero-width"],
)
def test_no_window_exports_everything(
    octopods_conn: CannedServer, tmp_path: Path, context: dict[str, Any]
) -> None:
    octopods_conn.add("GET", LISTING, 200, LISTING_OBJECT)
    result = export(tmp_path / "all.jsonl", context)
    assert (result["count"], result["window_start"], result["window_end"]) == (2, None, None)


def serve_full_listing(canned: CannedServer, newest: str, *, every_minutes: int) -> None:
    """A listing of the 100-message maximum, newest first (UTC), one message every few minutes."""
    latest = dt.datetime.fromisoformat(newest).replace(tzinfo=dt.UTC)
    step = dt.timedelta(minutes=every_minutes)
    messages = [item(1000 - n, (latest - n * step).isoformat()) for n in range(100)]
    canned.add("GET", LISTING, 200, {"messages": messages})


def test_truncation_warns_and_names_the_gap(
    octopods_conn: CannedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # 100 messages, one every 5 minutes, all within the day: the day's earlier messages fell off.
    serve_full_listing(octopods_conn, "2026-04-24T23:00", every_minutes=5)
    result = export(tmp_path / "t.jsonl")
    assert result["truncated"] is True
    assert result["count"] == 100
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert "may be missing" in logged
    assert "between 2026-04-24T00:00:00Z and 2026-04-24T14:45:00Z" in logged
    assert "more often" in logged


def test_truncation_fail_leaves_the_previous_file(octopods_conn: CannedServer, tmp_path: Path) -> None:
    target = tmp_path / "t.jsonl"
    target.write_text("previous\n")
    serve_full_listing(octopods_conn, "2026-04-24T23:00", every_minutes=5)
    with pytest.raises(OctopodsTruncatedExportError, match="may be missing"):
        export(target, on_truncation="fail")
    assert target.read_text() == "previous\n"


def test_full_listing_newer_than_the_whole_window_is_truncated(
    octopods_conn: CannedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Exported late: the newest 100 messages all came after the interval, so none of it is listed.
    serve_full_listing(octopods_conn, "2026-04-26T12:00", every_minutes=5)
    result = export(tmp_path / "late.jsonl")
    assert (result["count"], result["truncated"]) == (0, True)
    logged = caplog.text + "".join(capfd.readouterr())
    assert "is newer than the whole export window" in logged
    assert "between 2026-04-24T00:00:00Z and 2026-04-25T00:00:00Z" in logged


def test_full_listing_reaching_back_past_the_window_is_not_truncated(
    octopods_conn: CannedServer, tmp_path: Path
) -> None:
    serve_full_listing(octopods_conn, "2026-04-24T12:00", every_minutes=30)
    assert export(tmp_path / "t.jsonl")["truncated"] is False


def test_empty_channel_writes_an_empty_file(octopods_conn: CannedServer, tmp_path: Path) -> None:
    octopods_conn.add("GET", LISTING, 400, {"error_code": 2, "error": "Resource Not Found"})
    result = export(tmp_path / "empty.jsonl")
    assert (tmp_path / "empty.jsonl").read_bytes() == b""
    assert (result["count"], result["truncated"]) == (0, False)
    export(tmp_path / "empty.csv", file_format="csv")
    assert list(csv.DictReader(io.StringIO((tmp_path / "empty.csv").read_text()))) == []


def test_rerun_replaces_the_file(octopods_conn: CannedServer, tmp_path: Path) -> None:
    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    export(tmp_path / "r.jsonl")
    first = read_jsonl(tmp_path / "r.jsonl")
    export(tmp_path / "r.jsonl")
    second = read_jsonl(tmp_path / "r.jsonl")
    assert [row["message_id"] for row in second] == [row["message_id"] for row in first]
    assert len(second) == 2
    # no temporary left: the file and its manifest
    assert sorted(path.name for path in tmp_path.iterdir()) == ["r.jsonl", "r.jsonl.manifest.json"]


def test_csv_quoting_and_non_ascii(octopods_conn: CannedServer, tmp_path: Path) -> None:
    tricky = 'Hi "Zoë", your order, #12\nships today — 東京 ✓'
    octopods_conn.add(
        "GET",
        LISTING,
        200,
        [
            {
                "user_phone_number": "+14155552671",
                "created_at": "2026-04-24T10:00:00Z",
                "message_content": tricky,
                "message_status": {"channel_message_id": 7, "message_status": "SENT", "failure_reason": ""},
            }
        ],
    )
    export(tmp_path / "q.csv", file_format="csv")
    raw = (tmp_path / "q.csv").read_bytes().decode("utf-8")
    assert raw.splitlines()[0] == ",".join(FIELDS)
    (row,) = list(csv.DictReader(io.StringIO(raw, newline="")))
    assert row["message_content"] == tricky
    assert row["failure_code"] == ""


def test_gzip_when_the_destination_ends_in_gz(octopods_conn: CannedServer, tmp_path: Path) -> None:
    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    export(tmp_path / "z.jsonl.gz")
    lines = gzip.decompress((tmp_path / "z.jsonl.gz").read_bytes()).decode().splitlines()
    assert [json.loads(line)["message_id"] for line in lines] == [98764, 98765]


def test_mask_pii(octopods_conn: CannedServer, tmp_path: Path) -> None:
    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    export(tmp_path / "m.jsonl", mask_pii=True)
    export(tmp_path / "m.csv", file_format="csv", mask_pii=True)
    rows = read_jsonl(tmp_path / "m.jsonl")
    assert [row["phone_number"] for row in rows] == ["+1********34", "+1********71"]
    assert all("message_content" not in row for row in rows)
    text = (tmp_path / "m.jsonl").read_text() + (tmp_path / "m.csv").read_text()
    assert "482910" not in text
    assert "4155551234" not in text
    assert "message_content" not in (tmp_path / "m.csv").read_text().splitlines()[0]


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+14155552671", "+1********71"),
        ("+447700900123", "+44********23"),
        ("+353838000000", "+353*******00"),
        ("+79161234567", "+7********67"),
        ("+5511987654321", "+55*********21"),
        (None, None),
    ],
)
def test_mask_phone_keeps_the_country_code(phone: str | None, masked: str | None) -> None:
    assert mask_phone(phone) == masked


def test_failure_mid_write_leaves_the_previous_file(
    octopods_conn: CannedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "keep.jsonl"
    target.write_text('{"previous": true}\n')
    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    real = records_module.json.dumps
    calls = []

    def explode_on_second(value: Any, **kwargs: Any) -> str:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(value, **kwargs)

    monkeypatch.setattr(records_module.json, "dumps", explode_on_second)
    with pytest.raises(OSError, match="disk full"):
        export(target)
    assert target.read_text() == '{"previous": true}\n'
    assert sorted(path.name for path in tmp_path.iterdir()) == ["keep.jsonl"]


def test_no_key_in_the_output_or_result(octopods_conn: CannedServer, tmp_path: Path) -> None:
    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    result = export(tmp_path / "k.jsonl")
    assert_no_key(result, (tmp_path / "k.jsonl").read_text())


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"file_format": "xml"}, "file_format"),
        ({"on_truncation": "ignore"}, "on_truncation"),
        ({"mask_pii": "yes"}, "mask_pii"),
        ({"destination": ""}, "destination"),
        ({"destination": "/tmp/folder/"}, "destination"),
    ],
)
def test_bad_arguments_when_built(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(OctopodsValidationError) as caught:
        ExportSentMessagesOperator(task_id="e", **{"destination": "/tmp/x.jsonl", **kwargs})
    assert caught.value.parameter == parameter


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"start": "yesterday"}, "start"),
        ({"start": "2026-04-25T00:00:00Z", "end": "2026-04-24T00:00:00Z"}, "start"),
    ],
)
def test_bad_arguments_before_any_request(
    octopods_conn: CannedServer, kwargs: dict[str, Any], parameter: str
) -> None:
    operator = ExportSentMessagesOperator(task_id="e", **{"destination": "/tmp/x.jsonl", **kwargs})
    with pytest.raises(OctopodsValidationError) as caught:
        operator.execute(DAY)
    assert caught.value.parameter == parameter
    assert octopods_conn.requests == []


# -- the format follows the file; destination mistakes name `destination` ------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("day.csv", "csv"), ("day.csv.gz", "csv"), ("day.jsonl", "jsonl"), ("day.jsonl.gz", "jsonl")],
)
def test_the_suffix_decides_the_format(
    octopods_conn: CannedServer, tmp_path: Path, name: str, expected: str
) -> None:
    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    export(tmp_path / name)
    raw = (tmp_path / name).read_bytes()
    text = (gzip.decompress(raw) if name.endswith(".gz") else raw).decode()
    if expected == "csv":
        assert text.splitlines()[0].split(",") == list(FIELDS)
    else:
        assert [json.loads(line)["message_id"] for line in text.splitlines()] == [98764, 98765]


def test_a_destination_without_a_known_suffix_is_json_lines(
    octopods_conn: CannedServer, tmp_path: Path
) -> None:
    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    export(tmp_path / "day.json")
    assert len(read_jsonl(tmp_path / "day.json")) == 2


@pytest.mark.parametrize(
    ("destination", "file_format"),
    [("/data/day.csv", "jsonl"), ("/data/day.jsonl.gz", "csv"), ("s3://bucket/day.csv", "jsonl")],
)
def test_a_format_that_contradicts_the_suffix_fails_when_the_dag_is_parsed(
    destination: str, file_format: str
) -> None:
    with pytest.raises(OctopodsValidationError, match="contradicts the destination") as caught:
        ExportSentMessagesOperator(task_id="e", destination=destination, file_format=file_format)
    assert caught.value.parameter == "file_format"
    assert file_format in str(caught.value)
    assert destination in str(caught.value)


def test_a_templated_destination_is_checked_when_rendered(octopods_conn: CannedServer) -> None:
    operator = ExportSentMessagesOperator(
        task_id="e", destination="{{ var.value.root }}/day.csv", file_format="jsonl"
    )
    operator.destination = "/data/day.csv"  # what rendering gives
    with pytest.raises(OctopodsValidationError, match="contradicts") as caught:
        operator.execute(DAY)
    assert caught.value.parameter == "file_format"
    assert octopods_conn.requests == []


@pytest.mark.parametrize(
    "destination", ["exports/day.jsonl", "./day.jsonl", "file://exports/day.jsonl", "day.csv"]
)
def test_a_relative_path_is_refused_when_the_dag_is_parsed(destination: str) -> None:
    with pytest.raises(OctopodsValidationError, match="relative path") as caught:
        ExportSentMessagesOperator(task_id="e", destination=destination)
    assert caught.value.parameter == "destination"


@pytest.mark.parametrize("destination", ["s4://bucket/day.jsonl", "nosuchfs://bucket/day.jsonl"])
def test_an_unknown_scheme_names_destination_before_any_request(
    octopods_conn: CannedServer, destination: str
) -> None:
    operator = ExportSentMessagesOperator(task_id="e", destination=destination)
    with pytest.raises(OctopodsValidationError, match="no installed filesystem") as caught:
        operator.execute(DAY)
    assert caught.value.parameter == "destination"
    assert octopods_conn.requests == []


@pytest.mark.parametrize("named", [None, "named_storage"], ids=["no-connection", "own-connection"])
def test_a_path_destination_and_a_storage_connection(
    octopods_conn: CannedServer, tmp_path: Path, named: str | None
) -> None:
    """An ObjectStoragePath destination keeps its own connection, else takes storage_conn_id."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_octopods.utils.destinations import _conn_id_of, resolve_destination

    octopods_conn.add("GET", LISTING, 200, LISTING_ARRAY)
    destination = ObjectStoragePath(f"file://{tmp_path}/p.jsonl", conn_id=named)
    assert _conn_id_of(resolve_destination(destination, "local_storage")) == (named or "local_storage")
    operator = ExportSentMessagesOperator(
        task_id="export", destination=destination, storage_conn_id="local_storage"
    )
    assert operator.execute(DAY)["count"] == len(read_jsonl(tmp_path / "p.jsonl")) == 2

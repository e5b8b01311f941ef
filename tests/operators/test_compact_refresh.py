"""The compaction reads statuses that may still change again: one listing, then the status endpoint."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_octopods.exceptions import OctopodsAuthError
from airflow_provider_octopods.operators.compact import CompactSentMessagesOperator
from airflow_provider_octopods.utils.records import STATUS_FIELDS
from tests.history_helpers import DAY, at, iso, read_jsonl, record, write_partition

if TYPE_CHECKING:
    from tests.canned_server import CannedServer

LISTING = "/api/v1/whatsapp/messages"


def status_body(message_id: int, status: str, **fields: Any) -> dict[str, Any]:
    return {"request_id": "r", "message_id": message_id, "status": status, **fields}


def captured_day(tmp_path: Path, canned: CannedServer, rows: list[dict[str, Any]]) -> Path:
    """One capture covering the whole day, exported through the canned server's host."""
    capture = tmp_path / "capture"
    write_partition(capture / "day.jsonl", rows, start=0, end=24 * 60, api_host=f"127.0.0.1:{canned.port}")
    return capture


def compact(capture: Path, destination: Path) -> dict[str, Any]:
    operator = CompactSentMessagesOperator(
        task_id="compact",
        source=str(capture),
        destination=str(destination),
        start=iso(DAY),
        end=iso(at(24 * 60)),
    )
    return operator.execute({})


def test_listing_first_then_the_status_endpoint_for_the_rest(
    octopods_conn: CannedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    rows = [
        record(1, 10, "SENT"),
        record(2, 20, "DELIVERED"),
        record(3, 30, "SENT"),
        record(4, 40, "READ"),  # final: left alone
        record(5, 50, "FAILED", failure_code=470, failure_reason="Re-engagement window expired"),
        record(6, 60, "UNKNOWN"),
        record(7, 70, "QUEUED"),
    ]
    capture = captured_day(tmp_path, octopods_conn, rows)
    octopods_conn.add(
        "GET",
        LISTING,
        200,
        {
            "messages": [
                {"message_id": 2, "status": "read", "phone_number": "+14155552671", "sent_at": iso(at(20))},
                {
                    "message_id": 1,
                    "status": "failed",
                    "phone_number": "+14155552671",
                    "sent_at": iso(at(10)),
                    "failure_reason": "Recipient is not a WhatsApp user.",
                },
            ]
        },
    )
    octopods_conn.add("GET", f"{LISTING}/3", 200, status_body(3, "READ"))
    octopods_conn.add("GET", f"{LISTING}/6", 404, {"error_code": 404, "error": "Message not found"})
    octopods_conn.add("GET", f"{LISTING}/7", 200, status_body(7, "DELIVERED"))
    before = time.time()
    result = compact(capture, tmp_path / "day.jsonl")
    out = {row["message_id"]: row for row in read_jsonl(tmp_path / "day.jsonl")}
    assert octopods_conn.requests[0].path == LISTING
    assert sorted(request.path for request in octopods_conn.requests[1:]) == [
        f"{LISTING}/3",
        f"{LISTING}/6",
        f"{LISTING}/7",
    ]
    assert {i: out[i]["status"] for i in out} == {
        1: "FAILED",
        2: "READ",
        3: "READ",
        4: "READ",
        5: "FAILED",
        6: "UNKNOWN",
        7: "DELIVERED",
    }
    assert out[1]["failure_reason"] == "Recipient is not a WhatsApp user."
    assert result["refreshed"] == 4
    for message_id in (1, 2, 3, 7):  # the time of the read
        checked = dt.datetime.fromisoformat(out[message_id]["status_checked_at"].replace("Z", "+00:00"))
        assert before <= checked.timestamp() <= time.time()
    for message_id in (4, 5, 6):  # final ones, and the one Octopods no longer knows, keep theirs
        assert out[message_id]["status_checked_at"] is None
    for message_id, original in zip(range(1, 8), rows, strict=True):
        unchanged = {key: value for key, value in original.items() if key not in STATUS_FIELDS}
        assert {key: out[message_id][key] for key in unchanged} == unchanged  # only status fields change
    logged = caplog.text + "".join(capfd.readouterr())
    assert "no longer known to Octopods (404)" in logged
    assert "6" in logged


def test_an_auth_error_fails_the_task_and_writes_nothing(octopods_conn: CannedServer, tmp_path: Path) -> None:
    capture = captured_day(tmp_path, octopods_conn, [record(1, 10, "SENT"), record(2, 20, "SENT")])
    octopods_conn.add("GET", LISTING, 200, [])
    octopods_conn.add("GET", f"{LISTING}/1", 401, {"error_code": 401, "error": "Unauthorized"})
    octopods_conn.add("GET", f"{LISTING}/2", 401, {"error_code": 401, "error": "Unauthorized"})
    with pytest.raises(OctopodsAuthError):
        compact(capture, tmp_path / "day.jsonl")
    assert not (tmp_path / "day.jsonl").exists()


def test_a_429_pauses_and_never_fails(octopods_conn: CannedServer, tmp_path: Path) -> None:
    capture = captured_day(tmp_path, octopods_conn, [record(1, 10, "SENT")])
    octopods_conn.add(
        "GET", LISTING, 429, {"error_code": 429, "error": "slow down"}, headers={"Retry-After": "1"}
    )
    octopods_conn.add("GET", LISTING, 200, [])
    octopods_conn.add(
        "GET", f"{LISTING}/1", 429, {"error_code": 429, "error": "slow"}, headers={"Retry-After": "1"}
    )
    octopods_conn.add("GET", f"{LISTING}/1", 200, status_body(1, "READ"))
    started = time.monotonic()
    result = compact(capture, tmp_path / "day.jsonl")
    assert result["refreshed"] == 1
    assert read_jsonl(tmp_path / "day.jsonl")[0]["status"] == "READ"
    assert time.monotonic() - started >= 1.5  # it waited out both retry times
    assert [request.path for request in octopods_conn.requests] == [
        LISTING,
        LISTING,
        f"{LISTING}/1",
        f"{LISTING}/1",
    ]


def test_status_requests_are_bounded_in_flight(octopods_conn: CannedServer, tmp_path: Path) -> None:
    rows = [record(message_id, message_id, "SENT") for message_id in range(1, 41)]
    capture = captured_day(tmp_path, octopods_conn, rows)
    octopods_conn.add("GET", LISTING, 200, [])
    for message_id in range(1, 41):
        octopods_conn.add("GET", f"{LISTING}/{message_id}", 200, status_body(message_id, "READ"), delay=0.2)
    started = time.monotonic()
    assert compact(capture, tmp_path / "day.jsonl")["refreshed"] == 40
    assert 1 < octopods_conn.max_in_flight <= 16
    assert time.monotonic() - started < 40 * 0.2  # concurrent, not one after the other
    peers = {request.peer for request in octopods_conn.requests}
    assert len(peers) <= 16  # one shared, pooled session

"""Capture partitions built by hand (data file + manifest), for tests that need exact coverage."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from pathlib import Path
from typing import Any

from airflow_provider_octopods.utils.manifest import Manifest
from airflow_provider_octopods.utils.records import FIELDS, write_records

DAY = dt.datetime(2026, 4, 24, tzinfo=dt.UTC)
EXPORTED = DAY + dt.timedelta(days=1, minutes=5)


def at(minutes: float) -> dt.datetime:
    """``minutes`` after the start of :data:`DAY`."""
    return DAY + dt.timedelta(minutes=minutes)


def iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def record(
    message_id: int,
    minutes: float,
    status: str = "READ",
    *,
    exported_at: dt.datetime = EXPORTED,
    phone: str = "+14155552671",
    **fields: Any,
) -> dict[str, Any]:
    """An export row of a message created ``minutes`` into the day."""
    row: dict[str, Any] = {
        "message_id": message_id,
        "channel": "whatsapp",
        "phone_number": phone,
        "created_at": iso(at(minutes)),
        "message_content": f"hello {message_id}",
        "status": status,
        "failure_code": None,
        "failure_reason": None,
        "exported_at": iso(exported_at),
    }
    row.update(fields)
    return row


def write_partition(
    path: Path,
    records: list[dict[str, Any]],
    *,
    start: float | None,
    end: float | None,
    truncated: bool = False,
    oldest: float | None = None,
    exported_at: dt.datetime = EXPORTED,
    conn_id: str = "octopods_default",
    api_host: str = "app.octopods.io",
    file_format: str | None = None,
    manifest: bool = True,
) -> Path:
    """A data file at ``path`` (format from its suffix) and, unless told not to, its manifest."""
    name = path.name.removesuffix(".gz")
    chosen = file_format or (
        "csv" if name.endswith(".csv") else "parquet" if name.endswith(".parquet") else "jsonl"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fields = (
        FIELDS if all("status_checked_at" not in row for row in records) else (*FIELDS, "status_checked_at")
    )
    write_records(buffer, records, chosen, mask_pii=False, fields=fields)
    raw = buffer.getvalue()
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)
    if manifest:
        dated = [row["created_at"] for row in records if row.get("created_at")]
        Path(f"{path}.manifest.json").write_bytes(
            Manifest(
                window_start=iso(None if start is None else at(start)),
                window_end=iso(None if end is None else at(end)),
                count=len(records),
                truncated=truncated,
                oldest_listed=iso(at(oldest)) if oldest is not None else (min(dated) if dated else None),
                newest_listed=max(dated) if dated else None,
                exported_at=iso(exported_at) or "",
                file_format=chosen,
                octopods_conn_id=conn_id,
                api_host=api_host,
            ).to_json()
        )
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

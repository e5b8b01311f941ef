"""
The export record: one flat, JSON-native row per sent message, the same for both listing shapes.

Also PII masking and the file formats (JSON Lines, CSV and, through :mod:`.parquet`, Parquet),
written to a binary stream so the caller decides where the bytes go (a temporary object, gzip, ...).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Sequence
from typing import IO, Any

from airflow_provider_octopods.models import SentMessage, format_timestamp
from airflow_provider_octopods.utils.phones import mask_phone

__all__ = [
    "COLUMN_TYPES",
    "FIELDS",
    "FORMATS",
    "HISTORY_FIELDS",
    "STATUS_FIELDS",
    "columns_of",
    "columns_written",
    "mask_phone",
    "to_record",
    "write_records",
]

#: Column order of every export (CSV header, JSON key order).
FIELDS = (
    "message_id",
    "channel",
    "phone_number",
    "created_at",
    "message_content",
    "status",
    "failure_code",
    "failure_reason",
    "exported_at",
)
#: The record of a compacted history: the export's, plus when its status was last read again (null
#: when it never was). Parquet files of both operators have these columns.
HISTORY_FIELDS = (*FIELDS, "status_checked_at")
#: The fields a status refresh may change; the rest of a record is what the capture saw.
STATUS_FIELDS = ("status", "failure_code", "failure_reason", "status_checked_at")
#: Each column's type, as lineage (the OpenLineage schema facet) reports it: what the Parquet schema
#: stores, while the text formats write the times as ISO 8601 UTC strings.
COLUMN_TYPES = {
    "message_id": "integer",
    "channel": "string",
    "phone_number": "string",
    "created_at": "timestamp",
    "message_content": "string",
    "status": "string",
    "failure_code": "integer",
    "failure_reason": "string",
    "exported_at": "timestamp",
    "status_checked_at": "timestamp",
}
FORMATS = ("jsonl", "csv", "parquet")


def columns_of(fields: Sequence[str], *, mask_pii: bool) -> list[str]:
    """The columns written: ``fields`` without ``message_content`` when masking."""
    return [name for name in fields if not (mask_pii and name == "message_content")]


def columns_written(file_format: str, fields: Sequence[str], *, mask_pii: bool) -> list[str]:
    """
    The columns of a file written with :func:`write_records`: ``fields`` in the text formats, the
    full schema (:data:`HISTORY_FIELDS`) in Parquet, without ``message_content`` when masking.
    """
    return columns_of(HISTORY_FIELDS if file_format == "parquet" else fields, mask_pii=mask_pii)


def to_record(message: SentMessage, *, exported_at: dt.datetime, mask_pii: bool) -> dict[str, Any]:
    """The export row of one listing item (``message_content`` is left out when masking)."""
    record: dict[str, Any] = {
        "message_id": message.message_id,
        "channel": message.channel.value,
        "phone_number": mask_phone(message.phone_number) if mask_pii else message.phone_number,
        "created_at": format_timestamp(message.created_at),
        "message_content": message.message_content,
        "status": message.status.value,
        "failure_code": message.failure_code,
        "failure_reason": message.failure_reason,
        "exported_at": format_timestamp(exported_at),
    }
    if mask_pii:
        del record["message_content"]
    return record


def write_records(
    stream: IO[bytes],
    records: Iterable[dict[str, Any]],
    file_format: str,
    *,
    mask_pii: bool,
    fields: Sequence[str] = FIELDS,
) -> int:
    """
    Write ``records`` to a binary stream as UTF-8 JSON Lines, CSV or Parquet; return how many were
    written.

    CSV always has a header (so an empty window still yields a loadable file) and quotes fields
    with commas, quotes or line breaks; JSON Lines keeps non-ASCII text as is. ``fields`` are the
    CSV columns (the export's :data:`FIELDS`, or :data:`HISTORY_FIELDS` for a compaction); Parquet
    always has the full typed schema of :mod:`.parquet`.
    """
    if file_format == "parquet":
        from airflow_provider_octopods.utils.parquet import write_parquet

        return write_parquet(stream, records, mask_pii=mask_pii)
    text = io.TextIOWrapper(
        stream, encoding="utf-8", newline="" if file_format == "csv" else None, write_through=True
    )
    count = 0
    try:
        if file_format == "csv":
            columns = columns_of(fields, mask_pii=mask_pii)
            writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\r\n", extrasaction="raise")
            writer.writeheader()
            for record in records:
                writer.writerow(record)
                count += 1
        else:
            for record in records:
                text.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
                text.write("\n")
                count += 1
        text.flush()
    finally:
        text.detach()  # leave the underlying stream open: the caller owns it
    return count

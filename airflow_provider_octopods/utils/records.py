"""
The export record: one flat, JSON-native row per sent message, the same for both listing shapes.

Also PII masking and the two file formats (JSON Lines and CSV), written to a binary stream so the
caller decides where the bytes go (a temporary object, gzip, ...).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from typing import IO, Any

from airflow_provider_octopods.models import SentMessage, format_timestamp
from airflow_provider_octopods.utils.phones import mask_phone

__all__ = ["FIELDS", "FORMATS", "mask_phone", "to_record", "write_records"]

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
FORMATS = ("jsonl", "csv")


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
    stream: IO[bytes], records: Iterable[dict[str, Any]], file_format: str, *, mask_pii: bool
) -> int:
    """
    Write ``records`` to a binary stream as UTF-8 JSON Lines or CSV; return how many were written.

    CSV always has a header (so an empty window still yields a loadable file) and quotes fields
    with commas, quotes or line breaks; JSON Lines keeps non-ASCII text as is.
    """
    text = io.TextIOWrapper(
        stream, encoding="utf-8", newline="" if file_format == "csv" else None, write_through=True
    )
    count = 0
    try:
        if file_format == "csv":
            columns = [name for name in FIELDS if not (mask_pii and name == "message_content")]
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

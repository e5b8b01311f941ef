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

# ITU-T E.164 country calling codes: "1" and "7" are one digit, these are two, all others three.
_TWO_DIGIT_CODES = frozenset(
    {"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47"}
    | {"48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65"}
    | {"66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98"}
)


def _country_code(digits: str) -> str:
    if digits[:1] in ("1", "7"):
        return digits[:1]
    if digits[:2] in _TWO_DIGIT_CODES:
        return digits[:2]
    return digits[:3]


def mask_phone(phone: str | None) -> str | None:
    """
    Keep the ``+``, the country calling code and the last two digits: ``+14155552671`` ->
    ``+1********71``. Enough to tell countries and spot duplicates, not enough to call anyone.
    """
    if not phone:
        return phone
    digits = "".join(char for char in phone if char.isdigit())
    if len(digits) <= 4:
        return "*" * len(phone)
    code = _country_code(digits)
    return f"+{code}{'*' * (len(digits) - len(code) - 2)}{digits[-2:]}"


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

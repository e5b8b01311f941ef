"""
The records of one capture partition, read back into the export's JSON-native record form.

Every format an export writes reads back to the same dicts: ``message_id`` and ``failure_code`` as
integers, times as ISO 8601 UTC strings, empty CSV cells as None, and ``message_content`` None when
the partition was exported with ``mask_pii`` (it has no such column). Anything that is not such a
file (corrupt gzip, a line that is not JSON, a missing column, a time that is not a time, unreadable
Parquet) is an :class:`~airflow_provider_octopods.exceptions.OctopodsPartitionError` naming the
object: a compaction never writes a history from a partition it could only half read.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_octopods.exceptions import OctopodsPartitionError
from airflow_provider_octopods.models import DeliveryStatus, format_timestamp, parse_timestamp
from airflow_provider_octopods.utils.destinations import format_of_name
from airflow_provider_octopods.utils.records import FIELDS, HISTORY_FIELDS

if TYPE_CHECKING:
    from airflow_provider_octopods.utils.partitions import Partition

__all__ = ["REQUIRED_COLUMNS", "read_partition"]

#: Columns every partition must have (``message_content`` is absent from masked exports, and
#: ``status_checked_at`` from the export's text formats).
REQUIRED_COLUMNS = tuple(name for name in FIELDS if name != "message_content")
_TIMES = ("created_at", "exported_at", "status_checked_at")


class _BadRowError(ValueError):
    """One row is not a record; the caller says which partition and row."""


def read_partition(fs: Any, partition: Partition) -> tuple[list[dict[str, Any]], bool]:
    """
    Every record of ``partition``, checked and normalised, and whether it was exported with
    ``mask_pii`` (it has records but no ``message_content``); a bad file fails, naming it.
    """
    file_format = partition.manifest.file_format
    by_name = format_of_name(partition.location.rsplit("/", 1)[-1])
    if by_name is not None and by_name != file_format:
        raise _unreadable(partition, f"its manifest says {file_format}, but its name says {by_name}")
    row_number = 0
    try:
        with contextlib.ExitStack() as stack:
            stream: Any = stack.enter_context(fs.open(partition.location, "rb"))
            if partition.gzipped:
                stream = stack.enter_context(gzip.GzipFile(fileobj=stream, mode="rb"))
            columns, rows = _rows(stream, file_format)
            missing = [name for name in REQUIRED_COLUMNS if name not in columns]
            if missing:
                raise _BadRowError(f"it has no column {', '.join(missing)}")
            records = []
            for row in rows:
                row_number += 1
                records.append(_record(row))
            masked = bool(records) and "message_content" not in columns
    except OctopodsPartitionError:
        raise
    except _BadRowError as error:
        where = f"row {row_number}: " if row_number else ""
        raise _unreadable(partition, f"{where}{error}") from None
    except Exception as error:  # gzip, JSON, CSV, pyarrow and filesystem errors alike
        where = f" near row {row_number + 1}" if row_number else ""
        raise _unreadable(partition, f"{type(error).__name__}{where}: {error}") from None
    return records, masked


def _unreadable(partition: Partition, problem: str) -> OctopodsPartitionError:
    return OctopodsPartitionError(
        f"Cannot read the capture partition {partition.uri} ({partition.manifest.file_format}"
        f"{', gzip' if partition.gzipped else ''}): {problem}. Nothing was written. Remove it (with its "
        "manifest) or re-run the export task of its interval, then retry.",
        partition=partition.uri,
    )


def _rows(stream: IO[bytes], file_format: str) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """The columns of the file and its rows, as each format holds them."""
    if file_format == "parquet":
        from airflow_provider_octopods.utils.parquet import read_parquet

        return read_parquet(stream)
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="" if file_format == "csv" else None)
    if file_format == "csv":
        reader = csv.DictReader(text)
        return list(reader.fieldnames or []), (_from_csv(row) for row in reader)
    rows = _json_lines(text)
    first = next(rows, None)
    if first is None:
        return list(REQUIRED_COLUMNS), iter(())
    return list(first), _chain(first, rows)


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    for row in rest:
        missing = [name for name in REQUIRED_COLUMNS if name not in row]
        if missing:
            raise _BadRowError(f"it has no {', '.join(missing)}")
        yield row


def _json_lines(text: IO[str]) -> Iterator[dict[str, Any]]:
    for line in text:
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row, dict):
            raise _BadRowError(f"expected a JSON object, got {type(row).__name__}")
        yield row


def _from_csv(row: dict[str, Any]) -> dict[str, Any]:
    """CSV cells are text, and an empty cell is what the export wrote for None."""
    return {name: (value if value != "" else None) for name, value in row.items()}


def _integer(value: Any, name: str, *, required: bool) -> int | None:
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise _BadRowError(f"{name} is {value!r}, not an integer")


def _text(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _BadRowError(f"{name} is {value!r}, not text")


def _time(value: Any, name: str) -> str | None:
    if value is None:
        return None
    moment = parse_timestamp(value) if isinstance(value, str) else None
    if moment is None:
        raise _BadRowError(f"{name} is {value!r}, not an ISO 8601 time")
    return format_timestamp(moment)


def _record(row: dict[str, Any]) -> dict[str, Any]:
    """One row as a history record (the columns of :data:`HISTORY_FIELDS`, in that order)."""
    status = row.get("status")
    if not isinstance(status, str) or DeliveryStatus.parse(status).value != status.strip().upper():
        raise _BadRowError(f"status is {status!r}, not a delivery status")
    record: dict[str, Any] = {
        "message_id": _integer(row.get("message_id"), "message_id", required=True),
        "channel": _text(row.get("channel"), "channel"),
        "phone_number": _text(row.get("phone_number"), "phone_number"),
        "created_at": None,
        "message_content": _text(row.get("message_content"), "message_content"),
        "status": DeliveryStatus.parse(status).value,
        "failure_code": _integer(row.get("failure_code"), "failure_code", required=False),
        "failure_reason": _text(row.get("failure_reason"), "failure_reason"),
        "exported_at": None,
        "status_checked_at": None,
    }
    for name in _TIMES:
        record[name] = _time(row.get(name), name)
    if record["exported_at"] is None:
        raise _BadRowError("exported_at is empty")
    return {name: record[name] for name in HISTORY_FIELDS}

"""
Sent-message records as Parquet: one fixed, typed schema, written in row groups straight into a
binary stream, and read back the same way.

Every Parquet file of this provider (an export, a compaction) has the schema of :func:`schema`, so
daily files concatenate into one dataset without casts. Rows are streamed through
``pyarrow.parquet.ParquetWriter`` in groups of :data:`ROW_GROUP_SIZE`: no pandas, and no buffer of
the whole file. pyarrow is the optional extra ``parquet`` and is imported on first use only, since
DAG files import this package on every parse.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_octopods.models import format_timestamp, parse_timestamp

if TYPE_CHECKING:
    import pyarrow

__all__ = ["ROW_GROUP_SIZE", "TIMESTAMP_FIELDS", "read_parquet", "require_pyarrow", "schema", "write_parquet"]

#: Rows per row group: large enough for good compression, small enough to keep memory flat.
ROW_GROUP_SIZE = 10_000
#: The record fields held as ``timestamp[us, UTC]`` (ISO 8601 strings in the text formats).
TIMESTAMP_FIELDS = ("created_at", "exported_at", "status_checked_at")
INSTALL_HINT = "pip install 'airflow-provider-octopods[parquet]'"


def require_pyarrow() -> None:
    """Fail with ``AirflowOptionalProviderFeatureException`` naming the extra when pyarrow is missing."""
    try:
        import pyarrow.parquet  # noqa: F401 - the check is the import
    except ImportError:
        from airflow.providers.common.compat.sdk import AirflowOptionalProviderFeatureException

        raise AirflowOptionalProviderFeatureException(
            f"Parquet files need pyarrow, which is not installed: {INSTALL_HINT}"
        ) from None


def schema(*, mask_pii: bool) -> pyarrow.Schema:
    """The record schema; ``message_content`` is left out when masking, like in the text formats."""
    import pyarrow as pa

    timestamp = pa.timestamp("us", tz="UTC")
    fields = [
        pa.field("message_id", pa.int64(), nullable=False),
        pa.field("channel", pa.string()),
        pa.field("phone_number", pa.string()),
        pa.field("created_at", timestamp),
        pa.field("message_content", pa.string()),
        pa.field("status", pa.dictionary(pa.int32(), pa.string())),
        pa.field("failure_code", pa.int32()),
        pa.field("failure_reason", pa.string()),
        pa.field("exported_at", timestamp),
        pa.field("status_checked_at", timestamp),
    ]
    return pa.schema([field for field in fields if not (mask_pii and field.name == "message_content")])


def _batch(rows: list[dict[str, Any]], table_schema: pyarrow.Schema) -> pyarrow.RecordBatch:
    """One record batch of JSON-native records (timestamps as ISO 8601 strings)."""
    import pyarrow as pa

    columns = []
    for field in table_schema:
        values = [row.get(field.name) for row in rows]
        if field.name in TIMESTAMP_FIELDS:
            values = [parse_timestamp(value) for value in values]
        if pa.types.is_dictionary(field.type):
            columns.append(pa.array(values, type=pa.string()).dictionary_encode().cast(field.type))
        else:
            columns.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(columns, schema=table_schema)


def write_parquet(stream: IO[bytes], records: Iterable[dict[str, Any]], *, mask_pii: bool) -> int:
    """
    Write ``records`` (the export's JSON-native rows) to a binary stream as Parquet, one row group
    per :data:`ROW_GROUP_SIZE` rows; return how many were written. An empty input still writes a
    valid file with the schema, so an empty window gives a loadable file.
    """
    require_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    table_schema = schema(mask_pii=mask_pii)
    count = 0
    sink = pa.PythonFile(stream, mode="w")
    with pq.ParquetWriter(sink, table_schema, compression="snappy") as writer:
        pending: list[dict[str, Any]] = []
        for record in records:
            pending.append(record)
            if len(pending) == ROW_GROUP_SIZE:
                writer.write_batch(_batch(pending, table_schema))
                count += len(pending)
                pending = []
        if pending or count == 0:
            writer.write_batch(_batch(pending, table_schema))
            count += len(pending)
    return count


def read_parquet(stream: IO[bytes]) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """
    The column names of a Parquet file, and its rows as JSON-native records (timestamps as ISO 8601
    UTC strings), read one row group at a time. pyarrow's own errors propagate for the caller to
    name the object.
    """
    require_pyarrow()
    import pyarrow.parquet as pq

    parquet_file = pq.ParquetFile(stream)
    names = list(parquet_file.schema_arrow.names)

    def rows() -> Iterator[dict[str, Any]]:
        for index in range(parquet_file.num_row_groups):
            for row in parquet_file.read_row_group(index).to_pylist():
                for name in TIMESTAMP_FIELDS:
                    if row.get(name) is not None:
                        row[name] = format_timestamp(row[name])
                yield row

    return names, rows()

"""
A compaction that stops mid-write, for the SIGKILL test: it writes part of the history to the
temporary sibling, says so on stdout, and waits to be killed.

    python -m tests.reliability._compact_child <source> <destination>
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import IO, Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="octopods-compact-child-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def main(source: str, destination: str) -> None:
    from airflow_provider_octopods.operators.compact import CompactSentMessagesOperator
    from airflow_provider_octopods.utils import records

    real_write = records.write_records

    def write_half_then_hang(stream: IO[bytes], rows: Any, file_format: str, **kwargs: Any) -> int:
        rows = list(rows)
        real_write(stream, rows[: len(rows) // 2], file_format, **kwargs)
        stream.flush()
        print("WRITING", flush=True)
        time.sleep(600)  # the parent kills us here
        return 0

    records.write_records = write_half_then_hang  # type: ignore[assignment]
    CompactSentMessagesOperator(
        task_id="compact",
        source=source,
        destination=destination,
        start="2026-04-24T00:00:00Z",
        end="2026-04-25T00:00:00Z",
        refresh_statuses=False,
    ).execute({})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""
An export process that stops mid-write, for the SIGKILL test: it writes part of the file to the
temporary sibling, says so on stdout, and waits to be killed.

    python -m tests.reliability._export_child <destination>
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import IO, Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="octopods-export-child-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def main(destination: str) -> None:
    from airflow_provider_octopods.operators.export import ExportSentMessagesOperator
    from airflow_provider_octopods.utils import records

    real_write = records.write_records

    def write_half_then_hang(stream: IO[bytes], rows: Any, file_format: str, *, mask_pii: bool) -> int:
        rows = list(rows)
        real_write(stream, rows[: len(rows) // 2], file_format, mask_pii=mask_pii)
        stream.flush()
        print("WRITING", flush=True)
        time.sleep(600)  # the parent kills us here
        return 0

    records.write_records = write_half_then_hang  # type: ignore[assignment]
    ExportSentMessagesOperator(task_id="export", destination=destination).execute({})


if __name__ == "__main__":
    main(sys.argv[1])

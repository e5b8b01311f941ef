"""An export killed with SIGKILL mid-write leaves the previous complete file; the re-run writes it all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_octopods.operators.export import ExportSentMessagesOperator

if TYPE_CHECKING:
    from airflow_provider_octopods.testing import SimulatorHandle

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("previous", [True, False], ids=["previous-file", "no-file-yet"])
def test_sigkill_mid_write(simulator: SimulatorHandle, tmp_path: Path, previous: bool) -> None:
    ids = simulator.add_messages(
        [{"phone": f"+1415555{n:04d}", "content": f"hello {n}"} for n in range(100, 160)]
    )
    target = tmp_path / "exports" / "2026-04-24.jsonl"
    target.parent.mkdir()
    if previous:
        target.write_text('{"message_id": 1, "from": "yesterday\'s complete export"}\n')
    before = target.read_bytes() if previous else None

    child = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability._export_child", str(target)],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:  # Airflow's log lines come first
            if line.strip() == "WRITING":
                break
        else:
            pytest.fail("the export child ended before writing")
        (partial,) = [path for path in target.parent.iterdir() if path.name != target.name]
        assert partial.name.startswith(f".{target.name}.octopods-tmp-")
        assert 0 < len(partial.read_text().splitlines()) < len(ids)  # half written, in the temporary sibling
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()

    # The destination is the previous complete file, or absent: never the partial one.
    assert (target.read_bytes() if target.exists() else None) == before

    result = ExportSentMessagesOperator(task_id="export", destination=str(target)).execute({})
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert result["count"] == len(rows) == len(ids)
    assert sorted(row["message_id"] for row in rows) == sorted(ids)
    # the stale temporary is gone; the file has its manifest
    assert sorted(path.name for path in target.parent.iterdir()) == [
        target.name,
        f"{target.name}.manifest.json",
    ]

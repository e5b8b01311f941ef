"""A compaction killed with SIGKILL mid-write leaves the previous history or none; a re-run writes it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_octopods.operators.compact import CompactSentMessagesOperator
from tests.history_helpers import read_jsonl, record, write_partition

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("previous", [True, False], ids=["previous-file", "no-file-yet"])
def test_sigkill_mid_compaction(tmp_path: Path, previous: bool) -> None:
    capture = tmp_path / "capture"
    for hour in range(24):
        rows = [record(hour * 100 + n, hour * 60 + n) for n in range(5)]
        write_partition(capture / f"{hour:02d}.jsonl", rows, start=hour * 60, end=(hour + 1) * 60)
    target = tmp_path / "history" / "2026-04-24.jsonl"
    target.parent.mkdir()
    if previous:
        target.write_text('{"message_id": 1, "from": "the previous complete history"}\n')
    before = target.read_bytes() if previous else None

    child = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability._compact_child", str(capture), str(target)],
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
            pytest.fail("the compaction child ended before writing")
        (partial,) = [path for path in target.parent.iterdir() if path.name != target.name]
        assert partial.name.startswith(f".{target.name}.octopods-tmp-")
        assert 0 < len(partial.read_text().splitlines()) < 120  # half written, in the temporary sibling
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()

    # The destination is the previous complete file, or absent: never the partial one.
    assert (target.read_bytes() if target.exists() else None) == before

    result = CompactSentMessagesOperator(
        task_id="compact",
        source=str(capture),
        destination=str(target),
        start="2026-04-24T00:00:00Z",
        end="2026-04-25T00:00:00Z",
        refresh_statuses=False,
    ).execute({})
    assert result["count"] == len(read_jsonl(target)) == 120
    assert [path.name for path in target.parent.iterdir()] == [target.name]  # the stale temporary is gone

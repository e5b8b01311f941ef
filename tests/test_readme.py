"""
The README runs as pasted: every Python block is self-contained and does what it says.

* A block that defines a DAG is loaded as a DAG file: no import errors, at least one DAG.
* ``# conftest.py`` / ``# test_*.py`` blocks are written out as such and run with pytest.
* Every other block runs as a script against the bundled simulator (``octopods_default``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_octopods.testing import SimulatorHandle

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_FILE_MARKER = re.compile(r"^# ((?:conftest|test_\w+)\.py)\n")


def python_blocks() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


def is_dag_file(code: str) -> bool:
    return "with DAG(" in code or "@dag" in code


def test_the_readme_has_python_blocks_of_every_kind() -> None:
    blocks = python_blocks()
    assert len([block for block in blocks if is_dag_file(block)]) >= 4
    assert any(_FILE_MARKER.match(block) for block in blocks)
    assert any("OctopodsHook(" in block and not is_dag_file(block) for block in blocks)


@pytest.mark.parametrize(
    "code",
    [block for block in python_blocks() if is_dag_file(block)],
    ids=lambda code: (
        re.search(r'dag_id="(\w+)"', code).group(1) if re.search(r'dag_id="(\w+)"', code) else "dag"
    ),
)
def test_dag_blocks_load_as_dag_files(code: str, tmp_path: Path) -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2, 3.0 and 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    from airflow_provider_octopods.version_compat import AIRFLOW_V_3_0_PLUS

    path = tmp_path / "readme_dag.py"
    path.write_text(code, encoding="utf-8")
    extra = {} if AIRFLOW_V_3_0_PLUS else {"include_examples": False}
    bag = DagBag(dag_folder=str(path), **extra)
    assert bag.import_errors == {}
    # A block of an Airflow 3 feature defines no DAG on Airflow 2.11, and says so.
    assert bag.dags or (not AIRFLOW_V_3_0_PLUS and "Airflow 2.11" in code), "the block defines no DAG"


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_the_pytest_blocks_pass(tmp_path: Path) -> None:
    files = {}
    for block in python_blocks():
        marker = _FILE_MARKER.match(block)
        if marker:
            files[marker.group(1)] = files.get(marker.group(1), "") + block
    assert "conftest.py" in files
    for name, code in files.items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow-home"), "PYTHONPATH": str(ROOT)}
    result = _run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)], tmp_path, env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


@pytest.mark.parametrize(
    "code",
    [block for block in python_blocks() if not is_dag_file(block) and not _FILE_MARKER.match(block)],
    ids=lambda code: code.splitlines()[0][:40],
)
def test_script_blocks_run_against_the_simulator(
    code: str, simulator: SimulatorHandle, tmp_path: Path
) -> None:
    script = tmp_path / "readme_block.py"
    script.write_text(code, encoding="utf-8")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
        "AIRFLOW_CONN_OCTOPODS_DEFAULT": simulator.connection_json(),
    }
    result = _run([sys.executable, str(script)], tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr

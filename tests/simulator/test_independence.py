"""The simulator is written from the docs alone: it imports nothing from the client side or Airflow."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR = ROOT / "airflow_provider_octopods" / "simulator"
ALLOWED_THIRD_PARTY = {"aiohttp", "yarl", "multidict"}


def _modules_after(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True
    ).stdout
    return set(json.loads(output))


def _allowed_own_module(name: str) -> bool:
    return name in (
        "airflow_provider_octopods.simulator",
        "airflow_provider_octopods.testing",
    ) or name.startswith("airflow_provider_octopods.simulator.")


def _violations(modules: set[str], baseline: set[str]) -> list[str]:
    """Airflow modules, and package modules outside the simulator, that the import added."""
    bad = []
    for name in sorted(modules - baseline):
        is_airflow = name == "airflow" or name.startswith("airflow.")
        is_client_side = name.startswith("airflow_provider_octopods.") and not _allowed_own_module(name)
        if is_airflow or is_client_side:
            bad.append(name)
    return bad


@pytest.fixture(scope="module")
def baseline() -> set[str]:
    """What the package ``__init__`` itself pulls in: excluded from the check (it imports no Airflow)."""
    modules = _modules_after("import airflow_provider_octopods")
    assert not any(m == "airflow" or m.startswith("airflow.") for m in modules)
    return modules


@pytest.mark.parametrize(
    "statement",
    [
        "import airflow_provider_octopods.simulator",
        "from airflow_provider_octopods.simulator import cli, app, admin, client, server",
        "import airflow_provider_octopods.testing",
    ],
)
def test_fresh_interpreter_imports_nothing_else(statement: str, baseline: set[str]) -> None:
    modules = _modules_after(statement)
    assert "airflow_provider_octopods.simulator" in modules
    assert _violations(modules, baseline) == []


def test_the_check_can_fail(baseline: set[str]) -> None:
    modules = baseline | {
        "airflow",
        "airflow_provider_octopods.api",
        "airflow_provider_octopods.simulator.app",
    }
    assert _violations(modules, baseline) == ["airflow", "airflow_provider_octopods.api"]


def test_source_imports_only_stdlib_aiohttp_and_itself() -> None:
    files = sorted(SIMULATOR.glob("*.py"))
    assert len(files) > 10
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level > 0:
                    assert node.level == 1, f"{path.name}: relative import leaves the simulator"
                    continue
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (
                    f"{path.name} imports {name}"
                )

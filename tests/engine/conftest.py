"""Session fixtures of the real-engine and browser tests: a private PostgreSQL and a running Airflow.

Both are started once for the session, on first use, and stopped at its end (also when a test or
the start-up fails). The component logs are copied to ``artifacts/engine/airflow-<version>/`` so a
CI run keeps them.
"""

from __future__ import annotations

import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.engine.airflow_engine import AirflowEngine, airflow_version, log
from tests.engine.postgres import PostgresUnavailableError, PrivatePostgres

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
ENSURE_PACKAGES = ROOT / "scripts" / "engine" / "ensure-system-packages.sh"
ARTIFACTS = ROOT / "artifacts"

GATE_DAG_FILE = ROOT / "example_dags" / "octopods_gate_on_delivery.py"
FREE_SLOT_DAG_FILE = Path(__file__).resolve().parent / "dags" / "octopods_engine_free_slot.py"

#: The simulator keeps a message SENT for an hour: the test decides when it is delivered.
SIMULATOR_ARGS = ("--seed", "7", "--deliver-after", "3600", "--read-after", "none", "--log-level", "INFO")


@pytest.fixture(scope="session")
def system_packages() -> None:
    """PostgreSQL and Chromium from Debian, installed when missing (a no-op when present)."""
    result = subprocess.run([str(ENSURE_PACKAGES)], capture_output=True, text=True, check=False, timeout=900)
    if result.returncode != 0:
        log(f"{ENSURE_PACKAGES.name} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


@contextmanager
def started_postgres() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL server for one engine, removed afterwards; the test fails if none can start."""
    try:
        postgres = PrivatePostgres()
    except PostgresUnavailableError as error:
        pytest.fail(str(error))
    with postgres:
        log(f"private PostgreSQL ({postgres.bindir.parent.name}) on 127.0.0.1:{postgres.port}")
        yield postgres
    log("private PostgreSQL stopped and removed")


@contextmanager
def started(engine: AirflowEngine, name: str | None = None) -> Iterator[AirflowEngine]:
    """
    The engine, running; afterwards stopped, its logs kept (see :func:`keep_logs`) and its home removed,
    also when the start-up or a test fails.
    """
    try:
        engine.start()
        yield engine
    finally:
        try:
            engine.stop()
        finally:
            keep_logs(engine, name)
            engine.cleanup()


@pytest.fixture(scope="session")
def private_postgres(system_packages: None) -> Iterator[PrivatePostgres]:
    with started_postgres() as postgres:
        yield postgres


@pytest.fixture(scope="session")
def airflow_engine(private_postgres: PrivatePostgres) -> Iterator[AirflowEngine]:
    """Airflow's real components, LocalExecutor with ONE executor slot, DAGs: the gate example + one."""
    engine = AirflowEngine(
        sqlalchemy_url=private_postgres.sqlalchemy_url,
        db_connect_kwargs=private_postgres.connect_kwargs,
        dag_files=[GATE_DAG_FILE, FREE_SLOT_DAG_FILE],
        parallelism=1,
        simulator_args=SIMULATOR_ARGS,
    )
    with started(engine):
        yield engine


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """
    Run the engine tests on the shared session engine last: tests that start an engine of their own
    (module-scoped, stopped at the end of their module) then never run beside the idle shared one.
    """
    here = Path(__file__).resolve().parent

    def on_shared_engine(item: pytest.Item) -> bool:
        in_engine_dir = here in Path(str(item.path)).resolve().parents
        return in_engine_dir and "airflow_engine" in getattr(item, "fixturenames", ())

    items[:] = [item for item in items if not on_shared_engine(item)] + [
        item for item in items if on_shared_engine(item)
    ]


def send_records_left(engine: AirflowEngine, dag_id: str) -> list[str]:
    """The send records (Airflow Variables, below 3.3) that ``dag_id``'s send tasks left in the database."""
    return [key for (key,) in engine.db_rows("SELECT key FROM variable") if f"__{dag_id}__" in key]


def keep_logs(engine: AirflowEngine, name: str | None = None) -> None:
    """Copy the engine's logs to ``artifacts/engine/airflow-<version>[-<name>]/`` (git-ignored)."""
    target = ARTIFACTS / "engine" / (f"airflow-{airflow_version()}" + (f"-{name}" if name else ""))
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)
    for path in engine.home.glob("*.log"):
        shutil.copy2(path, target / path.name)
    if (engine.home / "logs").is_dir():
        shutil.copytree(engine.home / "logs", target / "logs", dirs_exist_ok=True, symlinks=False)

"""Test-wide set-up: an isolated Airflow home, the test API keys, and a canned loopback server."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

# Airflow reads its configuration at import time: isolate it before anything imports airflow.
_HOME = Path(tempfile.mkdtemp(prefix="octopods-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_HOME / "dags")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
(_HOME / "dags").mkdir(exist_ok=True)

from tests.canned_server import CannedServer  # noqa: E402
from tests.keys import CHANNEL_KEY, WHATSAPP_KEY, connection_json  # noqa: E402

pytest_plugins = ["airflow_provider_octopods.testing"]

if TYPE_CHECKING:
    from airflow_provider_octopods.testing import SimulatorHandle


@pytest.fixture
def canned() -> Iterator[CannedServer]:
    """A loopback HTTP server that answers exactly what a test tells it to, and records requests."""
    with CannedServer() as server:
        yield server


@pytest.fixture
def octopods_conn(monkeypatch: pytest.MonkeyPatch, canned: CannedServer) -> CannedServer:
    """``octopods_default`` pointing at the canned server, with both test keys and fast retries."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_OCTOPODS_DEFAULT",
        connection_json(canned.base_url, whatsapp_api_key=WHATSAPP_KEY, channel_api_key=CHANNEL_KEY),
    )
    return canned


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make retry backoff instant, so retry tests do not sleep."""
    from airflow_provider_octopods import api

    monkeypatch.setattr(api.RetryPolicy, "backoff", lambda self, failures: 0.0)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh Airflow metadata database (SQLite) for the session, for ``dag.test()`` runs."""
    from airflow.utils import db

    db.initdb()


@pytest.fixture
def simulator(octopods_simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> SimulatorHandle:
    """The bundled simulator as ``octopods_default``, with fast retries."""
    octopods_simulator.use_as_airflow_connection(monkeypatch, timeout=5, max_retries=2)
    return octopods_simulator

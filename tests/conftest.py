"""Test-wide set-up: an isolated Airflow home, the test API keys, and a canned loopback server."""

from __future__ import annotations

import contextlib
import os
import sys
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
from tests.keys import CHANNEL_KEY, TEST_KEYS, WHATSAPP_KEY, connection_json  # noqa: E402

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


# -- the secret sweep ---------------------------------------------------------------------------------

_SIMULATOR_FIXTURES = ("octopods_simulator", "simulator", "octopods_simulator_session")


def _files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


@pytest.fixture(autouse=True)
def secret_sweep(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """
    Fail any test that let an API key into its captured logs or output, an Octopods exception text,
    a file it wrote under ``tmp_path``, or the Airflow metadata database (XCom values, trigger rows,
    event payloads, rendered fields, Variables).

    The keys are the test keys of ``tests/keys.py`` and those of any simulator the test used
    (including keys it rotated in).
    """
    from airflow_provider_octopods.exceptions import OctopodsError

    keys = set(TEST_KEYS)
    simulators = [
        request.getfixturevalue(name) for name in _SIMULATOR_FIXTURES if name in request.fixturenames
    ]
    for handle in simulators:
        keys.update({handle.whatsapp_api_key, handle.channel_api_key})
    capture = request.getfixturevalue("capsys" if "capsys" in request.fixturenames else "capfd")
    # Fixtures asked for here are torn down after this one, so they are still there to inspect.
    tmp_path = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    error_texts: list[str] = []
    original_init = OctopodsError.__init__

    def recording_init(self: OctopodsError, *args: object, **kwargs: object) -> None:
        original_init(self, *args, **kwargs)  # type: ignore[arg-type]
        error_texts.append(f"{self} {self!r}")

    OctopodsError.__init__ = recording_init  # type: ignore[method-assign]
    try:
        yield
    finally:
        OctopodsError.__init__ = original_init  # type: ignore[method-assign]
    for handle in simulators:
        with contextlib.suppress(Exception):  # the simulator may already be stopped
            known = handle.keys()
            keys.update(entry["key"] for entry in known if entry.get("key"))
    out, err = capture.readouterr()
    sys.stdout.write(out)  # hand the output back to pytest's report
    sys.stderr.write(err)
    places: dict[str, str | bytes] = {
        "log records": "\n".join(
            record.getMessage()
            for phase in ("setup", "call")
            for record in caplog.get_records(phase)  # type: ignore[arg-type]
        ),
        "captured output": out + err,
        "exception texts": "\n".join(error_texts),
    }
    if tmp_path is not None:
        for path in _files_under(tmp_path):
            places[f"file {path.name}"] = path.read_bytes()
    if "airflow_db" in request.fixturenames:
        for path in _HOME.glob("airflow.db*"):
            places[f"metadata database ({path.name})"] = path.read_bytes()
    leaks = [
        where
        for where, content in places.items()
        for key in keys
        if key and (key.encode() in content if isinstance(content, bytes) else key in content)
    ]
    assert not leaks, f"an API key leaked into: {', '.join(sorted(set(leaks)))}"

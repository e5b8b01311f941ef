"""Pytest plugin: an Octopods simulator per test, for testing DAGs without an Octopods account.

Enable it in your ``conftest.py``::

    pytest_plugins = ["airflow_provider_octopods.testing"]

then ask for the fixture::

    def test_my_dag(octopods_simulator, monkeypatch):
        octopods_simulator.use_as_airflow_connection(monkeypatch)   # sets AIRFLOW_CONN_OCTOPODS_DEFAULT
        message_id = octopods_simulator.add_message("+14155552671", script=["SENT", "DELIVERED"])
        ...
        assert octopods_simulator.stats()["requests_by_route"]["whatsapp.status"] == 2

Options for one test come from the ``octopods_simulator`` marker (the fields of
:class:`~airflow_provider_octopods.simulator.SimulatorConfig`)::

    @pytest.mark.octopods_simulator(deliver_after=0.1, read_after=None, profile="preset=reference")

``octopods_simulator_session`` is one simulator shared by a whole test session (call ``reset()``
where a test needs a clean state). The plugin imports nothing from Airflow.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_octopods.simulator import OctopodsSimulator, SimulatorAdminClient, airflow_connection

if TYPE_CHECKING:
    from collections.abc import Iterator

MARKER = "octopods_simulator"
DEFAULT_CONN_ID = "octopods_default"


def airflow_conn_env_var(conn_id: str = DEFAULT_CONN_ID) -> str:
    """The environment variable Airflow reads a connection from: ``AIRFLOW_CONN_<CONN_ID>``."""
    return "AIRFLOW_CONN_" + conn_id.upper()


class SimulatorHandle(SimulatorAdminClient):
    """A running simulator: where it listens, its keys, the Airflow connection, and every admin call.

    Admin methods (``add_message``, ``set_status``, ``hold``, ``inject_fault``, ``clear_faults``,
    ``set_profile``, ``set_rate_limit``, ``rotate_key``, ``stats``, ``reset``, ...) are inherited
    from :class:`~airflow_provider_octopods.simulator.SimulatorAdminClient`.
    """

    def __init__(self, simulator: OctopodsSimulator) -> None:
        super().__init__(simulator.base_url)
        self.simulator = simulator

    @property
    def host(self) -> str:
        return self.simulator.host

    @property
    def port(self) -> int:
        return self.simulator.port

    @property
    def whatsapp_api_key(self) -> str:
        """The current WhatsApp key (it changes after ``rotate_key("whatsapp")``)."""
        return self.simulator.whatsapp_api_key

    @property
    def channel_api_key(self) -> str:
        """The current channel (SMS) key (it changes after ``rotate_key("channel")``)."""
        return self.simulator.channel_api_key

    def connection_dict(self, *, timeout: float = 10, max_retries: int = 3) -> dict[str, Any]:
        """The ``octopods`` Airflow connection for this simulator, as a dict."""
        return airflow_connection(
            self.base_url,
            whatsapp_api_key=self.whatsapp_api_key,
            channel_api_key=self.channel_api_key,
            timeout=timeout,
            max_retries=max_retries,
        )

    def connection_json(self, *, timeout: float = 10, max_retries: int = 3) -> str:
        """JSON for ``AIRFLOW_CONN_OCTOPODS_DEFAULT`` (host carries the scheme: ``http://127.0.0.1:PORT``)."""
        return json.dumps(self.connection_dict(timeout=timeout, max_retries=max_retries))

    @property
    def connection(self) -> str:
        """:meth:`connection_json` with the defaults (timeout 10 s, 3 retries)."""
        return self.connection_json()

    def use_as_airflow_connection(
        self,
        monkeypatch: pytest.MonkeyPatch,
        conn_id: str = DEFAULT_CONN_ID,
        *,
        timeout: float = 10,
        max_retries: int = 3,
    ) -> str:
        """Point Airflow connection ``conn_id`` at this simulator for the test; returns the variable name."""
        name = airflow_conn_env_var(conn_id)
        monkeypatch.setenv(name, self.connection_json(timeout=timeout, max_retries=max_retries))
        return name


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(**options): SimulatorConfig options for the octopods_simulator fixture"
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker(MARKER)
    return dict(marker.kwargs) if marker is not None else {}


@pytest.fixture
def octopods_simulator(request: pytest.FixtureRequest) -> Iterator[SimulatorHandle]:
    """A fresh simulator on a free loopback port for one test (background thread)."""
    simulator = OctopodsSimulator(**_options(request)).start()
    try:
        yield SimulatorHandle(simulator)
    finally:
        simulator.stop()


@pytest.fixture(scope="session")
def octopods_simulator_session() -> Iterator[SimulatorHandle]:
    """One simulator for the whole session (default options); call ``reset()`` for a clean state."""
    simulator = OctopodsSimulator().start()
    try:
        yield SimulatorHandle(simulator)
    finally:
        simulator.stop()

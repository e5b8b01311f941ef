"""The pytest plugin: the function-scoped fixture, its handle, the marker, and use from a user's conftest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from airflow_provider_octopods.testing import SimulatorHandle, airflow_conn_env_var

ROOT = Path(__file__).resolve().parents[2]


def test_fixture_handle(octopods_simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    handle = octopods_simulator
    assert handle.base_url == f"http://127.0.0.1:{handle.port}"
    assert handle.whatsapp_api_key == "sim-whatsapp-key-0"
    conn = json.loads(handle.connection_json())
    assert conn == {
        "conn_type": "octopods",
        "host": handle.base_url,
        "extra": {
            "whatsapp_api_key": handle.whatsapp_api_key,
            "channel_api_key": handle.channel_api_key,
            "timeout": 10,
            "max_retries": 3,
        },
    }
    assert json.loads(handle.connection) == conn
    name = handle.use_as_airflow_connection(monkeypatch)
    assert name == "AIRFLOW_CONN_OCTOPODS_DEFAULT"
    assert json.loads(os.environ[name])["host"] == handle.base_url
    other = handle.use_as_airflow_connection(monkeypatch, conn_id="octopods_alt", timeout=3, max_retries=0)
    assert other == airflow_conn_env_var("octopods_alt") == "AIRFLOW_CONN_OCTOPODS_ALT"
    assert json.loads(os.environ[other])["extra"]["max_retries"] == 0


def test_fixture_admin_methods(octopods_simulator: SimulatorHandle) -> None:
    handle = octopods_simulator
    message_id = handle.add_message("+14155552671", script=["SENT", "DELIVERED"])
    session = requests.Session()
    session.trust_env = False
    url = f"{handle.base_url}/api/v1/whatsapp/messages/{message_id}"
    headers = {"X-Octopods-Auth": handle.whatsapp_api_key}
    assert session.get(url, headers=headers).json()["status"] == "SENT"
    handle.inject_fault("status", count=1)
    assert session.get(url, headers=headers).status_code == 503
    assert session.get(url, headers=headers).json()["status"] == "DELIVERED"
    stats = handle.stats()
    assert stats["requests_by_route"]["whatsapp.status"] == 3
    old = handle.whatsapp_api_key
    new = handle.rotate_key("whatsapp")
    assert handle.whatsapp_api_key == new != old
    assert json.loads(handle.connection_json())["extra"]["whatsapp_api_key"] == new


@pytest.mark.octopods_simulator(seed=5, profile="preset=reference", whatsapp_api_key="marker-key")
def test_marker_options(octopods_simulator: SimulatorHandle) -> None:
    assert octopods_simulator.whatsapp_api_key == "marker-key"
    assert octopods_simulator.channel_api_key == "sim-channel-key-5"
    assert octopods_simulator.get_profile()["listing_shape"] == "object"


def test_plugin_from_a_users_conftest(tmp_path: Path) -> None:
    """What a user does: ``pytest_plugins`` in conftest, the fixtures, no Airflow imported."""
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["airflow_provider_octopods.testing"]\n')
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import json, sys, urllib.request
            import pytest

            def _get(handle, path):
                req = urllib.request.Request(handle.base_url + path,
                                             headers={"X-Octopods-Auth": handle.whatsapp_api_key})
                with urllib.request.urlopen(req) as response:
                    return json.load(response)

            def test_function_fixture(octopods_simulator, monkeypatch):
                octopods_simulator.use_as_airflow_connection(monkeypatch)
                message_id = octopods_simulator.add_message("+14155552671", status="DELIVERED")
                body = _get(octopods_simulator, f"/api/v1/whatsapp/messages/{message_id}")
                assert body["status"] == "DELIVERED"
                assert not any(m == "airflow" or m.startswith("airflow.") for m in sys.modules)

            @pytest.mark.octopods_simulator(deliver_after=0, read_after=None, jitter=0)
            def test_marker(octopods_simulator):
                message_id = octopods_simulator.add_message("+14155552671")
                body = _get(octopods_simulator, f"/api/v1/whatsapp/messages/{message_id}")
                assert body["status"] == "DELIVERED"

            def test_session_fixture(octopods_simulator_session):
                octopods_simulator_session.reset()
                assert octopods_simulator_session.stats()["requests_total"] == 0
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error::pytest.PytestUnknownMarkWarning",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout

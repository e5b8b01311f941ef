"""SimulatorProcess: the simulator in a child process, started from its first JSON line and stopped."""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING

import pytest

from airflow_provider_octopods.simulator import SimulatorProcess, SimulatorProcessError

if TYPE_CHECKING:
    from pathlib import Path


def test_start_use_and_stop(tmp_path: Path) -> None:
    log = tmp_path / "simulator.log"
    options = ("--seed", "3", "--deliver-after", "0", "--log-level", "INFO")
    with SimulatorProcess(*options, log_file=log) as simulator:
        assert simulator.base_url.startswith("http://127.0.0.1:")
        assert simulator.whatsapp_api_key == "sim-whatsapp-key-3"
        message_id = simulator.admin.add_message("+14155552671")
        request = urllib.request.Request(
            f"{simulator.base_url}/api/v1/whatsapp/messages/{message_id}",
            headers={"X-Octopods-Auth": simulator.whatsapp_api_key},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read())["message_id"] == message_id
        connection = json.loads(simulator.connection_json(timeout=7))
        assert connection["host"] == simulator.base_url
        assert connection["extra"]["channel_api_key"] == simulator.channel_api_key
        process = simulator.process
        assert process is not None
    assert process.poll() == 0  # stopped cleanly by SIGTERM
    simulator.stop()  # twice is fine
    assert "listening" in log.read_text()


def test_a_process_that_cannot_start_is_reported() -> None:
    with pytest.raises(SimulatorProcessError, match="did not start"):
        SimulatorProcess("--rate-limit", "not-a-number").start(timeout=20)

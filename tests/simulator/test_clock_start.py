"""A simulator whose clock starts at another time: yesterday's traffic replayed by advancing the clock."""

from __future__ import annotations

import datetime as dt
import math
import os
import subprocess
import sys
import time

import pytest
import requests

from airflow_provider_octopods.simulator import OctopodsSimulator, SimulatorConfig
from airflow_provider_octopods.simulator.cli import build_parser, config_from_args
from airflow_provider_octopods.simulator.clock import Clock

from .test_cli import ROOT, _start

YESTERDAY = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).replace(
    hour=0, minute=0, second=0, microsecond=0
)


def test_clock_starts_at_the_given_time_and_runs_at_wall_speed() -> None:
    clock = Clock(YESTERDAY.timestamp())
    first = clock.now()
    assert first == pytest.approx(YESTERDAY.timestamp(), abs=1.0)
    assert clock.offset < -86400 + 1  # behind the wall clock by at least a day
    time.sleep(0.05)
    assert clock.now() > first  # it runs on from there
    assert clock.advance(600) == pytest.approx(first + 600, abs=1.0)
    clock.reset()
    assert clock.now() == pytest.approx(time.time(), abs=1.0)
    with pytest.raises(ValueError, match="finite"):
        clock.reset(math.inf)


@pytest.mark.parametrize(
    ("value", "expected_offset"),
    [("now-86400", -86400.0), (YESTERDAY.isoformat(), None), (YESTERDAY.timestamp(), None), (None, 0.0)],
    ids=["relative", "iso", "epoch", "wall-clock"],
)
def test_clock_start_option(value: str | float | None, expected_offset: float | None) -> None:
    with OctopodsSimulator(clock_start=value) as sim:
        clock = sim.admin.clock()
    if expected_offset is None:
        assert clock["now"] == pytest.approx(YESTERDAY.timestamp(), abs=5.0)
    else:
        assert clock["offset"] == pytest.approx(expected_offset, abs=5.0)


def test_a_day_of_traffic_replayed_from_yesterday() -> None:
    """Traffic laid out from the simulated "now" (yesterday) appears as the clock moves through the day."""
    with OctopodsSimulator(clock_start=YESTERDAY.isoformat(), read_after=None) as sim:
        summary = sim.admin.add_traffic(count=144, duration=86400, start=YESTERDAY.isoformat())
        assert summary["first_created_at"] == pytest.approx(YESTERDAY.timestamp())
        assert sim.admin.stats(messages=False)["messages_by_source"] == {"traffic": 1}  # the one at 00:00
        sim.admin.advance_clock(3600 - 1)  # 01:00 minus the seconds this test takes at most
        assert sim.admin.stats(messages=False)["messages_by_source"] == {"traffic": 6}
        session = requests.Session()
        session.trust_env = False
        listed = session.get(
            f"{sim.base_url}/api/v1/whatsapp/messages", headers={"X-Octopods-Auth": sim.whatsapp_api_key}
        ).json()
        session.close()
        newest = dt.datetime.fromisoformat(listed[0]["created_at"].replace("Z", "+00:00"))
        assert YESTERDAY < newest < YESTERDAY + dt.timedelta(hours=1)


def test_reset_starts_the_clock_again_from_the_same_start() -> None:
    with OctopodsSimulator(clock_start="now-86400") as sim:
        sim.admin.advance_clock(7200)
        assert sim.admin.clock()["offset"] == pytest.approx(-86400 + 7200, abs=5.0)
        sim.admin.reset()
        assert sim.admin.clock()["offset"] == pytest.approx(-86400, abs=5.0)


def test_a_send_is_created_at_the_simulated_time() -> None:
    with OctopodsSimulator(clock_start=YESTERDAY.isoformat()) as sim:
        message_id = sim.admin.add_message("+14155552671")
        created = sim.admin.get_message(message_id)["created_at"]
    assert created == pytest.approx(YESTERDAY.timestamp(), abs=5.0)


@pytest.mark.parametrize("value", ["yesterday", "now-", True, [1]])
def test_a_bad_clock_start_is_refused_at_start(value: object) -> None:
    with pytest.raises(ValueError, match="clock_start must be"):
        SimulatorConfig(clock_start=value)  # type: ignore[arg-type]


def test_the_command_line_option() -> None:
    config = config_from_args(build_parser().parse_args(["--clock-start", "now-3600"]))
    assert config.clock_start == "now-3600"
    proc, info = _start("--clock-start", YESTERDAY.isoformat())
    try:
        session = requests.Session()
        session.trust_env = False
        now = session.get(info["admin_url"] + "/clock").json()["now"]
        session.close()
        assert now == pytest.approx(YESTERDAY.timestamp(), abs=10.0)
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_octopods.simulator", "--clock-start", "soon"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=20,
    )
    assert result.returncode == 2
    assert "clock_start must be" in result.stderr

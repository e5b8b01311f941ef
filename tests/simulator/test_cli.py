"""The command line: first-line JSON, options reaching the server, clean SIGTERM/SIGINT exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from airflow_provider_octopods.simulator.cli import build_parser, config_from_args

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]


def _start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_octopods.simulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else ""
    return proc, json.loads(line)


@pytest.fixture
def cli() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_first_line_json_and_clean_exit(cli: list[subprocess.Popen[str]], sig: signal.Signals) -> None:
    proc, info = _start("--port", "0", "--seed", "3", "--log-level", "DEBUG")
    cli.append(proc)
    assert list(info) == ["base_url", "whatsapp_api_key", "channel_api_key", "admin_url"]
    assert info["base_url"].startswith("http://127.0.0.1:")
    assert info["admin_url"] == info["base_url"] + "/_simulator"
    assert info["whatsapp_api_key"] == "sim-whatsapp-key-3"
    assert info["channel_api_key"] == "sim-channel-key-3"
    session = _session()
    headers = {"X-Octopods-Auth": info["whatsapp_api_key"]}
    assert session.get(info["base_url"] + "/api/v1/whatsapp/templates", headers=headers).status_code == 200
    assert session.get(info["admin_url"] + "/health").json()["status"] == "ok"
    session.close()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out == ""  # nothing after the first line
    for key in (info["whatsapp_api_key"], info["channel_api_key"]):
        assert key not in err
    assert "key#" in err  # DEBUG logs name keys by fingerprint only


def test_options_reach_the_server(cli: list[subprocess.Popen[str]]) -> None:
    proc, info = _start(
        "--whatsapp-api-key",
        "wa-cli",
        "--channel-api-key",
        "ch-cli",
        "--status-case",
        "lower",
        "--profile",
        "listing_shape=object",
        "--deliver-after",
        "0",
        "--read-after",
        "none",
        "--rate-limit",
        "0.5",
        "--rate-burst",
        "1",
        "--fault",
        "status:500:count=1",
    )
    cli.append(proc)
    assert info["whatsapp_api_key"] == "wa-cli"
    assert info["channel_api_key"] == "ch-cli"
    session = _session()
    base, headers = info["base_url"], {"X-Octopods-Auth": "wa-cli"}
    assert session.get(base + "/api/v1/whatsapp/templates", headers=headers).status_code == 500
    sent = session.post(
        base + "/api/v1/whatsapp/templates/84579/messages",
        json={"destination_phone": "+14155552671", "message_variables": ["A", "B"]},
        headers=headers,
    )
    assert sent.status_code == 201
    status = session.get(sent.json()["message_status_url"], headers=headers)
    assert status.status_code == 429  # the send took the only token (faulted requests take none)
    assert int(status.headers["Retry-After"]) >= 1
    profile = session.get(info["admin_url"] + "/profile").json()
    assert profile["status_case"] == "lower"
    assert profile["listing_shape"] == "object"
    session.put(info["admin_url"] + "/rate-limit", json={"rate": None})
    assert session.get(sent.json()["message_status_url"], headers=headers).json()["status"] == "delivered"
    session.close()
    proc.terminate()
    assert proc.wait(10) == 0


def test_traffic_option_starts_a_busy_channel(cli: list[subprocess.Popen[str]]) -> None:
    proc, info = _start(
        "--traffic",
        "count=1600,duration=86400,start=now-86400,burst=400:36000:3600",
        "--traffic",
        "1,600",
        "--read-after",
        "none",
    )
    cli.append(proc)
    session = _session()
    base, admin = info["base_url"], info["admin_url"]
    headers = {"X-Octopods-Auth": info["whatsapp_api_key"]}
    stats = session.get(admin + "/stats?messages=false").json()
    created, scheduled = stats["messages_by_source"]["traffic"], stats["scheduled_by_source"]["traffic"]
    assert created + scheduled == 2600
    assert 2000 < created <= 2010  # a day that ended at start-up, and the first seconds of the rate
    listing = session.get(base + "/api/v1/whatsapp/messages", headers=headers).json()
    assert len(listing) == 100
    assert {item["message_status"]["message_status"] for item in listing[-50:]} == {"DELIVERED"}
    day = [m for m in session.get(admin + "/messages").json() if m["message_id"] <= 102000]
    first = min(m["created_at"] for m in day)
    in_burst_hour = [m for m in day if 36000 <= m["created_at"] - first < 39600]
    assert len(in_burst_hour) - 400 in (66, 67)  # the burst on top of the base's one per 54 s
    session.post(admin + "/clock", json={"advance": 600})
    stats = session.get(admin + "/stats?messages=false").json()
    assert stats["messages_by_source"] == {"traffic": 2600}
    assert stats["scheduled_by_source"] == {}
    session.close()
    proc.terminate()
    assert proc.wait(10) == 0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("1,colour=red", "unknown item 'colour'"),
        ("count=5,duration=-1", "duration must be greater than 0"),
        ("count=5,template=1", "traffic: no template 1"),
        ("count=5,key=no-such-key", "no such API key"),
    ],
)
def test_bad_traffic_option_is_a_usage_error(spec: str, message: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_octopods.simulator", "--traffic", spec],
        capture_output=True,
        text=True,
        env=env,
        timeout=20,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr


def test_port_in_use_exits_non_zero(cli: list[subprocess.Popen[str]]) -> None:
    proc, info = _start()
    cli.append(proc)
    port = info["base_url"].rsplit(":", 1)[1]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    second = subprocess.run(
        [sys.executable, "-m", "airflow_provider_octopods.simulator", "--port", port],
        capture_output=True,
        text=True,
        env=env,
        timeout=20,
    )
    assert second.returncode == 1
    assert second.stdout == ""
    assert "cannot start" in second.stderr


def test_bad_option_is_a_usage_error() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_octopods.simulator", "--failure-reason", "purple"],
        capture_output=True,
        text=True,
        env=env,
        timeout=20,
    )
    assert result.returncode == 2
    assert "failure_reason" in result.stderr


def test_parser_maps_every_option_to_the_config(tmp_path: Path) -> None:
    templates = tmp_path / "templates.json"
    templates.write_text(json.dumps([{"template_id": 1, "name": "t_v1", "body": "Hi {{1}}"}]))
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"suffix": "99", "steps": ["FAILED"]}]))
    args = build_parser().parse_args(
        [
            "--host=127.0.0.2",
            "--port=8089",
            "--seed=9",
            "--status-shape=reference",
            "--failure-reason=object+null",
            "--not-found=400",
            "--timestamps=millis",
            "--empty-listing=empty",
            "--retry-at-format=epoch",
            "--retry-after-format=http_date",
            "--sms-send-shape=legacy",
            "--vocabulary=superset",
            "--jitter=0",
            "--sms-queue-for=0.1",
            "--unknown-window=3",
            "--read-after=-1",
            f"--templates={templates}",
            f"--rules={rules}",
            "--keepalive-timeout=30",
            "--backlog=64",
            "--traffic=0.5,60,now-60,template=1",  # the replaced template set has no 84579
            '--traffic={"count": 3, "phones": ["+14155552671"], "content": "Hi"}',
        ]
    )
    config = config_from_args(args)
    assert (config.host, config.port, config.seed) == ("127.0.0.2", 8089, 9)
    assert config.profile.status_shape == "reference"
    assert config.profile.failure_reason == "object+null"
    assert config.profile.retry_after_format == "http_date"
    assert config.read_after is None
    assert config.jitter == 0
    assert config.unknown_window == 3
    assert [t.template_id for t in config.initial_templates()] == [1]
    assert [r.suffix for r in config.initial_rules()] == ["99"]
    assert (config.keepalive_timeout, config.backlog) == (30, 64)
    assert config.traffic == [
        {"rate": 0.5, "duration": 60.0, "start": "now-60", "template_id": "1"},
        {"count": 3, "phones": ["+14155552671"], "content": "Hi"},
    ]


def test_console_script_entry_point_is_main() -> None:
    from airflow_provider_octopods.simulator import cli

    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0

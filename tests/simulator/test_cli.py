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


def test_console_script_entry_point_is_main() -> None:
    from airflow_provider_octopods.simulator import cli

    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0

"""The ``octopods`` connection as users write it: JSON and URI environment variables, both Airflows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from airflow_provider_octopods.hooks.octopods import OctopodsHook
from airflow_provider_octopods.version_compat import AIRFLOW_V_3_3_PLUS
from tests.keys import CHANNEL_KEY, WHATSAPP_KEY

if TYPE_CHECKING:
    from tests.canned_server import CannedServer


def forms(base_url: str) -> dict[str, str]:
    query = f"whatsapp_api_key={WHATSAPP_KEY}&channel_api_key={CHANNEL_KEY}&timeout=7&max_retries=2"
    return {
        "json": json.dumps(
            {
                "conn_type": "octopods",
                "host": base_url,
                "extra": {
                    "whatsapp_api_key": WHATSAPP_KEY,
                    "channel_api_key": CHANNEL_KEY,
                    "timeout": 7,
                    "max_retries": 2,
                },
            }
        ),
        "json-prefixed-extras": json.dumps(
            {
                "conn_type": "octopods",
                "host": base_url,
                "extra": {
                    "extra__octopods__whatsapp_api_key": WHATSAPP_KEY,
                    "extra__octopods__channel_api_key": CHANNEL_KEY,
                    "extra__octopods__timeout": "7",
                    "extra__octopods__max_retries": "2",
                },
            }
        ),
        "uri-encoded-host": f"octopods://{quote(base_url, safe='')}?{query}",
        "uri-protocol-host": f"octopods://{base_url}?{query}",
    }


@pytest.mark.parametrize("form", ["json", "json-prefixed-extras", "uri-encoded-host", "uri-protocol-host"])
def test_connection_forms(monkeypatch: pytest.MonkeyPatch, canned: CannedServer, form: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_OCTOPODS_DEFAULT", forms(canned.base_url)[form])
    canned.add("GET", "/api/v1/sms/messages/5", 200, {"status": "DELIVERED"})
    hook = OctopodsHook()
    settings = hook.settings
    assert settings.base_url == canned.base_url
    assert (settings.whatsapp_api_key, settings.channel_api_key) == (WHATSAPP_KEY, CHANNEL_KEY)
    assert (settings.timeout, settings.max_retries) == (7.0, 2)
    assert hook.get_message_status(5, "sms").status == "DELIVERED"
    assert canned.requests[0].headers["X-Octopods-Auth"] == CHANNEL_KEY


def test_defaults_for_a_production_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_OCTOPODS_DEFAULT", f"octopods://?whatsapp_api_key={WHATSAPP_KEY}")
    settings = OctopodsHook().settings
    assert (settings.base_url, settings.timeout, settings.max_retries) == ("https://app.octopods.io", 30.0, 5)


def test_host_without_scheme_means_https(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OCTOPODS_DEFAULT", f"octopods://api.octopods.io?whatsapp_api_key={WHATSAPP_KEY}"
    )
    assert OctopodsHook().settings.base_url == "https://api.octopods.io"


def test_the_cli_connection_test_names_a_misspelled_extra(tmp_path: Path, canned: CannedServer) -> None:
    """What ``airflow connections test`` prints: the provider's message when the test fails."""
    env = {
        **os.environ,
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW_CONN_OCTOPODS_TYPO": json.dumps(
            {"conn_type": "octopods", "host": canned.base_url, "extra": {"whatsapp_apikey": "x" * 12}}
        ),
    }
    result = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "connections", "test", "octopods_typo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if AIRFLOW_V_3_3_PLUS:  # before 3.3 the CLI prints the failure but exits 0
        assert result.returncode == 1, result.stdout + result.stderr
    assert "Connection failed!" in result.stdout
    assert "`whatsapp_apikey` (did you mean `whatsapp_api_key`?)" in result.stdout
    assert canned.requests == []  # nothing to probe: neither key is set under its real name


def test_a_connection_error_says_https_was_assumed_for_a_host_without_scheme(
    monkeypatch: pytest.MonkeyPatch, canned: CannedServer
) -> None:
    """The simulator's host typed without http:// is the classic first-hour mistake."""
    from airflow_provider_octopods.exceptions import OctopodsConnectionError

    host = canned.base_url.removeprefix("http://")
    monkeypatch.setenv(
        "AIRFLOW_CONN_OCTOPODS_DEFAULT",
        json.dumps(
            {
                "conn_type": "octopods",
                "host": host,
                "extra": {"whatsapp_api_key": WHATSAPP_KEY, "max_retries": 0},
            }
        ),
    )
    with pytest.raises(OctopodsConnectionError) as caught:
        OctopodsHook().get_message_status(1)
    message = str(caught.value)
    assert f"https was assumed (https://{host})" in message
    assert f"write http://{host}" in message

"""The ``octopods`` connection as users write it: JSON and URI environment variables, both Airflows."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from airflow_provider_octopods.hooks.octopods import OctopodsHook
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

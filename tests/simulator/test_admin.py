"""Admin API endpoints and the Python server APIs not covered elsewhere."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
import requests

from airflow_provider_octopods.simulator import (
    OctopodsSimulator,
    SimulatorAdminClient,
    SimulatorAdminError,
    SimulatorServer,
)
from airflow_provider_octopods.simulator.admin import _is_loopback
from airflow_provider_octopods.simulator.server import _url_host

from .conftest import WA_PHONE, Api, assert_error


def test_async_server_in_the_running_loop() -> None:
    async def scenario() -> tuple[int, str]:
        async with SimulatorServer(seed=2) as server:
            headers = {"X-Octopods-Auth": server.whatsapp_api_key}
            async with aiohttp.ClientSession(headers=headers) as session:
                url = server.base_url + "/api/v1/whatsapp/templates/84579/messages"
                body = {"destination_phone": WA_PHONE, "message_variables": ["A", "B"]}
                async with session.post(url, json=body) as response:
                    sent = await response.json()
                async with session.get(sent["message_status_url"]) as response:
                    return response.status, (await response.json())["status"]

    assert asyncio.run(scenario()) == (200, "SENT")


def test_start_on_a_busy_port_raises() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError):
            OctopodsSimulator(port=port).start()


def test_stop_is_idempotent_and_info_matches() -> None:
    sim = OctopodsSimulator(seed=4).start()
    assert sim.running
    assert sim.info() == {
        "base_url": sim.base_url,
        "whatsapp_api_key": "sim-whatsapp-key-4",
        "channel_api_key": "sim-channel-key-4",
        "admin_url": sim.base_url + "/_simulator",
    }
    sim.stop()
    sim.stop()
    assert not sim.running
    with pytest.raises(requests.ConnectionError):
        requests.get(sim.base_url + "/_simulator/health", timeout=2)


def test_admin_client_accepts_admin_url(api: Api) -> None:
    client = SimulatorAdminClient(api.sim.admin_url + "/")
    assert client.health()["base_url"] == api.base_url


def test_timing_endpoint_validation(api: Api) -> None:
    assert api.admin.get_timing()["deliver_after"] == 1.0
    with pytest.raises(SimulatorAdminError):
        api.admin.set_timing(deliver_after=-1)
    with pytest.raises(SimulatorAdminError):
        api.admin.set_timing(jitter=1.0)
    with pytest.raises(SimulatorAdminError):
        api.admin.set_timing(warp=2)
    assert api.admin.set_timing(unknown_window=1.0)["unknown_window"] == 1.0
    message_id = api.sent_id(api.send_wa(phone="+14155550009"))
    api.admin.advance_clock(1.01)
    assert api.wa_status(message_id).json()["status"] == "DELIVERED"


def test_seeding_options(api: Api) -> None:
    fixed = api.admin.add_message(WA_PHONE, status="DELIVERED", status_at="2026-04-24T12:00:05Z")
    history = api.admin.get_message(fixed)["history"]
    assert history == [{"status": "DELIVERED", "at": 1777032005.0, "at_iso": "2026-04-24T12:00:05.000Z"}]
    plain = api.admin.add_message("+14155550470", progression="default")
    api.admin.advance_clock(10)
    assert api.wa_status(plain).json()["status"] == "READ"  # the 0470 rule was skipped
    steps = api.admin.add_message(
        WA_PHONE, steps=[{"status": "SENT"}, {"status": "FAILED", "after": 1, "failure_reason": "x"}]
    )
    assert api.admin.get_message(steps)["status"] == "SENT"
    with pytest.raises(SimulatorAdminError):
        api.admin.add_message(WA_PHONE, progression="sometimes")
    with pytest.raises(SimulatorAdminError):
        api.admin.add_message(WA_PHONE, key="no-such-key")
    with pytest.raises(SimulatorAdminError):
        api.admin.add_message(WA_PHONE, script=[])


def test_templates_rules_clock_and_limits_endpoints(api: Api) -> None:
    templates = {t["template_id"]: t for t in api.admin.templates()}
    assert templates[73112]["placeholders"] == {"header": 1, "body": 2, "footer": 0, "buttons": 1}
    response = api.session.delete(api.base_url + "/_simulator/templates/50002")
    assert response.json() == {"deleted": 50002}
    assert_error(api.send_wa(template=50002, variables=None), 400, 3)
    assert api.session.delete(api.base_url + "/_simulator/templates/50002").status_code == 404
    with pytest.raises(SimulatorAdminError):
        api.admin.add_template({"name": "no_id"})
    rules = api.admin.rules()
    assert [r.get("suffix") for r in rules] == [
        "0470",
        "0001",
        "0004",
        "0007",
        "0008",
        "0009",
        "0002",
        "0003",
    ]
    with pytest.raises(SimulatorAdminError):
        api.admin.set_rules([{"steps": ["SENT"]}])
    clock = api.admin.clock()
    assert clock["offset"] == 0
    assert api.admin.advance_clock(5) >= clock["now"] + 5
    with pytest.raises(SimulatorAdminError):
        api.admin.advance_clock(-5)
    api.admin.set_rate_limit(3)
    limits = api.session.get(api.base_url + "/_simulator/rate-limit").json()
    assert limits == {"default": {"rate": 3.0, "burst": 3}, "per_key_count": 0}
    with pytest.raises(SimulatorAdminError):
        api.admin.set_rate_limit(1, key="unknown-key")
    with pytest.raises(SimulatorAdminError):
        api.admin.rotate_key("telegram")


def test_admin_messages_listing_and_trailing_slash(api: Api) -> None:
    api.send_wa()
    listed = api.session.get(api.base_url + "/_simulator/messages/").json()
    assert [m["source"] for m in listed] == ["api"]
    assert listed[0]["template_id"] == 84579


def test_loopback_check() -> None:
    assert _is_loopback("127.0.0.1")
    assert _is_loopback("::1")
    assert _is_loopback(None)
    assert not _is_loopback("10.0.0.8")
    assert not _is_loopback("not-an-ip")
    assert _url_host("::1") == "[::1]"
    assert _url_host("127.0.0.1") == "127.0.0.1"

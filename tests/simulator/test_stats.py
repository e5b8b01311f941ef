"""Statistics: requests per route and status, connections (keep-alive aware), sends, histories."""

from __future__ import annotations

import time
import urllib.request

import requests

from .conftest import SMS_PHONE, WA_PHONE, Api


def _wait_for(predicate: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_keep_alive_reuse_does_not_count_new_connections(api: Api) -> None:
    api.admin.reset_stats()
    session = requests.Session()
    session.trust_env = False
    headers = {"X-Octopods-Auth": api.sim.whatsapp_api_key}
    for _ in range(20):
        assert session.get(api.base_url + "/api/v1/whatsapp/templates", headers=headers).status_code == 200
    stats = api.admin.stats()
    # one keep-alive connection for the 20 requests, plus the connection of this stats call
    assert stats["connections"]["accepted"] == 2
    assert stats["connections"]["open"] >= 1
    assert stats["requests_total"] == 20
    for _ in range(5):
        with urllib.request.urlopen(
            urllib.request.Request(api.base_url + "/api/v1/whatsapp/templates", headers=headers)
        ) as response:
            assert response.status == 200
    assert api.admin.stats()["connections"]["accepted"] == 2 + 5 + 1
    session.close()
    assert _wait_for(lambda: api.admin.stats()["connections"]["open"] <= 1)


def test_requests_by_route_and_status(api: Api) -> None:
    wa = api.sent_id(api.send_wa())
    sms = api.sent_id(api.send_sms())
    api.wa_status(wa)
    api.wa_status(wa)
    api.sms_status(sms)
    api.listing()
    api.get("/api/v1/whatsapp/templates")
    api.get("/api/v1/whatsapp/templates/84579")
    api.get("/api/v1/whatsapp/templates", key=None)
    api.get("/api/v1/nothing/here")
    api.admin.health()
    stats = api.admin.stats()
    assert stats["requests_total"] == 10
    assert stats["requests_by_route"] == {
        "whatsapp.send": 1,
        "sms.send": 1,
        "whatsapp.status": 2,
        "sms.status": 1,
        "whatsapp.list": 1,
        "whatsapp.templates": 2,
        "whatsapp.template": 1,
        "unknown": 1,
    }
    assert stats["responses_by_status"] == {"201": 2, "200": 6, "401": 1, "404": 1}
    assert stats["responses_by_route"]["whatsapp.templates"] == {"200": 1, "401": 1}
    assert stats["rate_limited"] == 0


def test_sends_per_recipient_and_message_histories(api: Api) -> None:
    before = time.time()
    api.send_wa()
    api.send_wa()
    message_id = api.sent_id(api.send_wa(phone="+14155550470"))
    api.send_sms()
    api.admin.advance_clock(1.5)
    stats = api.admin.stats()
    assert stats["sends_by_recipient"] == {WA_PHONE: 2, "+14155550470": 1, SMS_PHONE: 1}
    assert stats["sends_by_channel"] == {"whatsapp": 3, "sms": 1}
    record = stats["messages"][str(message_id)]
    assert record["phone_number"] == "+14155550470"
    assert record["status"] == "FAILED"
    assert [h["status"] for h in record["history"]] == ["SENT", "FAILED"]
    sent, failed = (h["at"] for h in record["history"])
    assert before <= sent <= time.time()
    assert abs(failed - sent - 1.0) < 1e-5
    assert record["history"][1]["failure_code"] == 470
    assert "messages" not in api.admin.stats(messages=False)


def test_reset_clears_everything(api: Api) -> None:
    api.send_wa()
    api.admin.rotate_key("whatsapp")
    api.admin.set_profile(status_case="lower")
    api.admin.inject_fault("status", ratio=0.01)
    api.admin.reset()
    assert api.admin.stats()["requests_total"] == 0
    assert api.admin.messages() == []
    assert api.admin.faults() == []
    assert api.admin.get_profile()["status_case"] == "upper"
    assert api.sim.whatsapp_api_key == "sim-whatsapp-key-7"
    assert api.sent_id(api.send_wa()) == 100001


def test_admin_is_not_counted_and_answers_json_errors(api: Api) -> None:
    response = api.session.get(api.base_url + "/_simulator/no-such-thing")
    assert response.status_code == 404
    assert "error" in response.json()
    bad = api.session.post(api.base_url + "/_simulator/messages", data="{")
    assert bad.status_code == 400
    assert api.admin.stats()["requests_total"] == 0
    assert api.admin.health()["status"] == "ok"

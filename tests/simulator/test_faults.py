"""Injected faults: 5xx, proxy HTML, malformed JSON, dropped connections, latency; count/ratio/filters."""

from __future__ import annotations

import json
import time

import pytest
import requests

from airflow_provider_octopods.simulator import OctopodsSimulator, SimulatorAdminError
from airflow_provider_octopods.simulator.faults import parse_fault_spec

from .conftest import WA_PHONE, Api, assert_error


def test_status_fault_next_n_requests(api: Api) -> None:
    api.admin.inject_fault("status", count=2)
    first = api.get("/api/v1/whatsapp/templates")
    assert_error(first, 503, 503, "Service Unavailable")
    assert_error(api.get("/api/v1/whatsapp/templates"), 503, 503)
    assert api.get("/api/v1/whatsapp/templates").status_code == 200
    assert api.admin.faults() == []


def test_status_fault_custom_code_and_method_filter(api: Api) -> None:
    api.admin.inject_fault("status", status=500, count=1, method="POST")
    assert api.get("/api/v1/whatsapp/templates").status_code == 200
    assert_error(api.send_wa(), 500, 500, "Internal Server Error")
    assert api.send_wa().status_code == 201


def test_html_fault_is_a_proxy_error_page(api: Api) -> None:
    api.admin.inject_fault("html", count=1)
    response = api.get("/api/v1/whatsapp/templates")
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in response.text
    with pytest.raises(ValueError):
        json.loads(response.text)
    api.admin.inject_fault("html", status=504, count=1)
    assert api.get("/api/v1/whatsapp/templates").status_code == 504


def test_malformed_fault_is_200_with_invalid_json(api: Api) -> None:
    api.admin.inject_fault("malformed", count=1)
    response = api.get("/api/v1/whatsapp/templates")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError):
        json.loads(response.text)


def test_drop_fault_closes_the_connection_without_response(api: Api) -> None:
    api.admin.inject_fault("drop", count=1)
    with pytest.raises(requests.ConnectionError):
        api.get("/api/v1/whatsapp/templates")
    assert api.get("/api/v1/whatsapp/templates").status_code == 200
    stats = api.admin.stats()
    assert stats["responses_by_status"]["dropped"] == 1
    assert stats["faults_injected"] == {"drop": 1}


def test_lost_response_serves_the_send_then_drops_the_answer(api: Api) -> None:
    api.admin.inject_fault("lost_response", count=1, method="POST")
    with pytest.raises(requests.ConnectionError):
        api.send_wa()
    stats = api.admin.stats()
    assert sum(stats["sends_by_recipient"].values()) == 1  # the message exists although nobody heard back
    assert stats["responses_by_status"]["dropped"] == 1
    assert stats["faults_injected"] == {"lost_response": 1}
    assert len(api.admin.messages()) == 1
    assert api.send_wa().status_code == 201  # the fault fired once


def test_latency_fault_delays_then_serves(api: Api) -> None:
    api.admin.inject_fault("latency", latency=0.3, count=1, path="/api/v1/whatsapp/templates")
    started = time.perf_counter()
    assert api.get("/api/v1/whatsapp/messages?limit=1").status_code == 400  # other path: no delay
    assert time.perf_counter() - started < 0.25
    started = time.perf_counter()
    assert api.get("/api/v1/whatsapp/templates").status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_path_prefix_filter(api: Api) -> None:
    api.admin.inject_fault("status", count=1, path="/api/v1/sms")
    assert api.get("/api/v1/whatsapp/templates").status_code == 200
    assert api.send_sms().status_code == 503
    assert api.send_sms().status_code == 201


def _pattern(seed: int) -> list[int]:
    with OctopodsSimulator(seed=seed) as sim:
        api = Api(sim)
        sim.admin.inject_fault("status", ratio=0.5)
        return [api.get("/api/v1/whatsapp/templates").status_code for _ in range(40)]


def test_ratio_faults_are_seeded() -> None:
    first, again, other = _pattern(3), _pattern(3), _pattern(4)
    assert first == again
    assert first != other
    assert 8 <= first.count(503) <= 32


def test_faults_do_not_advance_scripted_statuses(api: Api) -> None:
    message_id = api.admin.add_message(WA_PHONE, script=["SENT", "DELIVERED"])
    for kind in ("status", "html", "malformed"):
        api.admin.inject_fault(kind, count=1)
        api.wa_status(message_id)
    api.admin.inject_fault("drop", count=1)
    with pytest.raises(requests.ConnectionError):
        api.wa_status(message_id)
    assert api.wa_status(message_id).json()["status"] == "SENT"
    assert api.wa_status(message_id).json()["status"] == "DELIVERED"


def test_faults_come_before_auth(api: Api) -> None:
    api.admin.inject_fault("status", count=1)
    assert api.get("/api/v1/whatsapp/templates", key=None).status_code == 503


def test_clear_faults(api: Api) -> None:
    fault_id = api.admin.inject_fault("status", ratio=1.0)
    api.admin.inject_fault("latency", latency=0.01, ratio=1.0)
    assert len(api.admin.faults()) == 2
    assert api.admin.clear_faults(fault_id) == 1
    assert api.get("/api/v1/whatsapp/templates").status_code == 200
    assert api.admin.clear_faults() == 1
    assert api.admin.faults() == []


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "explode"},
        {"kind": "status", "count": 1, "ratio": 0.5},
        {"kind": "status", "ratio": 2},
        {"kind": "latency"},
        {"kind": "drop", "status": 500},
        {"kind": "status", "colour": "red"},
    ],
)
def test_invalid_faults_are_refused(api: Api, body: dict[str, object]) -> None:
    kind = str(body.pop("kind"))
    with pytest.raises((SimulatorAdminError, TypeError)):
        api.admin.inject_fault(kind, **body)  # type: ignore[arg-type]


def test_faults_from_start_up_config() -> None:
    with OctopodsSimulator(faults=["status:500:count=1", {"kind": "html", "count": 1}]) as sim:
        api = Api(sim)
        assert api.get("/api/v1/whatsapp/templates").status_code == 500
        assert api.get("/api/v1/whatsapp/templates").status_code == 502
        assert api.get("/api/v1/whatsapp/templates").status_code == 200


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("status:503:ratio=0.1", {"kind": "status", "status": "503", "ratio": "0.1"}),
        ("drop:count=2", {"kind": "drop", "count": "2"}),
        (
            "latency:1.5:path=/api/v1/whatsapp,method=GET",
            {"kind": "latency", "latency": "1.5", "path": "/api/v1/whatsapp", "method": "GET"},
        ),
        ("malformed", {"kind": "malformed"}),
        ("HTML:504", {"kind": "html", "status": "504"}),
    ],
)
def test_parse_fault_spec(spec: str, expected: dict[str, str]) -> None:
    assert parse_fault_spec(spec) == expected

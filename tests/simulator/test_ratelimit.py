"""Per-key rate limits: 429 with both retry hints, recovery, per-key scope, no state consumed."""

from __future__ import annotations

import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import pytest

from airflow_provider_octopods.simulator import OctopodsSimulator

from .conftest import WA_PHONE, Api, assert_error

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def limited() -> Iterator[OctopodsSimulator]:
    with OctopodsSimulator(rate_limit=2.0, rate_burst=3) as sim:
        yield sim


def _iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_burst_then_429_with_retry_after_and_retry_at(limited: OctopodsSimulator) -> None:
    api = Api(limited)
    now = limited.admin.clock()["now"]
    assert [api.get("/api/v1/whatsapp/templates").status_code for _ in range(3)] == [200, 200, 200]
    response = api.get("/api/v1/whatsapp/templates")
    body = assert_error(response, 429, 429, "Too Many Requests")
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    retry_at = _iso(body["retry_at"])
    answered = limited.admin.clock()["now"]
    # One token at 2/s is at most 0.5 s after the first request, and rounding up to whole seconds
    # adds less than 1 s; the first request came after `now` and before `answered`.
    assert now < retry_at < answered + 1.5
    assert "2 requests per second (burst 3)" in body["error"]
    limited.admin.advance_clock(retry_at - limited.admin.clock()["now"] + 0.001)
    assert api.get("/api/v1/whatsapp/templates").status_code == 200


def test_recovers_in_real_time() -> None:
    with OctopodsSimulator(rate_limit=20.0, rate_burst=1) as sim:
        api = Api(sim)
        assert api.get("/api/v1/whatsapp/templates").status_code == 200
        assert api.get("/api/v1/whatsapp/templates").status_code == 429
        time.sleep(0.08)
        assert api.get("/api/v1/whatsapp/templates").status_code == 200


def test_limit_is_per_key(limited: OctopodsSimulator) -> None:
    api = Api(limited)
    for _ in range(3):
        api.get("/api/v1/whatsapp/templates")
    assert api.get("/api/v1/whatsapp/templates").status_code == 429
    assert api.send_sms().status_code == 201  # the channel key has its own bucket
    other = limited.admin.add_key("whatsapp")
    assert api.get("/api/v1/whatsapp/templates", key=other).status_code == 200


def test_retry_formats_epoch_and_http_date(limited: OctopodsSimulator) -> None:
    api = Api(limited)
    for _ in range(3):
        api.get("/api/v1/whatsapp/templates")
    response = api.get(
        "/api/v1/whatsapp/templates", profile="retry_at_format=epoch,retry_after_format=http_date"
    )
    body = assert_error(response, 429, 429)
    assert isinstance(body["retry_at"], float)
    assert body["retry_at"] > time.time() - 1
    when = parsedate_to_datetime(response.headers["Retry-After"])
    assert when.tzinfo is not None
    assert abs(when.timestamp() - body["retry_at"]) <= 1.0
    millis = api.get("/api/v1/whatsapp/templates", profile="timestamps=millis")
    assert millis.json()["retry_at"].count(".") == 1


def test_rate_limited_polls_do_not_advance_scripts(limited: OctopodsSimulator) -> None:
    api = Api(limited)
    message_id = limited.admin.add_message(WA_PHONE, script=["SENT", "DELIVERED", "READ"])
    statuses = [api.wa_status(message_id) for _ in range(6)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429, 429]
    assert [r.json()["status"] for r in statuses[:3]] == ["SENT", "DELIVERED", "READ"]
    limited.admin.set_rate_limit(None)
    message_two = limited.admin.add_message(WA_PHONE, script=["SENT", "DELIVERED"])
    limited.admin.set_rate_limit(1, 1)
    assert api.wa_status(message_two).json()["status"] == "SENT"
    assert api.wa_status(message_two).status_code == 429
    assert api.wa_status(message_two).status_code == 429
    limited.admin.advance_clock(1.0)
    assert api.wa_status(message_two).json()["status"] == "DELIVERED"
    assert limited.admin.get_message(message_two)["polls"] == 2


def test_429s_are_counted(limited: OctopodsSimulator) -> None:
    api = Api(limited)
    for _ in range(5):
        api.get("/api/v1/whatsapp/templates")
    stats = limited.admin.stats()
    assert stats["rate_limited"] == 2
    assert stats["responses_by_status"]["429"] == 2
    assert stats["responses_by_route"]["whatsapp.templates"] == {"200": 3, "429": 2}


def test_admin_sets_default_and_per_key_limits(api: Api) -> None:
    for _ in range(5):
        assert api.get("/api/v1/whatsapp/templates").status_code == 200
    api.admin.set_rate_limit(1, 1, key=api.sim.whatsapp_api_key)
    assert api.get("/api/v1/whatsapp/templates").status_code == 200
    assert api.get("/api/v1/whatsapp/templates").status_code == 429
    assert api.send_sms().status_code == 201
    api.admin.set_rate_limit(1, 1)
    assert api.send_sms().status_code == 201
    assert api.send_sms().status_code == 429
    api.admin.set_rate_limit(None)
    api.admin.set_rate_limit(None, key=api.sim.whatsapp_api_key)
    assert all(api.get("/api/v1/whatsapp/templates").status_code == 200 for _ in range(5))


def test_unauthorized_requests_are_not_rate_limited(limited: OctopodsSimulator) -> None:
    api = Api(limited)
    assert {api.get("/api/v1/whatsapp/templates", key="nope").status_code for _ in range(6)} == {401}


def test_requests_and_429s_are_counted_per_key_per_second(limited: OctopodsSimulator) -> None:
    api = Api(limited)
    other = limited.admin.add_key("whatsapp")
    described = limited.admin.keys()
    fingerprints = {key["key"]: key["fingerprint"] for key in described}
    primary, second = fingerprints[limited.whatsapp_api_key], fingerprints[other]
    started = int(time.time())
    codes = [api.get("/api/v1/whatsapp/templates").status_code for _ in range(5)]
    codes_other = [api.get("/api/v1/whatsapp/templates", key=other).status_code for _ in range(2)]
    api.get("/api/v1/whatsapp/templates", key="not-a-key")  # 401: no key to count it under
    ended = int(time.time())
    assert codes.count(429) == 2
    assert codes_other == [200, 200]

    by_key = limited.admin.stats(messages=False)["timeline"]["by_key"]
    assert set(by_key) == {primary, second}  # fingerprints only: no key in the statistics
    mine = by_key[primary]
    assert (mine["requests"], mine["rate_limited"]) == (5, 2)
    assert sum(mine["requests_per_second"].values()) == 5
    assert sum(mine["rate_limited_per_second"].values()) == 2
    assert all(started <= int(second) <= ended for second in mine["requests_per_second"])
    assert started <= mine["first_rate_limited_at"] <= time.time()
    assert by_key[second] == {
        "requests": 2,
        "rate_limited": 0,
        "requests_per_second": by_key[second]["requests_per_second"],
        "rate_limited_per_second": {},
        "first_rate_limited_at": None,
    }
    assert sum(by_key[second]["requests_per_second"].values()) == 2
    limited.admin.reset_stats()
    assert limited.admin.stats(messages=False)["timeline"]["by_key"] == {}

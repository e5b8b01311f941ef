"""Fixtures for the simulator tests: an in-thread simulator and a small HTTP helper around it.

The fixture of the public pytest plugin is imported here (rather than listed in ``pytest_plugins``,
which pytest only honours in the root conftest) so these tests exercise it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_octopods.simulator import OctopodsSimulator, SimulatorAdminClient
from airflow_provider_octopods.testing import (  # noqa: F401 - fixtures and hook picked up by pytest
    octopods_simulator,
    pytest_configure,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

WA_PHONE = "+14155552671"
SMS_PHONE = "+15551234567"
_AUTO = object()


class Api:
    """Requests against one simulator; the right key is sent per path unless one is given."""

    def __init__(self, sim: OctopodsSimulator) -> None:
        self.sim = sim
        self.base_url = sim.base_url
        self.session = requests.Session()
        self.session.trust_env = False

    @property
    def admin(self) -> SimulatorAdminClient:
        return self.sim.admin

    def _headers(
        self, path: str, key: object, profile: str | None, headers: dict[str, str] | None
    ) -> dict[str, str]:
        result = dict(headers or {})
        if key is _AUTO:
            key = self.sim.channel_api_key if path.startswith("/api/v1/sms") else self.sim.whatsapp_api_key
        if key is not None:
            result["X-Octopods-Auth"] = str(key)
        if profile is not None:
            result["X-Octopods-Sim-Profile"] = profile
        return result

    def get(
        self,
        path: str,
        *,
        key: object = _AUTO,
        profile: str | None = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> requests.Response:
        return self.session.get(
            self.base_url + path, headers=self._headers(path, key, profile, headers), timeout=10, **kw
        )

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        key: object = _AUTO,
        profile: str | None = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> requests.Response:
        return self.session.post(
            self.base_url + path,
            json=body,
            headers=self._headers(path, key, profile, headers),
            timeout=10,
            **kw,
        )

    def send_wa(
        self,
        phone: str = WA_PHONE,
        template: int | str = 84579,
        variables: object = ("Alex", "1234"),
        *,
        key: object = _AUTO,
        profile: str | None = None,
        **fields: Any,
    ) -> requests.Response:
        body: dict[str, Any] = {"destination_phone": phone, **fields}
        if variables is not None:
            body["message_variables"] = list(variables) if isinstance(variables, tuple) else variables
        return self.post(f"/api/v1/whatsapp/templates/{template}/messages", body, key=key, profile=profile)

    def send_sms(
        self,
        phone: str = SMS_PHONE,
        text: object = "Your code is 482910.",
        *,
        key: object = _AUTO,
        profile: str | None = None,
        **fields: Any,
    ) -> requests.Response:
        body: dict[str, Any] = {"destination_phone": phone, **fields}
        if text is not None:
            body["body"] = text
        return self.post("/api/v1/sms/messages", body, key=key, profile=profile)

    def sent_id(self, response: requests.Response) -> int:
        assert response.status_code == 201, response.text
        return int(response.json()["message_id"])

    def wa_status(self, message_id: int, **kw: Any) -> requests.Response:
        return self.get(f"/api/v1/whatsapp/messages/{message_id}", **kw)

    def sms_status(self, message_id: int, **kw: Any) -> requests.Response:
        return self.get(f"/api/v1/sms/messages/{message_id}", **kw)

    def listing(self, query: str = "", **kw: Any) -> requests.Response:
        return self.get("/api/v1/whatsapp/messages" + query, **kw)


def assert_error(
    response: requests.Response, http_status: int, code: int, text: str | None = None
) -> dict[str, Any]:
    """The documented envelope, exactly: request_id, error_code, error (plus retry_at on 429)."""
    assert response.status_code == http_status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) - {"retry_at"} == {"request_id", "error_code", "error"}, body
    assert body["error_code"] == code, body
    assert isinstance(body["request_id"], str)
    assert len(body["request_id"]) == 36
    if text is not None:
        assert text in body["error"], body
    return dict(body)


@pytest.fixture
def sim() -> Iterator[OctopodsSimulator]:
    """Fast timings (no jitter) so time-driven tests need little waiting."""
    with OctopodsSimulator(
        seed=7, deliver_after=1.0, read_after=2.0, jitter=0.0, sms_queue_for=0.5
    ) as simulator:
        yield simulator


@pytest.fixture
def api(sim: OctopodsSimulator) -> Iterator[Api]:
    client = Api(sim)
    try:
        yield client
    finally:
        client.session.close()

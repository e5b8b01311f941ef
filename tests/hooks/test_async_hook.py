"""The async client triggers use: same parsing and policy as the sync hook, one shared session per loop."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

from airflow_provider_octopods.exceptions import (
    OctopodsAuthError,
    OctopodsConnectionError,
    OctopodsNotFoundError,
    OctopodsServerError,
    OctopodsValidationError,
)
from airflow_provider_octopods.hooks import triggerer_client
from airflow_provider_octopods.hooks.octopods import OctopodsAsyncHook
from airflow_provider_octopods.hooks.triggerer_client import TriggererClient
from airflow_provider_octopods.models import Channel
from tests.data.doc_responses import DOC_RESPONSES, DocResponse
from tests.keys import CHANNEL_KEY, WHATSAPP_KEY, connection_json

if TYPE_CHECKING:
    from tests.canned_server import CannedServer

STATUS_DOCS = [doc for doc in DOC_RESPONSES if doc.endpoint.endswith(".status")]


@pytest.mark.asyncio
@pytest.mark.parametrize("doc", STATUS_DOCS, ids=lambda doc: doc.name)
async def test_every_documented_status_response(octopods_conn: CannedServer, doc: DocResponse) -> None:
    channel = doc.endpoint.split(".")[0]
    octopods_conn.add("GET", f"/api/v1/{channel}/messages/{doc.message_id}", doc.status, doc.body)
    hook = OctopodsAsyncHook()
    async with hook.session() as shared:
        if isinstance(doc.expected, type):
            with pytest.raises(doc.expected):
                await hook.get_message_status(shared, doc.message_id, channel)
        else:
            rendered = (await hook.get_message_status(shared, doc.message_id, channel)).to_dict()
            assert {key: rendered[key] for key in doc.expected} == doc.expected
    expected_key = CHANNEL_KEY if channel == "sms" else WHATSAPP_KEY
    assert octopods_conn.requests[0].headers["X-Octopods-Auth"] == expected_key


@pytest.mark.asyncio
async def test_same_retry_policy_as_the_sync_hook(octopods_conn: CannedServer, no_backoff: None) -> None:
    path = "/api/v1/whatsapp/messages/5"
    octopods_conn.add("GET", path, 503, {"error": "busy"})
    octopods_conn.add("GET", path, 200, b"<html>", headers={"Content-Type": "text/html"})
    octopods_conn.add("GET", path, 200, {"status": "delivered"})
    hook = OctopodsAsyncHook()
    async with hook.session() as shared:
        assert (await hook.get_message_status(shared, 5)).status == "DELIVERED"
    assert len(octopods_conn.requests) == 3


@pytest.mark.asyncio
async def test_gives_up_after_max_retries(octopods_conn: CannedServer, no_backoff: None) -> None:
    octopods_conn.add("GET", "/api/v1/whatsapp/messages/5", 500, {"error": "down"})
    hook = OctopodsAsyncHook()
    async with hook.session() as shared:
        with pytest.raises(OctopodsServerError):
            await hook.get_message_status(shared, 5)
    assert len(octopods_conn.requests) == 4


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "body", "error"),
    [(401, {"error": "no"}, OctopodsAuthError), (404, "", OctopodsNotFoundError)],
)
async def test_permanent_errors_are_not_retried(
    octopods_conn: CannedServer, status: int, body: object, error: type
) -> None:
    octopods_conn.add("GET", "/api/v1/whatsapp/messages/5", status, body)
    hook = OctopodsAsyncHook()
    async with hook.session() as shared:
        with pytest.raises(error):
            await hook.get_message_status(shared, 5)
    assert len(octopods_conn.requests) == 1


@pytest.mark.asyncio
async def test_dropped_connections_and_timeouts(
    monkeypatch: pytest.MonkeyPatch, canned: CannedServer, no_backoff: None
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OCTOPODS_DEFAULT",
        connection_json(canned.base_url, whatsapp_api_key=WHATSAPP_KEY, timeout=0.2, max_retries=1),
    )
    canned.add("GET", "/api/v1/whatsapp/messages/1", drop=True)
    canned.add("GET", "/api/v1/whatsapp/messages/2", 200, {"status": "SENT"}, delay=1)
    hook = OctopodsAsyncHook()
    async with hook.session() as shared:
        with pytest.raises(OctopodsConnectionError, match="broke"):
            await hook.get_message_status(shared, 1)
        with pytest.raises(OctopodsConnectionError, match=r"no answer within 0\.2 s"):
            await hook.get_message_status(shared, 2)


@pytest.mark.asyncio
async def test_missing_key_fails_before_any_request(
    monkeypatch: pytest.MonkeyPatch, canned: CannedServer
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OCTOPODS_DEFAULT", connection_json(canned.base_url, whatsapp_api_key=WHATSAPP_KEY)
    )
    hook = OctopodsAsyncHook()
    async with hook.session() as shared:
        with pytest.raises(OctopodsValidationError, match="channel_api_key"):
            await hook.get_message_status(shared, 1, "sms")
    assert canned.requests == []


@pytest.mark.asyncio
async def test_one_shared_session_per_loop_and_base_url_reference_counted(
    octopods_conn: CannedServer,
) -> None:
    for message_id in range(1, 201):
        octopods_conn.add("GET", f"/api/v1/whatsapp/messages/{message_id}", 200, {"status": "SENT"})
    hook = OctopodsAsyncHook()
    base_url = (await hook.get_settings()).base_url

    async def wait(message_id: int) -> None:
        async with TriggererClient.current().session(base_url) as shared:
            await hook.get_message_status(shared, message_id)
            assert TriggererClient.current().open_sessions() == 1

    await asyncio.gather(*(wait(message_id) for message_id in range(1, 201)))
    assert TriggererClient.current().open_sessions() == 0  # closed with its last user
    connections = {request.peer for request in octopods_conn.requests}
    assert len(octopods_conn.requests) == 200
    assert len(connections) <= triggerer_client.CONNECTION_LIMIT


@pytest.mark.asyncio
async def test_a_429_pauses_every_request_of_that_key(octopods_conn: CannedServer) -> None:
    octopods_conn.add(
        "GET", "/api/v1/whatsapp/messages/1", 429, {"error": "slow"}, headers={"Retry-After": "1"}
    )
    octopods_conn.add("GET", "/api/v1/whatsapp/messages/1", 200, {"status": "SENT"})
    octopods_conn.add("GET", "/api/v1/whatsapp/messages/2", 200, {"status": "SENT"})
    octopods_conn.add("GET", "/api/v1/sms/messages/3", 200, {"status": "SENT"})
    hook = OctopodsAsyncHook()
    async with hook.session() as shared:
        first = asyncio.create_task(hook.get_message_status(shared, 1))
        await asyncio.sleep(0.2)  # the 429 has arrived; the WhatsApp key is now paused
        started = time.monotonic()
        await hook.get_message_status(shared, 3, "sms")  # another key is not paused
        sms_elapsed = time.monotonic() - started
        await hook.get_message_status(shared, 2)  # the same key waits for the retry time
        wa_elapsed = time.monotonic() - started
        await first
    assert sms_elapsed < 0.5
    assert wa_elapsed >= 0.6


@pytest.mark.asyncio
async def test_triggers_of_one_loop_share_one_connection_lookup(
    octopods_conn: CannedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.common.compat import connection as compat_connection

    lookups = []
    real = compat_connection.get_async_connection

    async def counting(conn_id: str, hook: object = None) -> object:
        lookups.append(conn_id)
        await asyncio.sleep(0.05)  # a slow secrets backend: everyone arrives while the first loads
        return await real(conn_id, hook=hook)  # type: ignore[arg-type]

    monkeypatch.setattr(compat_connection, "get_async_connection", counting)
    settings = await asyncio.gather(*(OctopodsAsyncHook().get_settings() for _ in range(100)))
    assert lookups == ["octopods_default"]
    assert len({id(item) for item in settings}) == 1


@pytest.mark.asyncio
async def test_a_failed_connection_lookup_is_not_cached(
    monkeypatch: pytest.MonkeyPatch, canned: CannedServer
) -> None:
    from airflow_provider_octopods.exceptions import OctopodsValidationError as Invalid

    monkeypatch.delenv("AIRFLOW_CONN_OCTOPODS_DEFAULT", raising=False)
    with pytest.raises(Invalid, match="no connection 'octopods_default'"):
        await OctopodsAsyncHook().get_settings()
    monkeypatch.setenv(
        "AIRFLOW_CONN_OCTOPODS_DEFAULT", connection_json(canned.base_url, whatsapp_api_key=WHATSAPP_KEY)
    )
    assert (await OctopodsAsyncHook().get_settings()).base_url == canned.base_url


@pytest.mark.parametrize(
    ("environment", "base_url", "expected"),
    [
        (
            {"HTTPS_PROXY": "http://proxy.internal:3128"},
            "https://app.octopods.io",
            "http://proxy.internal:3128",
        ),
        (
            {"https_proxy": "http://proxy.internal:3128", "NO_PROXY": "octopods.io"},
            "https://app.octopods.io",
            None,
        ),
        ({"HTTPS_PROXY": "https://tls-proxy:3129"}, "https://app.octopods.io", None),  # aiohttp cannot use it
        (
            {"HTTP_PROXY": "http://proxy.internal:3128", "NO_PROXY": "127.0.0.1"},
            "http://127.0.0.1:8080",
            None,
        ),
        ({}, "https://app.octopods.io", None),
    ],
)
def test_the_environments_proxy_is_read_once_per_session(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], base_url: str, expected: str | None
) -> None:
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert triggerer_client.proxy_for(base_url) == expected


@pytest.mark.asyncio
async def test_shared_state_is_keyed_by_key_fingerprints_never_by_keys(octopods_conn: CannedServer) -> None:
    """The client's docstring promises it: no shared map is keyed by (or caches) a raw API key."""
    from airflow_provider_octopods import api

    octopods_conn.add("GET", "/api/v1/whatsapp/messages/1", 200, {"status": "SENT"})
    hook = OctopodsAsyncHook()
    async with hook.session() as shared:
        await hook.get_message_status(shared, 1)
        assert list(shared.throttles) == [api.key_fingerprint(WHATSAPP_KEY)]
        assert WHATSAPP_KEY not in repr(shared.throttles)
    assert not hasattr(api.key_fingerprint, "cache_info")  # no process-wide memo of keys
    settings = await hook.get_settings()
    assert WHATSAPP_KEY not in repr(settings)
    assert settings.fingerprint_for(Channel.WHATSAPP) == api.key_fingerprint(WHATSAPP_KEY)

"""
Hooks for the Octopods API: :class:`OctopodsHook` (sync, ``requests``) and :class:`OctopodsAsyncHook`
(async, ``aiohttp``, for triggers).

Both are thin transports around :mod:`airflow_provider_octopods.api`, which builds every request,
reads every response and holds the retry policy; the two classes differ only in how bytes move.
``requests``, ``aiohttp`` and ``tenacity`` are imported on first use, not at module import: DAG files
import this package on every parse.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_octopods import api
from airflow_provider_octopods.exceptions import (
    OctopodsAuthError,
    OctopodsError,
    OctopodsNotFoundError,
    OctopodsRateLimitError,
    OctopodsValidationError,
)
from airflow_provider_octopods.models import Channel, MessageStatus, SendResult, SentMessage

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import requests

    from airflow_provider_octopods.hooks.triggerer_client import SharedSession, TriggererClient

__all__ = ["OctopodsAsyncHook", "OctopodsHook"]

#: (connection id, unknown extra names) already warned about in this process: once is enough.
_WARNED_EXTRAS: set[tuple[str, tuple[str, ...]]] = set()


class _OctopodsConnectionMixin:
    """What both hooks share: the connection's identity and its validated settings."""

    conn_name_attr = "octopods_conn_id"
    default_conn_name = api.DEFAULT_CONN_ID
    conn_type = "octopods"
    hook_name = "Octopods"

    octopods_conn_id: str

    def _missing_connection(self) -> OctopodsValidationError:
        return OctopodsValidationError(
            f"Invalid `octopods_conn_id`: no connection '{self.octopods_conn_id}' is defined. Create it "
            f"(type Octopods) in the UI, or set AIRFLOW_CONN_{self.octopods_conn_id.upper()}.",
            parameter="octopods_conn_id",
        )

    def _settings_from(self, conn: Any, extra: dict[str, Any]) -> api.ConnectionSettings:
        settings = api.connection_settings(
            conn_id=self.octopods_conn_id, host=conn.host, port=conn.port, extra=extra
        )
        if settings.unknown_extras and (settings.conn_id, settings.unknown_extras) not in _WARNED_EXTRAS:
            _WARNED_EXTRAS.add((settings.conn_id, settings.unknown_extras))
            self.log.warning(  # type: ignore[attr-defined]
                "Connection '%s' has extra fields this provider does not read, so they are ignored: %s.",
                settings.conn_id,
                api.describe_unknown_extras(settings.unknown_extras),
            )
        return settings

    def _log_retry(self, request: api.ApiRequest, max_retries: int) -> Any:
        def on_retry(error: BaseException, wait: float, failures: int) -> None:
            self.log.warning(api.retry_log_line(request, error, wait, failures, max_retries))  # type: ignore[attr-defined]

        return on_retry


class OctopodsHook(_OctopodsConnectionMixin, BaseHook):
    """
    Talk to the Octopods API from tasks: message status, the sent-message listing, sends.

    One pooled ``requests.Session`` per hook. Reads are retried on connection errors, timeouts and
    5xx with exponential backoff and jitter (up to the connection's ``max_retries``); a 429 is waited
    out when its retry time is within ``max_rate_limit_wait`` seconds, else
    :class:`~airflow_provider_octopods.exceptions.OctopodsRateLimitError` is raised with ``retry_at``.
    A send is repeated only when the connection failed before the request could leave, because
    Octopods has no idempotency key. Every argument is validated before any request.

    :param octopods_conn_id: The ``octopods`` connection holding the base URL and the API keys.
    :param max_rate_limit_wait: Longest 429 wait, in seconds, before giving up with
        ``OctopodsRateLimitError`` (a worker slot is held while waiting).
    """

    def __init__(
        self,
        *,
        octopods_conn_id: str = api.DEFAULT_CONN_ID,
        max_rate_limit_wait: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.octopods_conn_id = api.validate_conn_id(octopods_conn_id)
        self.max_rate_limit_wait = api.validate_seconds(max_rate_limit_wait, "max_rate_limit_wait")

    # -- the connection form of Airflow < 3.2 (version_compat.LEGACY_CONNECTION_FORM) --

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Form widgets for the extra fields, derived from the provider's ``conn-fields``."""
        from airflow_provider_octopods.hooks._connection_form import connection_form_widgets

        return connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields, derived from the provider's ``ui-field-behaviour``."""
        from airflow_provider_octopods.hooks._connection_form import ui_field_behaviour

        return ui_field_behaviour()

    # -- plumbing --

    @cached_property
    def settings(self) -> api.ConnectionSettings:
        """The connection, validated (fails with a message naming the bad field)."""
        from airflow.providers.common.compat.sdk import AirflowNotFoundException

        try:
            conn = self.get_connection(self.octopods_conn_id)
        except AirflowNotFoundException:
            raise self._missing_connection() from None
        settings = self._settings_from(conn, conn.extra_dejson)
        from airflow.providers.common.compat.sdk import mask_secret

        for key in (settings.whatsapp_api_key, settings.channel_api_key):
            if key:
                mask_secret(key)
        return settings

    @cached_property
    def session(self) -> requests.Session:
        import requests

        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=8, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def get_conn(self) -> requests.Session:
        """The pooled ``requests.Session`` this hook sends with (the API key is added per request)."""
        return self.session

    def _policy(self, max_retries: int | None = None) -> api.RetryPolicy:
        return api.RetryPolicy(
            max_retries=self.settings.max_retries if max_retries is None else max_retries,
            max_rate_limit_wait=self.max_rate_limit_wait,
        )

    def call(self, request: api.ApiRequest, *, policy: api.RetryPolicy | None = None) -> Any:
        """
        Send ``request`` under the retry policy and return its parsed result.

        The key is looked up first, so a missing key fails before any network traffic.
        """
        import tenacity

        key = self.settings.key_for(request.channel)
        policy = policy or self._policy()
        from airflow_provider_octopods.api.retrying import tenacity_kwargs

        for attempt in tenacity.Retrying(
            **tenacity_kwargs(policy, request, on_retry=self._log_retry(request, policy.max_retries))
        ):
            with attempt:
                return api.parse_response(request, self._transport(request, key))
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _transport(self, request: api.ApiRequest, key: str) -> api.ApiResponse:
        from airflow_provider_octopods.hooks.transports import requests_exchange

        return requests_exchange(self.session, request, key, self.settings)

    # -- public API --

    def get_message_status(self, message_id: int | str, channel: str = "whatsapp") -> MessageStatus:
        """
        The current delivery status of one message.

        :param message_id: The Octopods id returned by the send (a numeric string is accepted).
        :param channel: ``"whatsapp"`` or ``"sms"``; decides the endpoint and the key.
        :raises OctopodsNotFoundError: the id is unknown, or was sent with another key.
        """
        return self.call(api.status_request(message_id, channel))

    def list_sent_messages(self, limit: int = api.LISTING_MAX_LIMIT) -> list[SentMessage]:
        """
        The newest WhatsApp messages sent with this key, newest first.

        The API returns at most 100 and offers no way to page further back; a channel that never
        sent anything gives an empty list.

        :param limit: 1 to 100 (larger values are capped to 100 with a warning).
        """
        return self.call(api.listing_request(limit))

    def send_whatsapp_template(
        self,
        template_id: int | str,
        destination_phone: str,
        message_variables: list[Any] | dict[str, Any] | None = None,
        *,
        header_attachment_url: str | None = None,
        open_intercom_conversation: bool = False,
        intercom_teammate_id: str | None = None,
    ) -> SendResult:
        """
        Send an approved WhatsApp template. Never repeated once the request may have reached Octopods.

        :param template_id: The Octopods template id (from the template page or the template list).
        :param destination_phone: Recipient in E.164, e.g. ``"+14155552671"``.
        :param message_variables: A flat list (body-only templates), an object keyed ``"1"``, ``"2"``,
            ..., or an object of per-section lists (``header``, ``body``, ``footer``, ``buttons``).
        :param header_attachment_url: Public URL of the header media, for media-header templates.
        :param open_intercom_conversation: Also open a CRM conversation for replies.
        :param intercom_teammate_id: Teammate shown as the sender in the CRM.
        """
        return self.call(
            api.whatsapp_send_request(
                template_id,
                destination_phone,
                message_variables,
                header_attachment_url=header_attachment_url,
                open_intercom_conversation=open_intercom_conversation,
                intercom_teammate_id=intercom_teammate_id,
            )
        )

    def send_sms(
        self,
        destination_phone: str,
        body: str,
        *,
        destination_user_name: str | None = None,
        open_intercom_conversation: bool = False,
        intercom_teammate_id: str | None = None,
    ) -> SendResult:
        """
        Send an SMS from the channel of the connection's ``channel_api_key``. Never repeated once sent.

        :param destination_phone: Recipient in E.164.
        :param body: Non-blank text, at most 1,600 characters (never truncated: longer text is refused).
        :param destination_user_name: Name for a contact created by ``open_intercom_conversation``.
        :param open_intercom_conversation: Also open a CRM conversation for replies.
        :param intercom_teammate_id: Teammate shown as the sender in the CRM.
        """
        return self.call(
            api.sms_send_request(
                destination_phone,
                body,
                destination_user_name=destination_user_name,
                open_intercom_conversation=open_intercom_conversation,
                intercom_teammate_id=intercom_teammate_id,
            )
        )

    def test_connection(self) -> tuple[bool, str]:
        """
        Check the connection: its extra field names, then each configured key with one cheap,
        read-only request, without retries.

        WhatsApp: the listing with ``limit=1``. SMS: the status of message 1 (any answer but 401 or
        the deprecated-key error shows the key is accepted; SMS has no other read endpoint). The test
        fails on an extra field this provider does not read (a typo such as ``whatsapp_apikey`` would
        otherwise leave a key silently unset), on a connection with neither key, and on a key
        Octopods rejects; one working key with the other not set is a success that says so.
        """
        try:
            settings = self.settings
        except OctopodsError as error:
            return False, str(error)
        except Exception as error:  # the connection itself could not be read
            return False, f"Could not read connection '{self.octopods_conn_id}': {type(error).__name__}."
        problems: list[str] = []
        if settings.unknown_extras:
            problems.append(
                "Unknown extra fields (ignored): "
                f"{api.describe_unknown_extras(settings.unknown_extras)}. The fields are "
                f"{', '.join(f'`{name}`' for name in api.EXTRA_FIELDS)}."
            )
        channels = settings.configured_channels
        if not channels:
            problems.append(
                f"Connection '{self.octopods_conn_id}' has neither `whatsapp_api_key` nor "
                "`channel_api_key` in its extra."
            )
            return False, " ".join(problems)
        verdicts = [self._probe(channel) for channel in channels]
        all_ok = not problems and all(ok for ok, _ in verdicts)
        lines = [verdict for _, verdict in verdicts]
        lines.extend(f"{channel.key_label}: not set" for channel in Channel if channel not in channels)
        return all_ok, " ".join([*problems, f"{settings.base_url} - " + "; ".join(lines)])

    def _probe(self, channel: Channel) -> tuple[bool, str]:
        """One read-only request with ``channel``'s key: (whether the key works, what to say of it)."""
        probe = api.listing_request(1) if channel is Channel.WHATSAPP else api.status_request(1, Channel.SMS)
        try:
            self.call(probe, policy=api.RetryPolicy(max_retries=0, max_rate_limit_wait=0.0))
        except (OctopodsNotFoundError, OctopodsRateLimitError):
            pass  # the key was accepted: message 1 is not ours, or the key is busy
        except OctopodsAuthError as error:
            return False, f"{channel.key_label}: rejected ({error.message})"
        except OctopodsError as error:
            return False, f"{channel.key_label}: could not be checked ({error.message})"
        return True, f"{channel.key_label}: works"


class OctopodsAsyncHook(_OctopodsConnectionMixin, BaseHook):
    """
    The async twin of :class:`OctopodsHook`, for triggers.

    Requests go through the :class:`~airflow_provider_octopods.hooks.triggerer_client.TriggererClient`
    of the running event loop: its shared aiohttp session of the base URL, its throttle of the key,
    its cached connection settings. They run under the same
    :class:`~airflow_provider_octopods.api.RetryPolicy` as the sync hook, except that 429s are waited
    out without counting as failures: a trigger's own deadline bounds that wait. The connection is
    read through common-compat's async path, never with a blocking call inside the event loop.

    :param octopods_conn_id: The ``octopods`` connection.
    :param client: The shared client to use; by default the one of the running event loop.
    """

    def __init__(
        self,
        *,
        octopods_conn_id: str = api.DEFAULT_CONN_ID,
        client: TriggererClient | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.octopods_conn_id = api.validate_conn_id(octopods_conn_id)
        self._client = client
        self._settings: api.ConnectionSettings | None = None

    @property
    def client(self) -> TriggererClient:
        """The shared client: the one given, else the running event loop's."""
        if self._client is None:
            from airflow_provider_octopods.hooks.triggerer_client import TriggererClient

            self._client = TriggererClient.current()
        return self._client

    async def get_settings(self) -> api.ConnectionSettings:
        """The connection, validated; shared with the other triggers of this event loop for a while."""
        if self._settings is None:
            self._settings = await self.client.settings(self.octopods_conn_id, self._load_settings)
        return self._settings

    def reset_settings(self) -> None:
        """Read the connection again at the next call (after it failed, say: it may have been mended)."""
        self._settings = None

    async def _load_settings(self) -> api.ConnectionSettings:
        from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
        from airflow.providers.common.compat.sdk import AirflowNotFoundException

        try:
            conn = await get_async_connection(self.octopods_conn_id, hook=self)
        except AirflowNotFoundException:
            raise self._missing_connection() from None
        return self._settings_from(conn, await get_async_extra_dejson(conn))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SharedSession]:
        """Borrow the shared session of this connection's base URL for the ``with`` block."""
        settings = await self.get_settings()
        async with self.client.session(settings.base_url) as shared:
            yield shared

    async def call(
        self, shared: SharedSession, request: api.ApiRequest, *, policy: api.RetryPolicy | None = None
    ) -> Any:
        """
        Send ``request`` on the borrowed session under the retry policy; return the parsed result.

        **The fast path.** The first attempt runs on its own, outside tenacity: nearly every poll
        succeeds at once, and a thousand waits poll all the time, so building a retry loop for each
        would be spent in vain (``bench/triggerer_fleet.py --candidate`` with every call through
        tenacity: 0.46 ms of CPU per poll instead of 0.36 ms, for 1,000 waits). Only a failure the
        policy retries builds the tenacity loop, into which that failure is replayed as its first
        attempt, so counting, waits and log lines are exactly those of the loop.
        """
        settings = await self.get_settings()
        key = settings.key_for(request.channel)
        try:
            return await self._attempt(shared, request, key, settings)
        except OctopodsError as error:
            policy = policy or api.RetryPolicy(max_retries=settings.max_retries, max_rate_limit_wait=None)
            if not policy.is_retryable(error, request):
                raise
            replay: list[OctopodsError] = [error]

        import tenacity

        from airflow_provider_octopods.api.retrying import tenacity_kwargs

        async for attempt in tenacity.AsyncRetrying(
            **tenacity_kwargs(policy, request, on_retry=self._log_retry(request, policy.max_retries))
        ):
            with attempt:
                if replay:
                    raise replay.pop()
                return await self._attempt(shared, request, key, settings)
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    async def _attempt(
        self, shared: SharedSession, request: api.ApiRequest, key: str, settings: api.ConnectionSettings
    ) -> Any:
        """One request through the key's throttle, parsed; a 429 slows the whole key down."""
        fingerprint = settings.fingerprint_for(request.channel)
        throttle = shared.throttle(fingerprint)
        async with throttle.slot(send=request.method != "GET") as sent_at:
            response = await self._transport(shared, request, key, settings)
        try:
            result = api.parse_response(request, response)
        except OctopodsRateLimitError as error:
            if throttle.rate_limited(error.retry_at.timestamp(), sent_at=sent_at):
                self.log.warning(
                    "Octopods rate-limited the API key with fingerprint %s: "
                    "this process now paces that key's requests at %.1f/s.",
                    fingerprint,
                    throttle.rate,
                )
            raise
        finally:
            if response.status_code != 429:
                throttle.accepted()
        return result

    async def _transport(
        self, shared: SharedSession, request: api.ApiRequest, key: str, settings: api.ConnectionSettings
    ) -> api.ApiResponse:
        from airflow_provider_octopods.hooks.transports import aiohttp_exchange

        return await aiohttp_exchange(shared, request, key, settings)

    async def get_message_status(
        self, shared: SharedSession, message_id: int | str, channel: str = "whatsapp"
    ) -> MessageStatus:
        """The current delivery status of one message (see :meth:`OctopodsHook.get_message_status`)."""
        return await self.call(shared, api.status_request(message_id, channel))

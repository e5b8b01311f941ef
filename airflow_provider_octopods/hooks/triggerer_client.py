"""
:class:`TriggererClient`: what every trigger of one event loop shares when it talks to Octopods.

A triggerer runs thousands of triggers in one event loop. Each trigger on its own would open a
session (a TCP+TLS handshake per wait and megabytes of buffers, or worse, one per poll as the http
provider's ``HttpEventTrigger`` does), discover a rate limit by itself, and read its connection from
the secrets backends. One client per loop shares all three instead.
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_octopods.hooks.listing_feed import ListingFeed
from airflow_provider_octopods.hooks.throttle import KeyThrottle

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import aiohttp

    from airflow_provider_octopods.api import ConnectionSettings
    from airflow_provider_octopods.hooks.listing_feed import Fetch

#: Most TCP connections one process opens to one base URL: the concurrency cap of the shared pool.
CONNECTION_LIMIT = 32
#: How long an idle keep-alive connection is kept (seconds).
KEEPALIVE_SECONDS = 30.0
#: How long the triggers of one event loop share the settings read from a connection (seconds).
SETTINGS_TTL = 30.0

SettingsLoader = Callable[[], Coroutine[Any, Any, "ConnectionSettings"]]


@dataclass
class SharedSession:
    """
    A borrowed session of one base URL, with the throttle and the listing feed of each key used on it.

    The throttles outlive the session: the :class:`TriggererClient` hands the same map to every session
    of the base URL, so a key's pause and pace hold when the last wait of a moment ends and the next
    one opens a new session (a triggerer that adopts the waits of a dead one, for instance).
    """

    session: aiohttp.ClientSession
    base_url: str
    proxy: str | None = None
    references: int = 0
    throttles: dict[str, KeyThrottle] = field(default_factory=dict)
    feeds: dict[str, ListingFeed] = field(default_factory=dict)

    def throttle(self, fingerprint: str) -> KeyThrottle:
        """The throttle of the key with this :func:`~airflow_provider_octopods.api.key_fingerprint`."""
        throttle = self.throttles.get(fingerprint)
        if throttle is None:
            throttle = self.throttles[fingerprint] = KeyThrottle(max_in_flight=CONNECTION_LIMIT)
        return throttle

    def listing_feed(self, fingerprint: str, fetch: Fetch) -> ListingFeed:
        """
        The WhatsApp listing feed of the key with this fingerprint; ``fetch`` makes its request the
        first time (every caller's key is the same key, so any caller's request will do).
        """
        feed = self.feeds.get(fingerprint)
        if feed is None:
            feed = self.feeds[fingerprint] = ListingFeed(fetch)
        return feed


class TriggererClient:
    """
    The Octopods client state shared by every trigger of one event loop; :meth:`current` gives it.

    It shares four things, each for a reason:

    * **One aiohttp session per base URL**, reference-counted, with a bounded connector
      (:data:`CONNECTION_LIMIT`): 1,000 waits share a few dozen keep-alive connections, and the
      session closes when its last borrower is done.
    * **One throttle per API key** (:class:`~airflow_provider_octopods.hooks.throttle.KeyThrottle`):
      when Octopods answers 429 on a key, every request of that key in the process waits until the
      retry time and then goes at a pace the API accepts, instead of each trigger discovering the
      limit on its own. A throttle lives as long as the event loop, not the session: what it
      learnt about the key's limit holds for the waits that come later.
    * **One WhatsApp listing feed per key**
      (:class:`~airflow_provider_octopods.hooks.listing_feed.ListingFeed`): one listing request
      reads the status of the key's newest 100 messages, so the waits of a key share it instead of
      polling each message.
    * **The settings of each connection** for :data:`SETTINGS_TTL` seconds: a thousand triggers
      starting together would otherwise each initialise the secrets backends and look the
      connection up (with a remote backend, a thousand round trips).

    No map here is keyed by an API key: throttles are keyed by the key's short SHA-256 fingerprint,
    computed once when a connection's settings load. The only place a key lives is inside those
    cached settings, which must hold it to send it, and which are dropped when their entry expires.
    """

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TriggererClient]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self) -> None:
        self._sessions: dict[str, SharedSession] = {}
        self._throttles: dict[str, dict[str, KeyThrottle]] = {}  # base URL -> key fingerprint -> throttle
        self._settings: dict[str, tuple[float, asyncio.Task[ConnectionSettings]]] = {}

    @classmethod
    def current(cls) -> TriggererClient:
        """The client of the running event loop (created on first use, gone with the loop)."""
        loop = asyncio.get_running_loop()
        client = cls._by_loop.get(loop)
        if client is None:
            client = cls._by_loop[loop] = cls()
        return client

    # -- sessions ----------------------------------------------------------------------------------

    @asynccontextmanager
    async def session(self, base_url: str) -> AsyncIterator[SharedSession]:
        """Borrow the session of ``base_url`` for the ``with`` block."""
        entry = self._sessions.get(base_url)
        if entry is None or entry.session.closed:
            entry = SharedSession(
                session=_new_session(),
                base_url=base_url,
                proxy=proxy_for(base_url),
                throttles=self._throttles.setdefault(base_url, {}),
            )
            self._sessions[base_url] = entry
        entry.references += 1
        try:
            yield entry
        finally:
            entry.references -= 1
            if entry.references == 0 and self._sessions.get(base_url) is entry:
                del self._sessions[base_url]
                await entry.session.close()

    def open_sessions(self) -> int:
        """How many shared sessions are open (for tests and benchmarks)."""
        return len(self._sessions)

    # -- connection settings -----------------------------------------------------------------------

    async def settings(self, conn_id: str, load: SettingsLoader) -> ConnectionSettings:
        """
        The settings of connection ``conn_id``, loaded once for all triggers of this loop for a while.

        The first caller loads; the others await the same task. A failed load is not kept, and
        after :data:`SETTINGS_TTL` seconds the next caller loads again, so a rotated key reaches new
        waits quickly.
        """
        now = time.monotonic()
        entry = self._settings.get(conn_id)
        if entry is None or entry[0] <= now:
            task = asyncio.get_running_loop().create_task(load())
            entry = self._settings[conn_id] = (now + SETTINGS_TTL, task)
            task.add_done_callback(functools.partial(self._forget_failed_load, conn_id))
        # Shielded: one cancelled waiter (a trigger that ends) must not cancel the others' load.
        return await asyncio.shield(entry[1])

    def _forget_failed_load(self, conn_id: str, done: asyncio.Task[Any]) -> None:
        failed = done.cancelled() or done.exception() is not None
        current = self._settings.get(conn_id)
        if failed and current is not None and current[1] is done:  # not a newer load's entry
            del self._settings[conn_id]


def _new_session() -> aiohttp.ClientSession:
    import aiohttp

    connector = aiohttp.TCPConnector(
        limit=CONNECTION_LIMIT,
        limit_per_host=0,
        keepalive_timeout=KEEPALIVE_SECONDS,
        ttl_dns_cache=300,
    )
    # Per-request timeouts are set on each request; waiting for a pooled connection is unbounded here
    # because the caller's own deadline bounds it.
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=True,
        # The environment's proxy is read once per session (see ``proxy_for``): with ``trust_env``
        # aiohttp reads the proxy variables and ~/.netrc again, in a thread, on every request.
        trust_env=False,
        raise_for_status=False,
    )


def proxy_for(base_url: str) -> str | None:
    """
    The proxy the environment (``HTTPS_PROXY``/``HTTP_PROXY``, minus ``NO_PROXY``) names for ``base_url``.

    Only ``http://`` proxies are returned: aiohttp cannot tunnel through an ``https://`` proxy, and
    ignores one with ``trust_env`` too.
    """
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    if parts.hostname is None or urllib.request.proxy_bypass(parts.hostname):
        return None
    proxy = urllib.request.getproxies_environment().get(parts.scheme)
    return proxy if proxy and proxy.startswith("http://") else None

"""
One aiohttp ``ClientSession`` per event loop and base URL, shared by every trigger of a process.

A triggerer runs thousands of triggers in one event loop. A session per trigger (or worse, per poll,
as the http provider's ``HttpEventTrigger`` does) costs a TCP+TLS handshake per wait and megabytes
of buffers per session. Here all triggers of a loop borrow one reference-counted session whose
connector is bounded, so 1,000 waits share a few dozen keep-alive connections, and the session is
closed when the last borrower is done.

The shared entry also holds one :class:`KeyThrottle` per API key: when Octopods answers 429 on a
key, every request of that key in the process waits until the retry time and then goes at a pace the
API accepts, instead of each trigger discovering the limit on its own. Keys are held only as a short
SHA-256 fingerprint.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
import weakref
from collections import deque
from collections.abc import Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import aiohttp

T = TypeVar("T")

#: Most TCP connections one process opens to one base URL: the concurrency cap of the shared pool.
CONNECTION_LIMIT = 32
#: How long an idle keep-alive connection is kept (seconds).
KEEPALIVE_SECONDS = 30.0


@functools.lru_cache(maxsize=64)
def key_fingerprint(key: str) -> str:
    """A short, non-reversible name for a key, safe to keep in memory maps and log lines."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


class KeyThrottle:
    """
    Pacing shared by every request of one API key in this process (all triggers of a triggerer).

    * At most :data:`CONNECTION_LIMIT` requests of the key are in flight: the rest wait here, where
      a rate limit can still hold them back, instead of inside the connection pool, where they would
      go out whatever happens.
    * After a 429 the key pauses until the retry time Octopods gave, and from then on requests are
      spaced at a rate: half of what the API accepted in the second before the first 429, halved
      again on each later 429. After a quiet minute the rate grows by a tenth every ten seconds.
      So a thousand waits resume at a pace the API accepts, not in a herd that earns the next 429.
    """

    #: After a 429, no rate increase for this long (seconds).
    COOL_DOWN = 60.0
    #: Then the rate grows by this factor every :attr:`GROWTH_EVERY` seconds without a 429.
    GROWTH = 1.1
    GROWTH_EVERY = 10.0

    def __init__(self) -> None:
        self.paused_until = 0.0
        self.rate: float | None = None  # requests per second; None until the first 429
        self._next_slot = 0.0
        self._accepted: deque[float] = deque()
        self._last_limited = 0.0
        self._last_growth = 0.0
        self._in_flight = asyncio.Semaphore(CONNECTION_LIMIT)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the key's in-flight places, once the pause and the pacing allow."""
        async with self._in_flight:
            await self._wait_turn()
            yield

    async def _wait_turn(self) -> None:
        while True:
            now = time.time()
            if now < self.paused_until:
                await asyncio.sleep(self.paused_until - now)
                continue
            if self.rate is None:
                return
            turn = max(now, self._next_slot)
            self._next_slot = turn + 1.0 / self.rate
            if turn > now:
                await asyncio.sleep(turn - now)
            if time.time() >= self.paused_until:  # a 429 may have arrived while this one slept
                return

    def accepted(self) -> None:
        """An answer that was not a 429."""
        now = time.time()
        self._accepted.append(now)
        while self._accepted and self._accepted[0] < now - 1.0:
            self._accepted.popleft()
        if (
            self.rate is not None
            and now - self._last_limited > self.COOL_DOWN
            and now - self._last_growth > self.GROWTH_EVERY
        ):
            self.rate *= self.GROWTH
            self._last_growth = now

    def rate_limited(self, retry_at: float) -> None:
        """A 429: pause until ``retry_at``, and slow down (once per burst of 429s)."""
        now = time.time()
        self.paused_until = max(self.paused_until, retry_at)
        if now - self._last_limited > 1.0:
            recent = sum(1 for moment in self._accepted if moment >= now - 1.0)
            slower = max(1.0, (self.rate if self.rate is not None else recent) / 2)
            self.rate = slower if self.rate is None else min(self.rate, slower)
        self._last_limited = now
        self._next_slot = max(self._next_slot, self.paused_until)


@dataclass
class SharedSession:
    """A borrowed session, with its per-key throttles."""

    session: aiohttp.ClientSession
    base_url: str
    proxy: str | None = None
    references: int = 0
    throttles: dict[str, KeyThrottle] = field(default_factory=dict)

    def throttle(self, key: str) -> KeyThrottle:
        return self.throttles.setdefault(key_fingerprint(key), KeyThrottle())


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SharedSession]] = (
    weakref.WeakKeyDictionary()
)


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


@asynccontextmanager
async def shared_session(base_url: str) -> AsyncIterator[SharedSession]:
    """Borrow the process's session for ``base_url`` on the running loop for the ``with`` block."""
    loop = asyncio.get_running_loop()
    pool = _pools.setdefault(loop, {})
    entry = pool.get(base_url)
    if entry is None or entry.session.closed:
        entry = SharedSession(session=_new_session(), base_url=base_url, proxy=proxy_for(base_url))
        pool[base_url] = entry
    entry.references += 1
    try:
        yield entry
    finally:
        entry.references -= 1
        if entry.references == 0 and pool.get(base_url) is entry:
            del pool[base_url]
            await entry.session.close()


#: How long the triggers of one event loop share the settings read from a connection (seconds).
SETTINGS_TTL = 30.0

_settings: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, tuple[float, asyncio.Task[Any]]]
] = weakref.WeakKeyDictionary()


async def shared_settings(conn_id: str, load: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """
    The settings of connection ``conn_id``, loaded once for all triggers of this loop for a while.

    A thousand triggers starting together would otherwise each initialise the secrets backends and
    look the connection up (with a remote backend, a thousand round trips). The first caller loads;
    the others await the same task. A failed load is not kept, and after :data:`SETTINGS_TTL`
    seconds the next caller loads again, so a rotated key reaches new waits quickly.
    """
    loop = asyncio.get_running_loop()
    cache = _settings.setdefault(loop, {})
    now = time.monotonic()
    entry = cache.get(conn_id)
    if entry is None or entry[0] <= now:
        task: asyncio.Task[Any] = loop.create_task(load())
        cache[conn_id] = (now + SETTINGS_TTL, task)

        def forget_failure(done: asyncio.Task[Any]) -> None:
            failed = done.cancelled() or done.exception() is not None
            current = cache.get(conn_id)
            if failed and current is not None and current[1] is done:  # not a newer load's entry
                del cache[conn_id]

        task.add_done_callback(forget_failure)
        entry = cache[conn_id]
    # Shielded: one cancelled waiter (a trigger that ends) must not cancel the others' load.
    return await asyncio.shield(entry[1])


def open_sessions() -> int:
    """How many shared sessions are open on the running loop (for tests and benchmarks)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return 0
    return len(_pools.get(loop, {}))

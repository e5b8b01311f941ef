"""
One aiohttp ``ClientSession`` per event loop and base URL, shared by every trigger of a process.

A triggerer runs thousands of triggers in one event loop. A session per trigger (or worse, per poll,
as the http provider's ``HttpEventTrigger`` does) costs a TCP+TLS handshake per wait and megabytes
of buffers per session. Here all triggers of a loop borrow one reference-counted session whose
connector is bounded, so 1,000 waits share a few dozen keep-alive connections, and the session is
closed when the last borrower is done.

The shared entry also holds one :class:`KeyGate` per API key: when Octopods answers 429 on a key,
every request of that key in the process waits until the retry time, instead of each trigger
discovering the limit on its own. Keys are held only as a short SHA-256 fingerprint.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import aiohttp

#: Most TCP connections one process opens to one base URL: the concurrency cap of the shared pool.
CONNECTION_LIMIT = 32
#: How long an idle keep-alive connection is kept (seconds).
KEEPALIVE_SECONDS = 30.0


def key_fingerprint(key: str) -> str:
    """A short, non-reversible name for a key, safe to keep in memory maps and log lines."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass
class KeyGate:
    """
    The pause shared by every request of one API key in this process.

    After a 429 the gate stays closed until the retry time the API gave; requests queue on it and
    are released spread over a short window, so the key does not resume with a burst that would
    earn the next 429 at once.
    """

    paused_until: float = 0.0
    _released_at: float = 0.0
    spacing: float = 0.0

    def pause_until(self, epoch: float, *, spacing: float = 0.02) -> None:
        if epoch > self.paused_until:
            self.paused_until = epoch
            self.spacing = spacing

    async def wait(self) -> None:
        while True:
            now = time.time()
            if now >= self.paused_until:
                break
            await asyncio.sleep(self.paused_until - now)
        if self.spacing:
            # Release waiters one slot apart after a pause, then stop spacing once the queue drained.
            slot = max(time.time(), self._released_at + self.spacing)
            self._released_at = slot
            delay = slot - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:
                self.spacing = 0.0


@dataclass
class SharedSession:
    """A borrowed session, with its per-key gates."""

    session: aiohttp.ClientSession
    base_url: str
    references: int = 0
    gates: dict[str, KeyGate] = field(default_factory=dict)

    def gate(self, key: str) -> KeyGate:
        return self.gates.setdefault(key_fingerprint(key), KeyGate())


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
        trust_env=True,
        raise_for_status=False,
    )


@asynccontextmanager
async def shared_session(base_url: str) -> AsyncIterator[SharedSession]:
    """Borrow the process's session for ``base_url`` on the running loop for the ``with`` block."""
    loop = asyncio.get_running_loop()
    pool = _pools.setdefault(loop, {})
    entry = pool.get(base_url)
    if entry is None or entry.session.closed:
        entry = SharedSession(session=_new_session(), base_url=base_url)
        pool[base_url] = entry
    entry.references += 1
    try:
        yield entry
    finally:
        entry.references -= 1
        if entry.references == 0 and pool.get(base_url) is entry:
            del pool[base_url]
            await entry.session.close()


def open_sessions() -> int:
    """How many shared sessions are open on the running loop (for tests and benchmarks)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return 0
    return len(_pools.get(loop, {}))

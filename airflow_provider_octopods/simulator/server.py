"""Running the simulator: :class:`SimulatorServer` in the current event loop, or
:class:`OctopodsSimulator` in a background thread with its own loop (for sync tests and scripts).

Built for many concurrent pollers: a 4096-connection listen backlog and a 300 s keep-alive by
default, no access log (it would cost time and could leak headers), and connection counting
through the server's own connection hooks so keep-alive reuse is visible in the statistics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .app import build_app
from .client import SimulatorAdminClient
from .config import SimulatorConfig
from .core import SimulatorCore
from .keys import KeyFamily, fingerprint

if TYPE_CHECKING:
    from types import TracebackType

    from .stats import Stats

logger = logging.getLogger("airflow_provider_octopods.simulator")


def _config(config: SimulatorConfig | None, options: dict[str, Any]) -> SimulatorConfig:
    if config is None:
        return SimulatorConfig(**options)
    return dataclasses.replace(config, **options) if options else config


def _count_connections(server: web.Server, stats: Stats) -> None:
    """Wrap the server's per-connection hooks so real TCP connections are counted.

    ``web.Server.connection_made``/``connection_lost`` are called by each connection's protocol
    exactly once, whatever number of keep-alive requests it carries.
    """
    made, lost = server.connection_made, server.connection_lost

    def connection_made(handler: Any, transport: Any) -> None:
        stats.connection_made()
        made(handler, transport)

    def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
        stats.connection_lost()
        lost(handler, exc)

    setattr(server, "connection_made", connection_made)  # noqa: B010 - instance override is the point
    setattr(server, "connection_lost", connection_lost)  # noqa: B010


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class SimulatorServer:
    """The simulator bound to a port in the *running* event loop (use from async code or the CLI)."""

    def __init__(self, config: SimulatorConfig | None = None, **options: Any) -> None:
        self.config = _config(config, options)
        self.core = SimulatorCore(self.config)
        self._runner: web.AppRunner | None = None
        self.port = self.config.port

    async def start(self) -> None:
        config = self.config
        runner = web.AppRunner(
            build_app(self.core),
            access_log=None,
            keepalive_timeout=config.keepalive_timeout,
            shutdown_timeout=config.shutdown_timeout,
            handle_signals=False,
        )
        await runner.setup()
        assert runner.server is not None
        _count_connections(runner.server, self.core.stats)
        site = web.TCPSite(runner, config.host, config.port, backlog=config.backlog, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self.core.base_url = f"http://{_url_host(config.host)}:{self.port}"
        logger.info(
            "Octopods simulator listening on %s (whatsapp %s, channel %s)",
            self.core.base_url,
            fingerprint(self.whatsapp_api_key),
            fingerprint(self.channel_api_key),
        )

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            logger.info("Octopods simulator on %s stopped", self.core.base_url)

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return self.core.base_url

    @property
    def admin_url(self) -> str:
        return self.core.base_url + "/_simulator"

    @property
    def whatsapp_api_key(self) -> str:
        """The current primary WhatsApp key (changes after a rotation)."""
        return self.core.keys.primary(KeyFamily.WHATSAPP).value

    @property
    def channel_api_key(self) -> str:
        """The current primary channel (SMS) key (changes after a rotation)."""
        return self.core.keys.primary(KeyFamily.CHANNEL).value

    def info(self) -> dict[str, str]:
        """What the CLI prints as its first line."""
        return {
            "base_url": self.base_url,
            "whatsapp_api_key": self.whatsapp_api_key,
            "channel_api_key": self.channel_api_key,
            "admin_url": self.admin_url,
        }


class OctopodsSimulator:
    """A simulator serving from a background thread; for sync tests, scripts and notebooks.

    >>> with OctopodsSimulator(seed=1, deliver_after=0.2) as sim:   # doctest: +SKIP
    ...     sim.base_url, sim.whatsapp_api_key
    ...     sim.admin.inject_fault("status", count=1)

    Keyword options are the fields of :class:`SimulatorConfig`.
    """

    def __init__(self, config: SimulatorConfig | None = None, **options: Any) -> None:
        self._server = SimulatorServer(config, **options)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._admin: SimulatorAdminClient | None = None

    @property
    def config(self) -> SimulatorConfig:
        return self._server.config

    @property
    def core(self) -> SimulatorCore:
        """The live state, for in-process inspection only (it belongs to the server thread)."""
        return self._server.core

    def start(self, timeout: float = 10.0) -> OctopodsSimulator:
        """Start serving; returns once the port is bound (raises what binding raised)."""
        if self._thread is not None:
            raise RuntimeError("this simulator was already started")
        self._thread = threading.Thread(target=self._run, name="octopods-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the Octopods simulator did not start in time")
        if self._error is not None:
            self._thread.join(timeout)
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self._server.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self._server.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread (idempotent)."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None or loop is None or stop is None or not thread.is_alive():
            return
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)

    def __enter__(self) -> OctopodsSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._error is None

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def admin_url(self) -> str:
        return self._server.admin_url

    @property
    def whatsapp_api_key(self) -> str:
        return self._server.whatsapp_api_key

    @property
    def channel_api_key(self) -> str:
        return self._server.channel_api_key

    @property
    def admin(self) -> SimulatorAdminClient:
        """A synchronous admin client for this simulator."""
        if self._admin is None:
            self._admin = SimulatorAdminClient(self.base_url)
        return self._admin

    def info(self) -> dict[str, str]:
        return self._server.info()

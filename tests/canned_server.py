"""A loopback HTTP server with canned answers, for testing exact response bodies over real HTTP."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Canned:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int] | None = None  # the client's address: one per TCP connection

    def json(self) -> Any:
        return json.loads(self.body)


class CannedServer:
    """
    Answers each (method, path) from a queue of canned responses; the last one repeats.

    Unknown routes get 599 so that a test never passes by accident on an unexpected request.
    """

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], deque[Canned]] = {}
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(
        self,
        method: str,
        path: str,
        status: int = 200,
        body: Any = b"",
        *,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        drop: bool = False,
    ) -> None:
        if isinstance(body, str):
            raw = body.encode()
        elif isinstance(body, bytes):
            raw = body
        else:
            raw = json.dumps(body).encode()
        content_type = {"Content-Type": "application/json"} if raw and not isinstance(body, str) else {}
        if isinstance(body, str):
            content_type = {"Content-Type": "application/json"}
        canned = Canned(status, raw, {**content_type, **(headers or {})}, delay, drop)
        self._routes.setdefault((method.upper(), path), deque()).append(canned)

    def requests_to(self, path: str) -> list[Recorded]:
        return [request for request in self.requests if request.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), dict(request.headers), body, peer)
        )
        queue = self._routes.get((request.method, request.path))
        if not queue:
            return web.Response(status=599, text="no canned response")
        canned = queue.popleft() if len(queue) > 1 else queue[0]
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if canned.delay:
                await asyncio.sleep(canned.delay)
        finally:
            self.in_flight -= 1
        if canned.drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        return web.Response(status=canned.status, body=canned.body, headers=canned.headers)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def __enter__(self) -> CannedServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

"""Throughput of the Octopods simulator under 1,000 concurrent keep-alive pollers.

Starts the simulator in a subprocess (so client and server do not share one event loop), opens
``--connections`` keep-alive aiohttp connections that poll the WhatsApp status endpoint for
``--duration`` seconds, and prints requests/s, p50/p99 latency and the connections the server
accepted. The same load is then run against a bare aiohttp "hello" handler (also a subprocess) as
the ceiling this machine and client can reach, and both are printed side by side.

    python bench/simulator_throughput.py            # 1,000 connections, 5 s per server
    python bench/simulator_throughput.py --quick    # smoke run: 100 connections, 1 s

This is a benchmark, not a test: it asserts nothing except that every request succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from airflow_provider_octopods.simulator import SimulatorAdminClient, SimulatorProcess

ROOT = Path(__file__).resolve().parents[1]

#: The reference: the cheapest aiohttp JSON handler on the same kind of server (keep-alive, backlog).
BARE_SERVER = """
import asyncio, json, sys
from aiohttp import web

async def status(request):
    return web.json_response({"message_id": int(request.match_info["id"]), "status": "DELIVERED"})

async def main():
    app = web.Application()
    app.router.add_get("/api/v1/whatsapp/messages/{id}", status)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=300)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    port = runner.addresses[0][1]
    print(json.dumps({"base_url": f"http://127.0.0.1:{port}"}), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    connections: int | None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _spawn(args: list[str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=_env())
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError(f"server did not start: {args}")
    return proc, json.loads(line)


async def _load(
    url: str, headers: dict[str, str], connections: int, duration: float, warmup: float
) -> Result:
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    measuring = asyncio.Event()
    stop_at = [0.0]
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as session:

        async def worker() -> None:
            perf = time.perf_counter
            while True:
                started = perf()
                if stop_at[0] and started >= stop_at[0]:
                    return
                try:
                    async with session.get(url) as response:
                        await response.read()
                        ok = response.status == 200
                except aiohttp.ClientError:
                    ok = False
                if measuring.is_set():
                    latencies.append(perf() - started)
                    counts["ok" if ok else "errors"] += 1

        tasks = [asyncio.create_task(worker()) for _ in range(connections)]
        await asyncio.sleep(warmup)  # every connection is open and warm before measuring
        measuring.set()
        began = time.perf_counter()
        stop_at[0] = began + duration
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    return Result("", counts["ok"], counts["errors"], elapsed, latencies, None)


def run_simulator(connections: int, duration: float, warmup: float) -> Result:
    simulator = SimulatorProcess("--seed", "1", env=_env()).start()
    try:
        admin = SimulatorAdminClient(simulator.base_url, timeout=30)
        message_id = admin.add_message("+14155552671", status="DELIVERED")
        url = f"{simulator.base_url}/api/v1/whatsapp/messages/{message_id}"
        admin.reset_stats()
        result = asyncio.run(
            _load(url, {"X-Octopods-Auth": simulator.whatsapp_api_key}, connections, duration, warmup)
        )
        stats = admin.stats(messages=False)
        result.name = "octopods simulator"
        result.connections = int(stats["connections"]["accepted"]) - 1  # minus this stats call
        return result
    finally:
        simulator.stop()


def run_bare(connections: int, duration: float, warmup: float) -> Result:
    proc, info = _spawn([sys.executable, "-c", BARE_SERVER])
    try:
        url = f"{info['base_url']}/api/v1/whatsapp/messages/1"
        result = asyncio.run(_load(url, {}, connections, duration, warmup))
        result.name = "bare aiohttp handler"
        return result
    finally:
        proc.terminate()
        proc.wait(10)


def report(results: list[Result], connections: int) -> None:
    sim, bare = results
    rows = [
        (
            "requests/s",
            f"{sim.rps:,.0f}",
            f"{bare.rps:,.0f}",
            f"{sim.rps / bare.rps:.2f}" if bare.rps else "-",
        ),
        ("p50 latency (ms)", f"{sim.percentile(0.50):.1f}", f"{bare.percentile(0.50):.1f}", ""),
        ("p99 latency (ms)", f"{sim.percentile(0.99):.1f}", f"{bare.percentile(0.99):.1f}", ""),
        (
            "mean latency (ms)",
            f"{statistics.fmean(sim.latencies) * 1000:.1f}",
            f"{statistics.fmean(bare.latencies) * 1000:.1f}",
            "",
        ),
        ("requests measured", f"{sim.requests:,}", f"{bare.requests:,}", ""),
        ("errors", str(sim.errors), str(bare.errors), ""),
        ("connections accepted", str(sim.connections), "n/a", ""),
    ]
    print(f"\n{connections} concurrent keep-alive connections polling GET /api/v1/whatsapp/messages/{{id}}")
    print(f"(one client process and one server process; {os.cpu_count()} CPUs)\n")
    header = ("", sim.name, bare.name, "ratio")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print(
            "  ".join(
                str(cell).rjust(widths[i]) if i else str(cell).ljust(widths[i]) for i, cell in enumerate(row)
            )
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per server")
    parser.add_argument("--warmup", type=float, default=1.5, help="seconds to open and warm every connection")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 connections, 1 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.connections, args.duration, args.warmup = 100, 1.0, 0.5
    results = [
        run_simulator(args.connections, args.duration, args.warmup),
        run_bare(args.connections, args.duration, args.warmup),
    ]
    report(results, args.connections)
    return 0 if all(r.errors == 0 and r.requests > 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""What 1,000 concurrent delivery waits cost, side by side with the floor and the alternatives.

Every variant waits for the same 1,000 WhatsApp messages, whose deliveries the simulator spreads
over 0 to 60 s (seeded), polling on the same interval (5 s), and runs in its own fresh client
process against its own fresh simulator process on loopback (so client and server never share an
event loop, and one variant's memory never pollutes the next one's):

* ``fleet``  -- 1,000 ``MessageDeliveryTrigger`` instances (one id each), rebuilt from their
  ``serialize()`` output and run concurrently in one asyncio loop, as a triggerer runs them;
* ``single`` -- one ``MessageDeliveryTrigger`` awaiting all 1,000 ids;
  (both poll each message on its own, ``use_listing=False``: bench/listing_feed.py measures the listing)
* ``floor``  -- a bare, shared, pooled ``aiohttp`` session polling the same ids on the same schedule
  (the cost of the polling itself);
* ``peer``   -- 1,000 ``HttpEventTrigger`` of the official http provider with a response check on the
  JSON status (the closest official building block for a deferrable wait on a JSON status);
* ``poke``   -- one real poke-mode ``HttpSensor`` task process, measured, then scaled to 1,000
  waits (a poke-mode wait holds a worker slot, and a process, for its whole duration).

For each: requests sent (counted by the simulator), requests per message, TCP connections opened
(accepted by the simulator), CPU seconds of the client process, its peak RSS growth, and the
detection lag (the trigger's event, or the poll that saw the status, minus the simulator's
recorded time of the change to DELIVERED). The last lines print the ratios against the targets.

    python bench/triggerer_fleet.py            # 1,000 waits over 0-60 s, poll every 5 s (~5 min)
    python bench/triggerer_fleet.py --quick    # smoke run: 100 waits over 0-5 s, poll every 2 s
    python bench/triggerer_fleet.py --only fleet,floor --profile fleet   # where the CPU goes

This is a benchmark, not a test: it fails only if a wait did not end with a success.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _common import (
    ROOT,
    RssSampler,
    Simulator,
    build_trigger,
    emit,
    first_event,
    install_log_capture,
    machine,
    max_rss_bytes,
    percentile,
    proc_status,
    read_marked,
    remove_home,
    rss_bytes,
    subprocess_env,
    table,
    verdict,
    write_json,
)

PHONE = "+14155552671"
REACHED = frozenset({"DELIVERED", "READ", "DELETED"})
HTTP_CONN_ID = "octopods_http"
VARIANTS = ("fleet", "single", "floor", "peer", "poke")
#: With ``--candidate DIR``: the provider's variants again, importing the package from DIR first.
CANDIDATES = ("fleet_candidate", "single_candidate")
LABELS = {
    "fleet": "fleet: 1,000 MessageDeliveryTrigger",
    "fleet_candidate": "fleet, candidate build",
    "single": "single: 1 MessageDeliveryTrigger, 1,000 ids",
    "single_candidate": "single, candidate build",
    "floor": "floor: bare pooled aiohttp session",
    "peer": "peer: 1,000 HttpEventTrigger",
    "poke": "poke mode: 1,000 HttpSensor (scaled)",
}
MB = 1024 * 1024


@dataclass
class Config:
    waits: int = 1000
    spread: float = 60.0
    poll_interval: float = 5.0
    first_poll_after: float = 3.0
    poke_delivery: float = 12.5
    seed: int = 42

    @classmethod
    def quick(cls) -> Config:
        return cls(waits=100, spread=5.0, poll_interval=2.0, first_poll_after=1.0, poke_delivery=2.5)

    def delays(self) -> list[float]:
        """Seconds from the start of a variant to each message's delivery (seeded, the same for all)."""
        rng = random.Random(self.seed)
        return [round(rng.uniform(0.0, self.spread), 3) for _ in range(self.waits)]


# ==================================================================================================
# Client side: runs in its own process, one variant per process
# ==================================================================================================


class Client:
    """One variant, run in this process: ``run(ids, deadline)`` returns what it observed."""

    def __init__(self, config: Config, sim: dict[str, Any], log_path: Path) -> None:
        self.config = config
        self.sim = sim
        self.detected = install_log_capture(log_path)
        self.events: dict[int, float] = {}
        self.outcomes: Counter[str] = Counter()

    async def run(self, ids: list[int], deadline: float) -> None:
        raise NotImplementedError

    def report(self) -> dict[str, Any]:
        return {
            "events": {str(k): v for k, v in self.events.items()},
            "detected": {str(k): v for k, v in self.detected.items()},
            "outcomes": dict(self.outcomes),
        }

    def reset(self) -> None:
        self.detected.clear()
        self.events.clear()
        self.outcomes.clear()


class FleetClient(Client):
    """One ``MessageDeliveryTrigger`` per message, all in this loop."""

    def _trigger_kwargs(self, ids: list[int], deadline: float) -> dict[str, Any]:
        return {
            "message_ids": ids,
            "deadline": deadline,
            "poll_interval": self.config.poll_interval,
            "first_poll_after": self.config.first_poll_after,
            # Each message polled on its own, as the floor and the peer do: this measures the cost of
            # a poll. What the WhatsApp listing feed saves is measured by bench/listing_feed.py.
            "use_listing": False,
        }

    async def run(self, ids: list[int], deadline: float) -> None:
        from airflow_provider_octopods.triggers.delivery import MessageDeliveryTrigger

        serialized = [MessageDeliveryTrigger(**self._trigger_kwargs([i], deadline)).serialize() for i in ids]
        triggers = [build_trigger(item) for item in serialized]
        results = await asyncio.gather(*(first_event(trigger) for trigger in triggers))
        for message_id, (at, payload) in zip(ids, results, strict=True):
            self.events[message_id] = at
            self.outcomes[payload["status"]] += 1


class SingleClient(FleetClient):
    """One ``MessageDeliveryTrigger`` awaiting every id; per-message times come from its log."""

    async def run(self, ids: list[int], deadline: float) -> None:
        from airflow_provider_octopods.triggers.delivery import MessageDeliveryTrigger

        trigger = build_trigger(MessageDeliveryTrigger(**self._trigger_kwargs(ids, deadline)).serialize())
        at, payload = await first_event(trigger)
        for message_id in ids:
            self.events[message_id] = at
        self.outcomes[payload["status"]] += 1


class FloorClient(Client):
    """The cost of the polling itself: one pooled aiohttp session, the triggers' schedule, no more."""

    async def run(self, ids: list[int], deadline: float) -> None:
        import aiohttp

        from airflow_provider_octopods.hooks.triggerer_client import CONNECTION_LIMIT

        config = self.config
        headers = {"X-Octopods-Auth": self.sim["whatsapp_api_key"], "Accept": "application/json"}
        base = self.sim["base_url"]
        connector = aiohttp.TCPConnector(limit=CONNECTION_LIMIT, limit_per_host=0, keepalive_timeout=30.0)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

            async def watch(message_id: int) -> None:
                url = f"{base}/api/v1/whatsapp/messages/{message_id}"
                interval = config.first_poll_after
                while time.time() < deadline:
                    await asyncio.sleep(interval * random.uniform(0.9, 1.0))
                    async with session.get(url) as response:
                        body = await response.read()
                    if json.loads(body)["status"].upper() in REACHED:
                        self.events[message_id] = time.time()
                        self.outcomes["success"] += 1
                        return
                    interval = min(config.poll_interval, max(interval, 1.0) * 2)
                self.outcomes["timeout"] += 1

            await asyncio.gather(*(watch(message_id) for message_id in ids))


class PeerClient(Client):
    """The official http provider's ``HttpEventTrigger``, one per message, checking the JSON status."""

    async def run(self, ids: list[int], deadline: float) -> None:
        from airflow.providers.http.triggers.http import HttpEventTrigger

        headers = {"X-Octopods-Auth": self.sim["whatsapp_api_key"], "Accept": "application/json"}
        serialized = [
            HttpEventTrigger(
                http_conn_id=HTTP_CONN_ID,
                method="GET",
                endpoint=f"api/v1/whatsapp/messages/{message_id}",
                headers=headers,
                response_check_path="_peer_check.delivered",
                poll_interval=self.config.poll_interval,
            ).serialize()
            for message_id in ids
        ]
        triggers = [build_trigger(item) for item in serialized]
        waits = [
            asyncio.wait_for(first_event(trigger), max(1.0, deadline - time.time())) for trigger in triggers
        ]
        results = await asyncio.gather(*waits, return_exceptions=True)
        for message_id, result in zip(ids, results, strict=True):
            if isinstance(result, BaseException):
                self.outcomes[type(result).__name__] += 1
                continue
            at, payload = result
            self.events[message_id] = at
            self.outcomes[payload["status"]] += 1


CLIENTS: dict[str, type[Client]] = {
    "fleet": FleetClient,
    "single": SingleClient,
    "floor": FloorClient,
    "peer": PeerClient,
}


def client_main(args: argparse.Namespace, config: Config) -> int:
    """A variant's client process: warm up, report ready, run on GO, report what it measured."""
    random.seed(config.seed)
    sim = json.loads(os.environ["OCTOPODS_BENCH_SIM"])
    # The same imports for every variant, before the baseline: a triggerer has them loaded already.
    import _peer_check  # noqa: F401
    import aiohttp  # noqa: F401
    import tenacity  # noqa: F401
    from airflow.providers.http.triggers.http import HttpEventTrigger  # noqa: F401

    from airflow_provider_octopods.triggers.delivery import MessageDeliveryTrigger  # noqa: F401

    client = CLIENTS[args.client](config, sim, Path(os.environ["AIRFLOW_HOME"]) / "triggers.log")
    # Warm-up on one delivered message: lazy imports, connection lookup paths, first allocations.
    asyncio.run(client.run([args.warm_id], time.time() + 60))
    client.reset()
    gc.collect()
    baseline = rss_bytes()
    emit({"ready": True})
    go = json.loads(sys.stdin.readline())
    ids = [int(i) for i in go["ids"]]

    profiler = None
    if args.client_profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU, not wall time spent idle
    with RssSampler() as sampler:
        cpu0, wall0 = time.process_time(), time.time()
        if profiler:
            profiler.enable()
        asyncio.run(client.run(ids, float(go["deadline"])))
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.time() - wall0
    import airflow_provider_octopods

    result = {
        **client.report(),
        "from_checkout": Path(airflow_provider_octopods.__file__).resolve().parents[1] == ROOT,
        "cpu": cpu,
        "wall": wall,
        "rss_baseline": baseline,
        "rss_peak": sampler.peak,
        "rss_samples": sampler.samples,
    }
    if profiler:
        import io
        import pstats

        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(45)
        result["profile"] = out.getvalue()
    emit(result)
    return 0


def poke_client_main(args: argparse.Namespace, config: Config) -> int:
    """
    A poke-mode ``HttpSensor`` task process: import what a task process imports for it, then
    ``execute()`` in poke mode until the message is delivered. Reports its RSS (what a worker slot
    holds for the whole wait), its CPU and its timings.
    """
    import _peer_check
    from airflow.providers.http.sensors.http import HttpSensor

    started_cpu = time.process_time()
    emit({"ready": True, "at": time.time()})
    go = json.loads(sys.stdin.readline())
    message_id = int(go["ids"][0])
    with RssSampler() as sampler:
        sensor = HttpSensor(
            task_id="wait_for_delivery",
            http_conn_id=HTTP_CONN_ID,
            endpoint=f"api/v1/whatsapp/messages/{message_id}",
            headers={"X-Octopods-Auth": json.loads(os.environ["OCTOPODS_BENCH_SIM"])["whatsapp_api_key"]},
            response_check=_peer_check.delivered_sync,
            mode="poke",
            poke_interval=config.poll_interval,
            timeout=config.poke_delivery + 60,
        )
        began = time.time()
        sensor.execute(context={})  # type: ignore[arg-type]
        done = time.time()
    status = proc_status()
    emit(
        {
            "began": began,
            "events": {str(message_id): done},
            "cpu_startup": started_cpu,
            "cpu_wait": time.process_time() - started_cpu,
            "cpu_total": time.process_time(),
            "rss_peak": max(sampler.peak, status.get("VmHWM", 0), max_rss_bytes()),
            "rss_wait": sampler.peak,
            "outcomes": {"success": 1},
        }
    )
    return 0


# ==================================================================================================
# Parent side: one fresh simulator and one fresh client process per variant
# ==================================================================================================


def run_variant(
    name: str,
    config: Config,
    delays: list[float],
    *,
    profile: bool,
    verbose: bool,
    candidate: str | None = None,
) -> dict[str, Any]:
    sim = Simulator.start_with("--jitter", "0", "--read-after", "none", seed=config.seed)
    env = subprocess_env(
        AIRFLOW_CONN_OCTOPODS_DEFAULT=sim.connection_json(),
        AIRFLOW_CONN_OCTOPODS_HTTP=sim.http_connection(),
        OCTOPODS_BENCH_SIM=json.dumps(sim.info),
    )
    if candidate:  # a build of the package to compare, imported before this checkout's
        env["PYTHONPATH"] = os.pathsep.join([candidate, env["PYTHONPATH"]])
    admin = sim.admin
    try:
        warm_id = admin.add_message(PHONE, status="DELIVERED")
        client = name.removesuffix("_candidate")
        command = [
            sys.executable,
            __file__,
            "--client",
            client,
            "--warm-id",
            str(warm_id),
            *config_args(config),
        ]
        if profile:
            command.append("--client-profile")
        spawned = time.time()
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdin is not None
        assert proc.stdout is not None
        echo = sys.stderr if verbose else None
        try:
            ready = read_marked(proc.stdout, echo=echo)
            now = time.time()
            steps = [
                [{"status": "SENT", "after": 0}, {"status": "DELIVERED", "after": delay}] for delay in delays
            ]
            ids = admin.add_messages(
                [{"phone": PHONE, "created_at": now, "steps": message_steps} for message_steps in steps]
            )
            admin.reset_stats()
            proc.stdin.write(json.dumps({"ids": ids, "deadline": now + config.spread + 120}) + "\n")
            proc.stdin.flush()
            result = read_marked(proc.stdout, echo=echo)
            stats = admin.stats()
        finally:
            with contextlib.suppress(Exception):
                proc.stdin.close()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        sim.stop()
        remove_home(env)
    result["ids"] = ids
    result["spawned"] = spawned
    result["ready_at"] = ready.get("at")
    routes = stats["requests_by_route"]
    result["requests"] = int(routes.get("whatsapp.status", 0)) + int(routes.get("whatsapp.list", 0))
    result["requests_total"] = int(stats["requests_total"])
    result["responses"] = stats["responses_by_status"]
    result["connections"] = int(stats["connections"]["accepted"]) - 1  # minus the stats call itself
    result["delivered_at"] = {
        str(i): next(h["at"] for h in stats["messages"][str(i)]["history"] if h["status"] == "DELIVERED")
        for i in ids
        if any(h["status"] == "DELIVERED" for h in stats["messages"][str(i)]["history"])
    }
    return result


def config_args(config: Config) -> list[str]:
    return [
        "--waits",
        str(config.waits),
        "--spread",
        str(config.spread),
        "--poll-interval",
        str(config.poll_interval),
        "--first-poll-after",
        str(config.first_poll_after),
        "--poke-delivery",
        str(config.poke_delivery),
        "--seed",
        str(config.seed),
    ]


def lags(times: dict[str, float], delivered: dict[str, float]) -> list[float]:
    return [times[i] - delivered[i] for i in delivered if i in times]


def summarize(name: str, raw: dict[str, Any], config: Config, delays: list[float]) -> dict[str, Any]:
    """One row of the table, from a variant's raw result."""
    n = config.waits
    label = LABELS[name].replace("1,000", f"{n:,}")
    row: dict[str, Any] = {"variant": name, "label": label, "outcomes": raw["outcomes"]}
    row["from_checkout"] = raw.get("from_checkout", True)
    if name == "poke":
        return summarize_poke(row, raw, config, delays)
    requests = raw["requests"]
    per_message = raw["detected"] if name.startswith("single") else raw["events"]
    lag = lags(per_message, raw["delivered_at"])
    row.update(
        requests=requests,
        requests_per_message=requests / n,
        connections=raw["connections"],
        cpu_s=raw["cpu"],
        cpu_ms_per_poll=1000.0 * raw["cpu"] / requests if requests else float("nan"),
        rss_growth_mb=(raw["rss_peak"] - raw["rss_baseline"]) / MB,
        lag_p50=percentile(lag, 50),
        lag_p95=percentile(lag, 95),
        lag_max=max(lag) if lag else float("nan"),
        lag_count=len(lag),
        wall_s=raw["wall"],
        slot_seconds=0.0,
        worker_memory_mb=0.0,
        non_200=sum(v for k, v in raw["responses"].items() if k != "200"),
    )
    if name.startswith("single"):
        final = lags(raw["events"], raw["delivered_at"])
        row["final_event_lag_after_last_delivery"] = min(final) if final else float("nan")
    return row


def summarize_poke(
    row: dict[str, Any], raw: dict[str, Any], config: Config, delays: list[float]
) -> dict[str, Any]:
    """Scale one measured poke-mode task process to the 1,000 waits of the other variants."""
    measured_lag = lags(raw["events"], raw["delivered_at"])
    polls = raw["requests"]
    startup_s = raw["ready_at"] - raw["spawned"]
    cpu_per_poll = raw["cpu_wait"] / polls if polls else float("nan")
    p = config.poll_interval
    # A poke-mode sensor starts with the send and polls at 0, P, 2P, ...: it sees a delivery at
    # d seconds at the first multiple of P at or after d, and holds its slot from start-up to then.
    detect = [math.ceil(d / p) * p for d in delays]
    polls_each = [round(t / p) + 1 for t in detect]
    model_lag = [t - d for t, d in zip(detect, delays, strict=True)]
    conns_per_poll = raw["connections"] / polls if polls else float("nan")
    rss = raw["rss_peak"]
    row.update(
        requests=sum(polls_each),
        requests_per_message=sum(polls_each) / config.waits,
        connections=round(conns_per_poll * sum(polls_each)),
        cpu_s=config.waits * raw["cpu_startup"] + cpu_per_poll * sum(polls_each),
        cpu_ms_per_poll=1000.0 * cpu_per_poll,
        rss_growth_mb=config.waits * rss / MB,
        lag_p50=percentile(model_lag, 50),
        lag_p95=percentile(model_lag, 95),
        lag_max=max(model_lag),
        lag_count=len(model_lag),
        wall_s=max(detect) + startup_s,
        slot_seconds=sum(startup_s + t for t in detect),
        worker_memory_mb=config.waits * rss / MB,
        measured={
            "process_rss_mb": rss / MB,
            "startup_s": startup_s,
            "startup_cpu_s": raw["cpu_startup"],
            "polls": polls,
            "connections": raw["connections"],
            "cpu_per_poll_ms": 1000.0 * cpu_per_poll,
            "lag_s": measured_lag[0] if measured_lag else float("nan"),
            "delivery_s": config.poke_delivery,
        },
        non_200=sum(v for k, v in raw["responses"].items() if k != "200"),
    )
    return row


def run_poke(config: Config, *, verbose: bool) -> dict[str, Any]:
    """The poke variant: one sensor process on one message, delivered ``poke_delivery`` s after start."""
    one = Config(**{**asdict(config), "waits": 1})
    return run_variant("poke", one, [config.poke_delivery], profile=False, verbose=verbose)


def fmt(value: float, digits: int = 2) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.{digits}f}"


def render_table(rows: dict[str, dict[str, Any]], *, markdown: bool = False) -> str:
    header = [
        "variant",
        "requests",
        "req/msg",
        "TCP conns",
        "CPU s",
        "CPU ms/poll",
        "RSS growth MB",
        "lag p50 s",
        "lag p95 s",
        "lag max s",
        "worker slot-s",
    ]
    body = []
    for name in rows:
        row = rows[name]
        memory = fmt(row["rss_growth_mb"], 1)
        if name == "poke":
            memory = f"{fmt(row['worker_memory_mb'], 0)} held"
        body.append(
            [
                row["label"],
                f"{row['requests']:,}",
                fmt(row["requests_per_message"]),
                f"{row['connections']:,}",
                fmt(row["cpu_s"]),
                fmt(row["cpu_ms_per_poll"], 3),
                memory,
                fmt(row["lag_p50"]),
                fmt(row["lag_p95"]),
                fmt(row["lag_max"]),
                fmt(row["slot_seconds"], 0),
            ]
        )
    return table(header, body, markdown=markdown)


def targets(rows: dict[str, dict[str, Any]], config: Config) -> list[dict[str, Any]]:
    """The issue's targets, each as {name, value, limit, ok, text}."""
    from airflow_provider_octopods.hooks.triggerer_client import CONNECTION_LIMIT

    checks: list[dict[str, Any]] = []

    def check(name: str, value: float, limit: float, text: str) -> None:
        item = {"name": name, "value": value, "limit": limit, "target": f"<= {limit:g}", "text": text}
        checks.append({**item, "ok": bool(value <= limit)})

    floor, peer = rows.get("floor"), rows.get("peer")
    for name in ("fleet", "single", *CANDIDATES):
        row = rows.get(name)
        if row is None:
            continue
        if floor:
            ratio = row["cpu_ms_per_poll"] / floor["cpu_ms_per_poll"]
            check(f"{name} CPU/poll vs floor", ratio, 1.3, f"{name} CPU per poll = {ratio:.2f}x the floor's")
        if peer:
            ratio = row["cpu_ms_per_poll"] / peer["cpu_ms_per_poll"]
            check(f"{name} CPU/poll vs peer", ratio, 0.1, f"{name} CPU per poll = {ratio:.3f}x the peer's")
        check(
            f"{name} connections",
            row["connections"],
            CONNECTION_LIMIT,
            f"{name} opened {row['connections']} TCP connections for {row['requests']:,} polls "
            f"(cap {CONNECTION_LIMIT})",
        )
        check(
            f"{name} p95 lag",
            row["lag_p95"],
            config.poll_interval + 1.0,
            f"{name} p95 detection lag {row['lag_p95']:.2f} s "
            f"(poll interval {config.poll_interval:g} s + 1 s)",
        )
        check(
            f"{name} RSS growth",
            row["rss_growth_mb"],
            40.0 * config.waits / 1000,
            f"{name} peak RSS growth {row['rss_growth_mb']:.1f} MB for {config.waits:,} waits",
        )
    return checks


def ratio_lines(rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    floor, peer, poke, fleet = (rows.get(k) for k in ("floor", "peer", "poke", "fleet"))
    if floor and peer:
        lines.append(
            f"peer CPU per poll = {peer['cpu_ms_per_poll'] / floor['cpu_ms_per_poll']:.1f}x the floor's; "
            f"peer opened {peer['connections']:,} connections "
            f"({peer['connections'] / max(peer['requests'], 1):.2f} "
            "per poll)"
        )
    if poke and fleet:
        lines.append(
            f"poke mode holds {poke['worker_memory_mb'] / 1024:,.1f} GB in 1,000 worker processes "
            f"({poke['measured']['process_rss_mb']:.0f} MB each) and {poke['slot_seconds']:,.0f} worker "
            f"slot-seconds; the fleet adds {fleet['rss_growth_mb']:.1f} MB to one triggerer "
            f"({poke['worker_memory_mb'] / max(fleet['rss_growth_mb'], 0.1):,.0f}x less) and holds no slot"
        )
        lines.append(
            f"poke mode CPU (start-up + polls) = {poke['cpu_s'] / fleet['cpu_s']:.0f}x the fleet's "
            f"({poke['measured']['startup_cpu_s']:.2f} s CPU to start each task process)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 waits over 0-5 s, 2 s polls")
    parser.add_argument("--only", default=",".join(VARIANTS), help="comma-separated variants to run")
    parser.add_argument("--profile", default="", help="comma-separated variants to run under cProfile")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument(
        "--candidate",
        metavar="DIR",
        help="also run the provider's variants with the package imported from DIR (a patched copy), to "
        "measure a change side by side before applying it",
    )
    parser.add_argument(
        "--candidate-label", default="candidate build", help="how the candidate's rows are labelled"
    )
    parser.add_argument("--verbose", action="store_true", help="show the client processes' output")
    parser.add_argument("--client", choices=[*CLIENTS, "poke"], help=argparse.SUPPRESS)
    parser.add_argument("--warm-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client-profile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--waits", type=int)
    parser.add_argument("--spread", type=float)
    parser.add_argument("--poll-interval", type=float)
    parser.add_argument("--first-poll-after", type=float)
    parser.add_argument("--poke-delivery", type=float)
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)

    config = Config.quick() if args.quick else Config()
    for field_name in ("waits", "spread", "poll_interval", "first_poll_after", "poke_delivery", "seed"):
        if getattr(args, field_name) is not None:
            setattr(config, field_name, getattr(args, field_name))
    if args.client == "poke":
        return poke_client_main(args, config)
    if args.client:
        return client_main(args, config)

    wanted = [v for v in VARIANTS if v in args.only.split(",")]
    if args.candidate:
        args.candidate = str(Path(args.candidate).resolve())
        for base in ("single", "fleet"):
            if base in wanted:
                wanted.insert(wanted.index(base) + 1, f"{base}_candidate")
    profiled = set(args.profile.split(",")) - {""}
    delays = config.delays()
    print(
        f"{config.waits:,} delivery waits, deliveries spread over 0-{config.spread:g} s "
        f"(seed {config.seed}), "
        f"poll interval {config.poll_interval:g} s (first poll after {config.first_poll_after:g} s); "
        f"one fresh client process and one fresh simulator process per variant, on loopback; "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    raw: dict[str, dict[str, Any]] = {}
    rows: dict[str, dict[str, Any]] = {}
    for name in wanted:
        print(f"  running {name} ...", flush=True)
        if name == "poke":
            raw[name] = run_poke(config, verbose=args.verbose)
        else:
            raw[name] = run_variant(
                name,
                config,
                delays,
                profile=name in profiled,
                verbose=args.verbose,
                candidate=args.candidate if name in CANDIDATES else None,
            )
        rows[name] = summarize(name, raw[name], config, delays)
        if name in CANDIDATES:
            rows[name]["label"] = rows[name]["label"].replace("candidate build", args.candidate_label)
        print(
            f"    {rows[name]['requests']:,} requests, {rows[name]['cpu_s']:.2f} s CPU, "
            f"outcomes {rows[name]['outcomes']}",
            flush=True,
        )
        if raw[name].get("profile"):
            print(f"\n--- cProfile of {name} (client process) ---\n{raw[name]['profile']}")

    print()
    print(render_table(rows))
    if "single" in rows:
        print(
            "\nsingle: lag per message from the trigger's own log line of each status change; its one "
            f"event came {rows['single']['final_event_lag_after_last_delivery']:.2f} s after the last "
            "delivery."
        )
    if "poke" in rows:
        m = rows["poke"]["measured"]
        print(
            f"poke: one measured HttpSensor task process ({m['process_rss_mb']:.0f} MB RSS, "
            f"{m['startup_s']:.1f} s start-up, {m['polls']} polls for a delivery at {m['delivery_s']:g} s, "
            f"{m['connections']} connections, "
            f"lag {m['lag_s']:.2f} s), scaled to {config.waits:,} waits: 'RSS growth' is the memory held by "
            "the worker processes."
        )
    print()
    for line in ratio_lines(rows):
        print(line)
    checks = targets(rows, config)
    for item in checks:
        print(f"{verdict(item['ok'])}  {item['text']} (target {item['target']})")
    write_json(
        args.json,
        {
            "config": asdict(config),
            "machine": machine(),
            "rows": rows,
            "targets": checks,
            "ratios": ratio_lines(rows),
        },
    )
    failed = [name for name, row in rows.items() if set(row["outcomes"]) - {"success"}]
    if failed:
        print(f"\nwaits that did not end in success: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

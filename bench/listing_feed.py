"""What the WhatsApp listing feed saves: delivery waits read through the listing, side by side with
per-message polling and the floor.

Four scenarios. In each, every variant runs at the same time as the others (the same machine load
for all), in its own client process against its own fresh simulator on loopback, on the same
seeded schedule and the same poll interval (5 s):

* ``burst``     -- 100 WhatsApp messages sent at once, each delivered 1-30 s later. (a) One
  ``MessageDeliverySensor`` on the 100 ids run the deferrable way: ``execute`` (its check before
  deferring), the trigger it deferred with rebuilt from ``serialize()`` and run to its first event,
  then ``execute_complete``; every request counted. (b) 100 one-id sensors the same way, their
  triggers in one event loop; their checks before deferring are counted apart.
* ``stream``    -- 1,000 messages sent at 5 per second, each delivered 1-15 s after its send, each
  awaited by its own ``MessageDeliveryTrigger`` started as it is sent, all in one event loop.
* ``overflow``  -- 100 messages sent at once, delivered 1-30 s later, while other senders on the same
  key send 10 messages per second from 5 s on: the listing rolls past the waited messages, whose
  waits end through the per-message fallback.
* ``ratelimit`` -- a limit of 50 requests per second on the key; 1,000 waits (messages sent at once,
  delivered 1-30 s later) while the same client process sends 100 messages per second on the key
  through ``OctopodsAsyncHook`` (the floor: through its bare session), one attempt each and at most
  32 outstanding, until the last wait ends. ``--independent-sends`` sends through a bare session of
  their own instead, outside the waits' throttle, as other processes on the key would.

Variants: ``listing`` (the provider as it is: ``use_listing=True``), ``per-message``
(``use_listing=False``, the behaviour before the listing feed) and ``floor`` (a bare pooled aiohttp
session polling each message on the triggers' schedule: the cost of the polling itself).

For each: requests (listing, status; counted by the simulator), requests per message, the client
process's CPU, the detection lag (when a wait saw DELIVERED, from the trigger's own log line, its
event or the floor's poll, minus the simulator's recorded time of the change), and the outcomes. The
client processes are forked from one process that imported everything once, so starting a variant
costs no interpreter start-up.

    python bench/listing_feed.py                  # the four scenarios, full size (about 7 minutes)
    python bench/listing_feed.py --quick          # smoke run (about a minute and a half)
    python bench/listing_feed.py --only burst --profile burst:sensor   # where the CPU goes

This is a benchmark, not a test: a missed target prints MISS; it fails only if a wait did not end
with a success.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from _common import (
    Simulator,
    build_trigger,
    emit,
    first_event,
    install_log_capture,
    machine,
    percentile,
    read_marked,
    remove_home,
    subprocess_env,
    table,
    verdict,
    write_json,
)

PHONE = "+14155552671"
TEMPLATE_ID = 84579
TEMPLATE_VARIABLES = ["Alex", "1234"]
REACHED = frozenset({"DELIVERED", "READ", "DELETED"})
SCENARIOS = ("burst", "stream", "overflow", "ratelimit")
#: Seconds between laying out a scenario's messages and its start, for every variant the same.
LEAD = 0.5
#: In the rate-limit scenario, the sends' share of the key's limit they should keep (see the check).
SENDS_SHARE = 0.4


# ==================================================================================================
# What runs: sizes, schedules and variants
# ==================================================================================================


@dataclass
class Config:
    poll_interval: float = 5.0
    burst: int = 100
    burst_delivery: float = 30.0
    stream: int = 1000
    stream_rate: float = 5.0
    stream_delivery: float = 15.0
    overflow: int = 100
    overflow_delivery: float = 30.0
    traffic_rate: float = 10.0
    traffic_after: float = 5.0
    limited: int = 1000
    limited_delivery: float = 30.0
    sends_per_second: float = 100.0
    rate_limit: float = 50.0
    #: The rate limit's sends through a bare session of their own instead of through OctopodsAsyncHook.
    independent_sends: bool = False
    seed: int = 42

    @classmethod
    def quick(cls) -> Config:
        return cls(
            poll_interval=2.0,
            burst=30,
            burst_delivery=6.0,
            stream=100,
            stream_rate=10.0,
            stream_delivery=5.0,
            overflow=30,
            overflow_delivery=8.0,
            traffic_rate=20.0,
            traffic_after=2.0,
            limited=60,
            limited_delivery=5.0,
            sends_per_second=40.0,
            rate_limit=20.0,
        )

    @property
    def first_poll_after(self) -> float:
        """What the sensor gives its trigger, and so every variant here."""
        return min(3.0, self.poll_interval)


@dataclass
class Plan:
    """
    One scenario's schedule, the same for every variant: when each awaited message is sent and how
    long after its send it is delivered (seconds), plus what else happens on the key.
    """

    scenario: str
    offsets: list[float]
    delays: list[float]
    deadline_after: float
    traffic: dict[str, Any] | None = None
    traffic_after: float = 0.0
    sends_per_second: float = 0.0
    rate_limit: float | None = None

    @property
    def size(self) -> int:
        return len(self.offsets)


def _delays(count: int, longest: float, seed: int) -> list[float]:
    """Seeded delivery delays of 1 to ``longest`` seconds after each send."""
    rng = random.Random(seed)
    return [round(rng.uniform(1.0, longest), 3) for _ in range(count)]


def plan_for(scenario: str, config: Config) -> Plan:
    grace = 120.0  # beyond the last delivery, before a wait times out
    if scenario == "burst":
        delays = _delays(config.burst, config.burst_delivery, config.seed)
        return Plan(scenario, [0.0] * config.burst, delays, config.burst_delivery + grace)
    if scenario == "stream":
        offsets = [round(i / config.stream_rate, 3) for i in range(config.stream)]
        delays = _delays(config.stream, config.stream_delivery, config.seed)
        return Plan(scenario, offsets, delays, offsets[-1] + config.stream_delivery + grace)
    if scenario == "overflow":
        delays = _delays(config.overflow, config.overflow_delivery, config.seed)
        # Other senders from traffic_after on, until well after the last delivery.
        traffic = {"rate": config.traffic_rate, "duration": config.overflow_delivery + 30.0}
        return Plan(
            scenario,
            [0.0] * config.overflow,
            delays,
            config.overflow_delivery + grace,
            traffic=traffic,
            traffic_after=config.traffic_after,
        )
    if scenario == "ratelimit":
        delays = _delays(config.limited, config.limited_delivery, config.seed)
        return Plan(
            scenario,
            [0.0] * config.limited,
            delays,
            config.limited_delivery + 5 * grace,
            sends_per_second=config.sends_per_second,
            rate_limit=config.rate_limit,
        )
    raise ValueError(f"unknown scenario {scenario!r}")


@dataclass(frozen=True)
class Variant:
    """How one variant waits: ``kind`` is sensor, sensors, triggers or floor."""

    name: str
    kind: str
    use_listing: bool

    @property
    def path(self) -> str:
        if self.kind == "floor":
            return "floor"
        return "listing" if self.use_listing else "per-message"

    def label(self, size: int) -> str:
        if self.kind == "floor":
            return "floor: bare pooled aiohttp session"
        waits = {
            "sensor": f"1 sensor on {size:,} ids",
            "sensors": f"{size:,} one-id sensors",
            "triggers": f"{size:,} triggers",
        }[self.kind]
        return f"{waits}, {self.path}"


BURST_VARIANTS = (
    Variant("sensor", "sensor", True),
    Variant("sensor_each", "sensor", False),
    Variant("sensors", "sensors", True),
    Variant("sensors_each", "sensors", False),
    Variant("floor", "floor", False),
)
TRIGGER_VARIANTS = (
    Variant("triggers", "triggers", True),
    Variant("triggers_each", "triggers", False),
    Variant("floor", "floor", False),
)


def variants_for(scenario: str) -> tuple[Variant, ...]:
    return BURST_VARIANTS if scenario == "burst" else TRIGGER_VARIANTS


# ==================================================================================================
# Client side: one process imports everything, then forks one child per variant run
# ==================================================================================================


@dataclass
class Observed:
    """What a variant saw: when each wait saw its message delivered, and how each wait ended."""

    events: dict[int, float] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    checks: dict[str, int] = field(default_factory=dict)
    sends: Counter[str] = field(default_factory=Counter)

    def end(self, message_id: int | None, at: float, outcome: str) -> None:
        if message_id is not None and outcome == "success":
            self.events.setdefault(message_id, at)
        self.outcomes[outcome] += 1


@dataclass
class Job:
    """One variant run, as the parent describes it to the client process."""

    run: str
    scenario: str
    variant: Variant
    config: Config
    sim: dict[str, Any]
    warm_ids: list[int]
    result: str
    log: str
    profile: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        return cls(
            **{
                **data,
                "variant": Variant(**data["variant"]),
                "config": Config(**data["config"]),
            }
        )


@dataclass
class Go:
    """The start signal: the awaited ids, when each wait starts, and the deadline (epoch seconds)."""

    ids: list[int]
    starts: list[float]
    deadline: float
    sends_per_second: float = 0.0


async def _sleep_until(moment: float) -> None:
    pause = moment - time.time()
    if pause > 0:
        await asyncio.sleep(pause)


def _admin(job: Job) -> Any:
    from airflow_provider_octopods.simulator import SimulatorAdminClient

    return SimulatorAdminClient(job.sim["base_url"], timeout=60.0)


# -- the provider's waits ---------------------------------------------------------------------------


def _trigger(ids: list[int], deadline: float, job: Job) -> Any:
    """A ``MessageDeliveryTrigger`` rebuilt from its ``serialize()``, as the triggerer does."""
    from airflow_provider_octopods.triggers.delivery import MessageDeliveryTrigger

    config = job.config
    trigger = MessageDeliveryTrigger(
        message_ids=ids,
        deadline=deadline,
        poll_interval=config.poll_interval,
        first_poll_after=config.first_poll_after,
        use_listing=job.variant.use_listing,
    )
    return build_trigger(trigger.serialize())


async def _await_trigger(message_id: int, start: float, go: Go, job: Job, observed: Observed) -> None:
    await _sleep_until(start)
    at, payload = await first_event(_trigger([message_id], go.deadline, job))
    observed.end(message_id, at, payload["status"])


async def run_triggers(job: Job, go: Go, observed: Observed) -> None:
    """One one-id trigger per message, each started when its message is sent, all in this loop."""
    waits = [
        _await_trigger(message_id, start, go, job, observed)
        for message_id, start in zip(go.ids, go.starts, strict=True)
    ]
    if job.config.independent_sends:
        async with _floor_session(job) as session:
            await _with_sends(asyncio.gather(*waits), go, _bare_sender(session, job), observed)
    else:
        await _with_sends(asyncio.gather(*waits), go, _hook_sender(), observed)


def _sensor(task_id: str, message_id: int | list[int], go: Go, job: Job) -> Any:
    from airflow_provider_octopods.sensors.delivery import MessageDeliverySensor

    return MessageDeliverySensor(
        task_id=task_id,
        message_id=message_id,
        poke_interval=job.config.poll_interval,
        timeout=go.deadline - time.time(),
        use_listing=job.variant.use_listing,
    )


def _check(sensor: Any) -> Any:
    """The sensor's ``execute``: its check before deferring. The deferral, or None if it finished."""
    from airflow.providers.common.compat.sdk import TaskDeferred

    try:
        sensor.execute({})
    except TaskDeferred as deferred:
        return deferred
    return None


def _resume(sensor: Any, deferred: Any, payload: dict[str, Any]) -> str:
    """The sensor's ``execute_complete`` with the trigger's event: how the task ends."""
    try:
        getattr(sensor, deferred.method_name)({}, event=payload, **(deferred.kwargs or {}))
    except Exception as error:  # how the task would fail
        return type(error).__name__
    return "success"


async def _events(deferrals: list[Any]) -> list[tuple[float, Any]]:
    """The triggers of these deferrals, rebuilt from ``serialize()`` and run together to their event."""
    return await asyncio.gather(*(first_event(build_trigger(d.trigger.serialize())) for d in deferrals))


def run_sensors(job: Job, go: Go, observed: Observed) -> None:
    """One sensor per id (or one on every id): checks, then the triggers in one loop, then resume."""
    time.sleep(max(0.0, min(go.starts) - time.time()))  # the burst: sent at once, checked at once
    one = job.variant.kind == "sensor"
    sensors = (
        [_sensor("wait", go.ids, go, job)] if one else [_sensor(f"wait_{i}", i, go, job) for i in go.ids]
    )
    deferrals = [_check(sensor) for sensor in sensors]
    routes = _admin(job).stats(messages=False)["requests_by_route"]
    observed.checks = {route: int(count) for route, count in routes.items()}
    waiting = [(s, d) for s, d in zip(sensors, deferrals, strict=True) if d is not None]
    observed.outcomes["success"] += len(sensors) - len(waiting)  # finished at the check
    results = asyncio.run(_events([d for _, d in waiting]))
    for (sensor, deferred), (at, payload) in zip(waiting, results, strict=True):
        observed.end(None if one else sensor.message_id, at, _resume(sensor, deferred, payload))


# -- the floor ------------------------------------------------------------------------------------


class FloorPoller:
    """The cost of the polling itself: one pooled aiohttp session, the triggers' schedule, no more."""

    def __init__(self, session: Any, job: Job, go: Go, observed: Observed) -> None:
        self.session = session
        self.job = job
        self.go = go
        self.observed = observed

    async def _status(self, message_id: int) -> str:
        """The message's status; a 429 is a poll that learned nothing (the schedule goes on)."""
        url = f"{self.job.sim['base_url']}/api/v1/whatsapp/messages/{message_id}"
        async with self.session.get(url) as response:
            body = await response.read()
            if response.status == 429:
                return "RATE_LIMITED"
        return str(json.loads(body)["status"]).upper()

    async def watch(self, message_id: int, start: float) -> None:
        config = self.job.config
        await _sleep_until(start)
        interval = config.first_poll_after
        while time.time() < self.go.deadline:
            await asyncio.sleep(interval * random.uniform(0.9, 1.0))
            if await self._status(message_id) in REACHED:
                self.observed.end(message_id, time.time(), "success")
                return
            interval = min(config.poll_interval, max(interval, 1.0) * 2)
        self.observed.end(message_id, time.time(), "timeout")


def _floor_session(job: Job) -> Any:
    import aiohttp

    from airflow_provider_octopods.hooks.triggerer_client import CONNECTION_LIMIT

    headers = {"X-Octopods-Auth": job.sim["whatsapp_api_key"], "Accept": "application/json"}
    connector = aiohttp.TCPConnector(limit=CONNECTION_LIMIT, limit_per_host=0, keepalive_timeout=30.0)
    return aiohttp.ClientSession(connector=connector, headers=headers)


async def run_floor(job: Job, go: Go, observed: Observed) -> None:
    async with _floor_session(job) as session:
        poller = FloorPoller(session, job, go, observed)
        waits = asyncio.gather(*(poller.watch(i, start) for i, start in zip(go.ids, go.starts, strict=True)))
        await _with_sends(waits, go, _bare_sender(session, job), observed)


# -- sends on the same key, for as long as the waits last ------------------------------------------

#: Most sends outstanding at once (a pool of senders); a send due while all are busy is skipped.
SEND_SLOTS = 32

Send = Callable[[], Awaitable[str]]


def _hook_sender() -> Send:
    """
    A send through ``OctopodsAsyncHook`` in the waits' event loop, so through the same shared session
    and the same throttle of the key: one attempt, whose outcome is counted.
    """
    from airflow_provider_octopods import api
    from airflow_provider_octopods.exceptions import OctopodsError, OctopodsRateLimitError
    from airflow_provider_octopods.hooks.octopods import OctopodsAsyncHook

    hook = OctopodsAsyncHook()
    request = api.whatsapp_send_request(TEMPLATE_ID, PHONE, TEMPLATE_VARIABLES)
    once = api.RetryPolicy(max_retries=0, max_rate_limit_wait=0.0)

    async def send() -> str:
        try:
            async with hook.session() as shared:
                await hook.call(shared, request, policy=once)
        except OctopodsRateLimitError:
            return "refused"
        except OctopodsError:
            return "failed"
        return "succeeded"

    return send


def _bare_sender(session: Any, job: Job) -> Send:
    """A bare POST on a session of its own (the floor's, or other senders'), one attempt."""
    url = f"{job.sim['base_url']}/api/v1/whatsapp/templates/{TEMPLATE_ID}/messages"
    body = {"destination_phone": PHONE, "message_variables": TEMPLATE_VARIABLES}

    async def send() -> str:
        async with session.post(url, json=body) as response:
            await response.read()
        return {201: "succeeded", 429: "refused"}.get(response.status, "failed")

    return send


async def _send_load(rate: float, send: Send, stop: asyncio.Event, sends: Counter[str]) -> None:
    """``rate`` sends per second on a fixed schedule until ``stop``, at most :data:`SEND_SLOTS` at once."""
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        sends[await send()] += 1

    began, count = time.time(), 0
    while not stop.is_set():
        count += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, began + count / rate - time.time()))
        if stop.is_set():
            break
        sends["attempted"] += 1
        if len(pending) >= SEND_SLOTS:
            sends["skipped"] += 1
            continue
        task = asyncio.create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
    sends["unanswered"] += len(pending)  # still waiting or in flight when the waits ended
    for task in list(pending):
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def _with_sends(waits: Awaitable[Any], go: Go, send: Send | None, observed: Observed) -> None:
    """Run the waits; with ``sends_per_second``, send on the same key until the last wait ends."""
    if not go.sends_per_second or send is None:
        await waits
        return
    stop = asyncio.Event()
    load = asyncio.create_task(_send_load(go.sends_per_second, send, stop, observed.sends))
    try:
        await waits
    finally:
        stop.set()
        await load


# -- a child: warm up, report ready, run on go, report ----------------------------------------------


def _warm_up(job: Job) -> None:
    """
    A short wait of this variant's kind on two delivered messages (and a few sends in the rate-limit
    scenario): first calls, lazy imports, connection lookups, before anything is measured.
    """
    warm = replace(job, config=replace(job.config, poll_interval=0.5))
    now = time.time()
    sends = 4.0 if job.scenario == "ratelimit" else 0.0
    go = Go(ids=job.warm_ids, starts=[now] * len(job.warm_ids), deadline=now + 60, sends_per_second=sends)
    run_variant(warm, go, Observed())
    if job.variant.kind in ("sensor", "sensors"):  # their checks found the messages delivered: no trigger ran
        asyncio.run(run_triggers(warm, go, Observed()))


def run_variant(job: Job, go: Go, observed: Observed) -> None:
    if job.variant.kind in ("sensor", "sensors"):
        run_sensors(job, go, observed)
    elif job.variant.kind == "floor":
        asyncio.run(run_floor(job, go, observed))
    else:
        asyncio.run(run_triggers(job, go, observed))


def _measure(job: Job, go: Go) -> dict[str, Any]:
    """Run the variant; its CPU and wall time, and what it observed."""
    observed = Observed()
    profiler = None
    if job.profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU, not time spent idle
    cpu, wall = time.process_time(), time.time()
    if profiler:
        profiler.enable()
    run_variant(job, go, observed)
    if profiler:
        profiler.disable()
    result = {
        "events": {str(k): v for k, v in observed.events.items()},
        "outcomes": dict(observed.outcomes),
        "checks": observed.checks,
        "sends": dict(observed.sends),
        "cpu": time.process_time() - cpu,
        "wall": time.time() - wall,
    }
    if profiler:
        result["profile"] = _profile_text(profiler)
    return result


def _profile_text(profiler: Any) -> str:
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(50)
    return out.getvalue()


def child_main(job: Job, go_pipe: IO[str]) -> None:
    random.seed(f"{job.config.seed}:{job.run}")
    os.environ["AIRFLOW_CONN_OCTOPODS_DEFAULT"] = job.sim["connection"]
    detected = install_log_capture(Path(job.log))
    _warm_up(job)
    detected.clear()
    _admin(job).reset_stats()
    gc.collect()
    emit({"ready": job.run})
    go = Go(**json.loads(go_pipe.readline()))
    result = _measure(job, go)
    result["detected"] = {str(k): v for k, v in detected.items()}
    Path(job.result).write_text(json.dumps(result))


def _fork(job: Job) -> tuple[int, int]:
    """A child process for ``job``; returns its pid and the pipe its start signal goes through."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(read_end)
        return pid, write_end
    os.close(write_end)
    code = 0
    try:
        with os.fdopen(read_end) as go_pipe:
            child_main(job, go_pipe)
    except BaseException:
        Path(job.result).write_text(json.dumps({"error": traceback.format_exc()}))
        code = 1
    finally:
        emit({"done": job.run})
        os._exit(code)


def serve_main() -> int:
    """The client process: import what a triggerer and a worker have loaded, then fork on request."""
    import aiohttp  # noqa: F401
    from airflow.providers.common.compat.sdk import TaskDeferred  # noqa: F401

    from airflow_provider_octopods.hooks.octopods import OctopodsAsyncHook  # noqa: F401
    from airflow_provider_octopods.sensors.delivery import MessageDeliverySensor  # noqa: F401
    from airflow_provider_octopods.simulator import SimulatorAdminClient  # noqa: F401
    from airflow_provider_octopods.triggers.delivery import MessageDeliveryTrigger  # noqa: F401

    gc.collect()
    gc.freeze()  # the children share these pages instead of copying them at their first collection
    emit({"ready": "server"})
    children: dict[str, tuple[int, int]] = {}
    for line in sys.stdin:
        message = json.loads(line)
        if "job" in message:
            job = Job.from_dict(message["job"])
            children[job.run] = _fork(job)
        else:
            _, go_end = children[message["run"]]
            with os.fdopen(go_end, "w") as go_pipe:
                go_pipe.write(json.dumps(message["go"]) + "\n")
    for pid, _ in children.values():
        os.waitpid(pid, 0)
    return 0


# ==================================================================================================
# Parent side: fresh simulators, the schedule laid out in each, the client process driven
# ==================================================================================================


def _child_error(job: Job) -> str:
    result = Path(job.result)
    error = json.loads(result.read_text()).get("error") if result.exists() else None
    return f"{job.run} failed in its client process:\n{error or 'no report'}"


class ClientProcess:
    """The forking client process (``--serve``), driven through marked JSON lines."""

    def __init__(self, *, verbose: bool) -> None:
        self.env = subprocess_env()
        command = [sys.executable, __file__, "--serve"]
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=self.env
        )
        self.echo = sys.stderr if verbose else None
        self.home = Path(self.env["AIRFLOW_HOME"])
        self.jobs: dict[str, Job] = {}
        self._await({"server"}, "ready")

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def _await(self, runs: set[str], what: str) -> None:
        """Until each of ``runs`` reported ``what``; a child that ends before it is ready fails the run."""
        assert self.proc.stdout is not None
        waiting = set(runs)
        while waiting:
            message = read_marked(self.proc.stdout, echo=self.echo)
            if what == "ready" and message.get("done") in self.jobs:
                raise RuntimeError(_child_error(self.jobs[message["done"]]))
            waiting.discard(message.get(what, ""))

    def start(self, jobs: list[Job]) -> None:
        """Fork a child per job; return once each has warmed up."""
        self.jobs = {job.run: job for job in jobs}
        for job in jobs:
            self._send({"job": asdict(job)})
        self._await(set(self.jobs), "ready")

    def go(self, signals: dict[str, Go]) -> dict[str, dict[str, Any]]:
        """Start the children's runs; what each reported once all are done."""
        for run, go in signals.items():
            self._send({"run": run, "go": asdict(go)})
        self._await(set(signals), "done")
        results = {run: json.loads(Path(self.jobs[run].result).read_text()) for run in signals}
        for run, result in results.items():
            if "error" in result:
                raise RuntimeError(_child_error(self.jobs[run]))
        return results

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        remove_home(self.env)


def _start_simulator(plan: Plan, seed: int) -> Simulator:
    options = ["--jitter", "0", "--read-after", "none"]
    if plan.rate_limit:
        options += ["--rate-limit", f"{plan.rate_limit:g}"]
    return Simulator.start_with(*options, seed=seed)


def _lay_out(sim: Simulator, plan: Plan, t0: float) -> Go:
    """The plan's messages (and other senders' traffic) in ``sim``, from ``t0`` on; their go signal."""
    admin = sim.admin
    messages = [
        {
            "phone": PHONE,
            "created_at": t0 + offset,
            "steps": [{"status": "SENT", "after": 0}, {"status": "DELIVERED", "after": delay}],
        }
        for offset, delay in zip(plan.offsets, plan.delays, strict=True)
    ]
    ids = admin.add_messages(messages)
    if plan.traffic:
        admin.add_traffic(start=t0 + plan.traffic_after, **plan.traffic)
    return Go(
        ids=ids,
        starts=[t0 + offset for offset in plan.offsets],
        deadline=t0 + plan.deadline_after,
        sends_per_second=plan.sends_per_second,
    )


def run_scenario(
    scenario: str,
    config: Config,
    client: ClientProcess,
    *,
    profiled: set[str],
    independent_sends: bool = False,
) -> dict[str, dict[str, Any]]:
    """Every variant of ``scenario`` at once; one row per variant."""
    plan = plan_for(scenario, config)
    variants = variants_for(scenario)
    sims = {variant.name: _start_simulator(plan, config.seed) for variant in variants}
    try:
        jobs = [
            _job(scenario, variant, config, sims[variant.name], client.home, profiled) for variant in variants
        ]
        client.start(jobs)
        t0 = time.time() + LEAD
        signals = {job.run: _lay_out(sims[job.variant.name], plan, t0) for job in jobs}
        results = client.go(signals)
        rows = {}
        for job in jobs:
            raw = results[job.run]
            stats = sims[job.variant.name].admin.stats()
            rows[job.variant.name] = summarize(job.variant, plan, raw, stats, signals[job.run])
            if raw.get("profile"):
                print(f"\n--- cProfile of {job.run} (client process) ---\n{raw['profile']}")
        return rows
    finally:
        for sim in sims.values():
            sim.stop()


def _job(
    scenario: str, variant: Variant, config: Config, sim: Simulator, home: Path, profiled: set[str]
) -> Job:
    run = f"{scenario}:{variant.name}"
    warm_ids = sim.admin.add_messages([{"phone": PHONE, "status": "DELIVERED"} for _ in range(2)])
    info = {**sim.info, "connection": sim.connection_json()}
    return Job(
        run=run,
        scenario=scenario,
        variant=variant,
        config=config,
        sim=info,
        warm_ids=warm_ids,
        result=str(home / f"{scenario}-{variant.name}.json"),
        log=str(home / f"{scenario}-{variant.name}.log"),
        profile=run in profiled,
    )


# ==================================================================================================
# Figures: one row per variant, one table per scenario, the targets
# ==================================================================================================


def _delivered_at(stats: dict[str, Any], ids: list[int]) -> dict[int, float]:
    """The simulator's recorded time of each message's change to DELIVERED."""
    found = {}
    for message_id in ids:
        history = stats["messages"].get(str(message_id), {}).get("history", [])
        moment = next((h["at"] for h in history if h["status"] == "DELIVERED"), None)
        if moment is not None:
            found[message_id] = float(moment)
    return found


def _lags(raw: dict[str, Any], delivered: dict[int, float]) -> list[float]:
    """When each wait saw its message delivered (its trigger's log line, else its event or poll)."""
    seen = {int(k): v for k, v in raw["events"].items()}
    seen.update({int(k): v for k, v in raw["detected"].items()})
    return [seen[i] - at for i, at in delivered.items() if i in seen]


def summarize(
    variant: Variant, plan: Plan, raw: dict[str, Any], stats: dict[str, Any], go: Go
) -> dict[str, Any]:
    """One row of a scenario's table, from what the client saw and what the simulator counted."""
    routes = stats["requests_by_route"]
    listing, status = int(routes.get("whatsapp.list", 0)), int(routes.get("whatsapp.status", 0))
    checks = sum(int(raw["checks"].get(route, 0)) for route in ("whatsapp.list", "whatsapp.status"))
    lag = _lags(raw, _delivered_at(stats, go.ids))
    size = plan.size
    row: dict[str, Any] = {
        "variant": variant.name,
        "label": variant.label(size),
        "path": variant.path,
        "listing": listing,
        "status": status,
        "requests": listing + status,
        "requests_per_message": (listing + status) / size,
        "checks": checks,
        "triggerer_per_message": (listing + status - checks) / size,
        "cpu_s": raw["cpu"],
        "cpu_ms_per_message": 1000.0 * raw["cpu"] / size,
        "lag_p95": percentile(lag, 95),
        "lag_max": max(lag, default=float("nan")),
        "lag_count": len(lag),
        "outcomes": raw["outcomes"],
        "wall_s": raw["wall"],
    }
    if plan.sends_per_second:
        row["limited"] = _limited(stats, raw, plan)
    return row


def _limited(stats: dict[str, Any], raw: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """Under the rate limit: 429s by route, requests per second, and how the sends fared."""
    by_route = stats["responses_by_route"]
    per_second = [int(n) for n in stats["timeline"]["requests_per_second"].values()]
    sends = raw["sends"]
    return {
        "refused_listing": int(by_route.get("whatsapp.list", {}).get("429", 0)),
        "refused_status": int(by_route.get("whatsapp.status", {}).get("429", 0)),
        "refused_sends": int(by_route.get("whatsapp.send", {}).get("429", 0)),
        "rps_max": max(per_second, default=0),
        "rps_mean": sum(per_second) / len(per_second) if per_second else 0.0,
        "sends_attempted": int(sends.get("attempted", 0)),
        "sends_sent": int(stats["requests_by_route"].get("whatsapp.send", 0)),
        "sends_succeeded": int(sends.get("succeeded", 0)),
        "sends_per_second": int(sends.get("succeeded", 0)) / raw["wall"],
        "limit": plan.rate_limit,
    }


def fmt(value: float, digits: int = 2) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.{digits}f}"


def _outcomes(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{count:,} {name}" for name, count in sorted(outcomes.items()))


def render_table(rows: dict[str, dict[str, Any]], *, markdown: bool = False) -> str:
    """A scenario's table; the burst's has the sensors' checks before deferring apart."""
    checks = any(row["checks"] for row in rows.values())
    header = ["variant", "listing", "status", "total"]
    header += ["of which checks", "req/msg", "triggerer req/msg"] if checks else ["req/msg"]
    header += ["CPU s", "CPU ms/msg", "lag p95 s", "lag max s", "outcomes"]
    body = []
    for row in rows.values():
        cells = [row["label"], f"{row['listing']:,}", f"{row['status']:,}", f"{row['requests']:,}"]
        if checks:
            cells += [
                f"{row['checks']:,}",
                fmt(row["requests_per_message"], 3),
                fmt(row["triggerer_per_message"], 3),
            ]
        else:
            cells.append(fmt(row["requests_per_message"], 3))
        cells += [
            fmt(row["cpu_s"]),
            fmt(row["cpu_ms_per_message"], 3),
            fmt(row["lag_p95"]),
            fmt(row["lag_max"]),
            _outcomes(row["outcomes"]),
        ]
        body.append(cells)
    return table(header, body, markdown=markdown)


def render_limited(rows: dict[str, dict[str, Any]], *, markdown: bool = False) -> str:
    """The rate-limit scenario's second table: 429s, request rates and the sends."""
    header = [
        "variant",
        "429 listing",
        "429 status",
        "429 sends",
        "req/s max",
        "req/s mean",
        "sends attempted",
        "sends sent",
        "sends succeeded",
        "succeeded/s",
    ]
    body = []
    for row in rows.values():
        limited = row["limited"]
        body.append(
            [
                row["label"],
                f"{limited['refused_listing']:,}",
                f"{limited['refused_status']:,}",
                f"{limited['refused_sends']:,}",
                f"{limited['rps_max']:,}",
                fmt(limited["rps_mean"], 1),
                f"{limited['sends_attempted']:,}",
                f"{limited['sends_sent']:,}",
                f"{limited['sends_succeeded']:,}",
                fmt(limited["sends_per_second"], 1),
            ]
        )
    return table(header, body, markdown=markdown)


#: (scenario, listing variant, per-message variant) of each row of the summary table.
SUMMARY_ROWS = (
    ("burst", "sensor", "sensor_each"),
    ("burst", "sensors", "sensors_each"),
    ("stream", "triggers", "triggers_each"),
    ("overflow", "triggers", "triggers_each"),
    ("ratelimit", "triggers", "triggers_each"),
)


def render_summary(tables: dict[str, dict[str, dict[str, Any]]], *, markdown: bool = False) -> str:
    """Requests per message of each path, scenario by scenario, with the lag and CPU beside them."""
    header = [
        "scenario",
        "waits",
        "listing path: listing + status requests",
        "req/msg: listing",
        "per-message",
        "floor",
        "p95 lag s: listing",
        "per-message",
        "floor",
        "CPU ms/msg: listing",
        "per-message",
        "floor",
    ]
    body = []
    for scenario, listing_name, each_name in SUMMARY_ROWS:
        rows = tables.get(scenario)
        if not rows:
            continue
        listing, each, floor = rows[listing_name], rows[each_name], rows["floor"]
        requests = f"{listing['listing']:,} + {listing['status']:,}"
        if listing["checks"]:
            requests += f" (checks: {listing['checks']:,})"
        body.append(
            [
                scenario,
                listing["label"].rsplit(", ", 1)[0],
                requests,
                *(fmt(row["requests_per_message"], 3) for row in (listing, each, floor)),
                *(fmt(row["lag_p95"]) for row in (listing, each, floor)),
                *(fmt(row["cpu_ms_per_message"], 3) for row in (listing, each, floor)),
            ]
        )
    return table(header, body, markdown=markdown, left=3)


TITLES = {
    "burst": "Burst: {n} messages sent at once, delivered 1-{d:g} s later",
    "stream": "Stream: {n} messages sent at {r:g} per second, each delivered 1-{d:g} s after its send",
    "overflow": "Overflow: {n} messages sent at once, delivered 1-{d:g} s later; other senders on the key "
    "from {a:g} s at {t:g} per second",
    "ratelimit": "Rate limit: {n} waits (delivered 1-{d:g} s) and {s:g} sends per second ({how}) on a key "
    "limited to {l:g} requests per second",
}


def title(scenario: str, config: Config) -> str:
    sizes = {
        "burst": (config.burst, config.burst_delivery),
        "stream": (config.stream, config.stream_delivery),
        "overflow": (config.overflow, config.overflow_delivery),
        "ratelimit": (config.limited, config.limited_delivery),
    }
    n, d = sizes[scenario]
    return (
        TITLES[scenario].format(
            n=f"{n:,}",
            d=d,
            r=config.stream_rate,
            a=config.traffic_after,
            t=config.traffic_rate,
            s=config.sends_per_second,
            l=config.rate_limit,
            how="on a session of their own" if config.independent_sends else "through OctopodsAsyncHook",
        )
        + f", polled every {config.poll_interval:g} s"
    )


class Targets:
    """The targets, each as {name, value, limit, target, text, ok} (as bench/run_all.py reads them)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def at_most(self, name: str, value: float, limit: float, text: str) -> None:
        self.items.append(
            {
                "name": name,
                "value": value,
                "limit": limit,
                "target": f"<= {limit:g}",
                "text": text,
                "ok": value <= limit,
            }
        )

    def at_least(self, name: str, value: float, limit: float, text: str) -> None:
        self.items.append(
            {
                "name": name,
                "value": value,
                "limit": limit,
                "target": f">= {limit:g}",
                "text": text,
                "ok": value >= limit,
            }
        )

    def lag(self, scenario: str, listing: dict[str, Any], each: dict[str, Any]) -> None:
        self.at_most(
            f"{scenario} {listing['variant']} p95 lag",
            listing["lag_p95"],
            each["lag_p95"],
            f"{scenario}: {listing['label']}: p95 detection lag {listing['lag_p95']:.2f} s, per-message "
            f"polling's {each['lag_p95']:.2f} s",
        )
        self.items[-1]["target"] = "<= per-message's"

    def ended(self, scenario: str, row: dict[str, Any]) -> None:
        failed = sum(n for outcome, n in row["outcomes"].items() if outcome != "success")
        self.at_most(
            f"{scenario} {row['variant']} waits ended",
            failed,
            0,
            f"{scenario}: {row['label']}: {failed:,} waits did not end in success",
        )


def targets(tables: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    checks = Targets()
    burst = tables.get("burst")
    if burst:
        sensor, sensors = burst["sensor"], burst["sensors"]
        checks.at_most(
            "burst sensor requests/message",
            sensor["requests_per_message"],
            0.2,
            f"burst: {sensor['label']}: {sensor['requests_per_message']:.3f} requests per message, "
            f"its check included (per-message: {burst['sensor_each']['requests_per_message']:.2f})",
        )
        checks.lag("burst", sensor, burst["sensor_each"])
        checks.at_most(
            "burst sensors triggerer requests/message",
            sensors["triggerer_per_message"],
            0.2,
            f"burst: {sensors['label']}: the triggerer's {sensors['triggerer_per_message']:.3f} requests per "
            f"message (and {sensors['checks']:,} checks before deferring, counted apart)",
        )
        checks.lag("burst", sensors, burst["sensors_each"])
    stream = tables.get("stream")
    if stream:
        row, floor = stream["triggers"], stream["floor"]
        checks.at_most(
            "stream requests/message",
            row["requests_per_message"],
            0.5,
            f"stream: {row['label']}: {row['requests_per_message']:.3f} requests per message",
        )
        ratio = row["cpu_ms_per_message"] / floor["cpu_ms_per_message"]
        checks.at_most(
            "stream CPU/message vs floor",
            ratio,
            0.2,
            f"stream: {row['label']}: CPU per message {row['cpu_ms_per_message']:.3f} ms = {ratio:.2f}x the "
            f"per-message floor's ({floor['cpu_ms_per_message']:.3f} ms)",
        )
        checks.lag("stream", row, stream["triggers_each"])
    overflow = tables.get("overflow")
    if overflow:
        checks.ended("overflow", overflow["triggers"])
    limited = tables.get("ratelimit")
    if limited:
        row, each = limited["triggers"], limited["triggers_each"]
        checks.ended("ratelimit", row)
        share, before = row["limited"]["sends_per_second"], each["limited"]["sends_per_second"]
        limit = row["limited"]["limit"]
        # Their share: sends and polls take turns at the throttle's pace, which stays a little under
        # the limit, so sends that want more than half of it should get at least 40% of the limit.
        checks.at_least(
            "ratelimit sends share",
            share / limit,
            SENDS_SHARE,
            f"ratelimit: {row['label']}: the sends succeeded at {share:.1f}/s while the waits ran, "
            f"{share / limit:.0%} of the key's limit (per-message polling: {before:.1f}/s)",
        )
        checks.items[-1]["target"] = f">= {SENDS_SHARE:.0%} of the limit"
    return checks.items


def config_for(args: argparse.Namespace) -> Config:
    config = Config.quick() if args.quick else Config()
    if args.poll_interval is not None:
        config.poll_interval = args.poll_interval
    if args.seed is not None:
        config.seed = args.seed
    config.independent_sends = args.independent_sends
    return config


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: smaller sizes, 2 s polls")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios to run")
    parser.add_argument(
        "--profile", default="", help="comma-separated SCENARIO:VARIANT runs to profile (cProfile, CPU time)"
    )
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--poll-interval", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--independent-sends",
        action="store_true",
        help="in the rate-limit scenario, send through a bare session of their own (as other processes on "
        "the key would), outside the waits' throttle, instead of through OctopodsAsyncHook",
    )
    parser.add_argument("--verbose", action="store_true", help="show the client processes' output")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def print_scenario(scenario: str, config: Config, rows: dict[str, dict[str, Any]]) -> None:
    print(f"\n{title(scenario, config)}\n")
    print(render_table(rows))
    if scenario == "ratelimit":
        print()
        print(render_limited(rows))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        return serve_main()
    config = config_for(args)
    wanted = [scenario for scenario in SCENARIOS if scenario in args.only.split(",")]
    profiled = set(args.profile.split(",")) - {""}
    print(
        f"Listing feed vs per-message polling vs the floor: {', '.join(wanted)}; poll interval "
        f"{config.poll_interval:g} s (first poll after {config.first_poll_after:g} s); every variant of a "
        f"scenario at once, each in its own client process against its own simulator, on loopback; "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    tables: dict[str, dict[str, dict[str, Any]]] = {}
    timings: dict[str, float] = {}
    client = ClientProcess(verbose=args.verbose)
    try:
        for scenario in wanted:
            print(f"  running {scenario} ...", flush=True)
            began = time.perf_counter()
            tables[scenario] = run_scenario(scenario, config, client, profiled=profiled)
            timings[scenario] = time.perf_counter() - began
            print_scenario(scenario, config, tables[scenario])
    finally:
        client.close()
    checks = targets(tables)
    print()
    for item in checks:
        print(f"{verdict(item['ok'])}  {item['text']} (target {item['target']})")
    write_json(
        args.json,
        {
            "config": asdict(config),
            "machine": machine(),
            "titles": {scenario: title(scenario, config) for scenario in tables},
            "tables": tables,
            "seconds": timings,
            "targets": checks,
        },
    )
    failed = [
        f"{scenario}:{name}"
        for scenario, rows in tables.items()
        for name, row in rows.items()
        if set(row["outcomes"]) - {"success"}
    ]
    if failed:
        print(f"\nwaits that did not end in success: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

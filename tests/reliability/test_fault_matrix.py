"""
The fault matrix: every simulator fault against every surface (hook, trigger, sensor in a DAG run,
export), each with its documented outcome, and a check that nothing was lost or duplicated.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pendulum
import pytest

from airflow_provider_octopods.exceptions import OctopodsError
from airflow_provider_octopods.hooks.octopods import OctopodsHook
from airflow_provider_octopods.operators.export import ExportSentMessagesOperator
from airflow_provider_octopods.sensors.delivery import MessageDeliverySensor
from airflow_provider_octopods.triggers.delivery import MessageDeliveryTrigger
from tests.dag_runner import run_dag, task_state, xcom

if TYPE_CHECKING:
    from airflow_provider_octopods.testing import SimulatorHandle

OK = "ok"
FAILED = "failed"  # a DAG task that failed (the typed error is checked on the hook and trigger)
SURFACES = ("hook", "trigger", "sensor", "export")
PHONE = "+14155552671"

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.octopods_simulator(read_after=None)]


@dataclass(frozen=True)
class Fault:
    """One row of the matrix: how to break things, and what each surface must then do."""

    name: str
    expected: dict[str, str]
    arrange: Callable[[SimulatorHandle], Any] = lambda simulator: None
    during: Callable[[SimulatorHandle], Any] | None = None  # applied mid-wait, ~0.7 s in
    script: tuple[str, ...] = ("SENT", "DELIVERED")
    connection: dict[str, Any] = field(default_factory=dict)  # overrides: timeout, max_retries
    bogus_id: bool = False


def rate_limit_now(simulator: SimulatorHandle) -> None:
    """
    A tight limit whose only token is already spent: the next requests get 429s, one token every five
    seconds. (The sensor's DAG arranges its faults as its task starts: dag.test() can take longer than
    that to get there on a busy machine.)
    """
    import urllib.request

    simulator.set_rate_limit(0.2, burst=1)
    request = urllib.request.Request(
        f"{simulator.base_url}/api/v1/whatsapp/messages?limit=1",
        headers={"X-Octopods-Auth": simulator.whatsapp_api_key},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()


def all_ok() -> dict[str, str]:
    return dict.fromkeys(SURFACES, OK)


FAULTS = [
    Fault("429-storm", all_ok(), arrange=lambda simulator: rate_limit_now(simulator)),
    Fault(
        "5xx-burst", all_ok(), arrange=lambda simulator: simulator.inject_fault("status", status=503, count=2)
    ),
    Fault(
        "5xx-beyond-retries",
        {
            "hook": "OctopodsServerError",
            "trigger": "OctopodsServerError",
            "sensor": FAILED,
            "export": "OctopodsServerError",
        },
        arrange=lambda simulator: simulator.inject_fault("status", status=502, count=50),
    ),
    Fault("dropped-connections", all_ok(), arrange=lambda simulator: simulator.inject_fault("drop", count=2)),
    Fault(
        "slower-than-timeout",
        all_ok(),
        arrange=lambda simulator: simulator.inject_fault("latency", latency=1.5, count=1),
        connection={"timeout": 0.5},
    ),
    Fault(
        "always-slower-than-timeout",
        {
            "hook": "OctopodsConnectionError",
            "trigger": "OctopodsConnectionError",
            "sensor": FAILED,
            "export": "OctopodsConnectionError",
        },
        arrange=lambda simulator: simulator.inject_fault("latency", latency=1.5, count=50),
        connection={"timeout": 0.3, "max_retries": 1},
    ),
    Fault("malformed-json", all_ok(), arrange=lambda simulator: simulator.inject_fault("malformed", count=2)),
    Fault("html-error-page", all_ok(), arrange=lambda simulator: simulator.inject_fault("html", count=2)),
    Fault("long-unknown-streak", all_ok(), script=("UNKNOWN",) * 5 + ("DELIVERED",)),
    Fault(
        "key-rotated-mid-wait",
        {
            "hook": "OctopodsAuthError",
            "trigger": "OctopodsAuthError",
            "sensor": FAILED,
            "export": "OctopodsAuthError",
        },
        during=lambda simulator: simulator.rotate_key("whatsapp"),
        script=("SENT",),
    ),
    Fault(
        "message-not-found",
        {
            "hook": "OctopodsNotFoundError",
            "trigger": "OctopodsNotFoundError",
            "sensor": FAILED,
            "export": "n/a",
        },
        bogus_id=True,
    ),
]


@pytest.fixture(autouse=True)
def quick_unknown_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The docs' 10-30 s UNKNOWN backoff, shortened so the UNKNOWN streak runs in a second."""
    monkeypatch.setattr("airflow_provider_octopods.delivery.UNKNOWN_RECHECK", (0.1, 0.1))
    monkeypatch.setattr("airflow_provider_octopods.api.RetryPolicy.backoff", lambda self, failures: 0.05)


def use_connection(simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch, fault: Fault) -> None:
    options = {"timeout": 5, "max_retries": 2, **fault.connection}
    simulator.use_as_airflow_connection(monkeypatch, **options)


def during_the_wait(simulator: SimulatorHandle, fault: Fault) -> threading.Timer | None:
    if fault.during is None:
        return None
    timer = threading.Timer(0.7, fault.during, args=(simulator,))
    timer.start()
    return timer


def message(simulator: SimulatorHandle, fault: Fault) -> int:
    if fault.bogus_id:
        return 987_654_321
    return simulator.add_message(PHONE, script=list(fault.script))


def error_name(error: BaseException) -> str:
    assert isinstance(error, OctopodsError), f"an untyped {type(error).__name__} escaped: {error}"
    return type(error).__name__


# -- the surfaces -------------------------------------------------------------------------------------


def on_hook(simulator: SimulatorHandle, fault: Fault, message_id: int) -> str:
    hook = OctopodsHook()
    if fault.during is not None:
        fault.during(simulator)  # the hook has no wait to be in the middle of: break it first
    try:
        for _ in range(3):  # a few calls in a row, so a rate limit really bites
            status = hook.get_message_status(message_id)
    except OctopodsError as error:
        return error_name(error)
    assert status.message_id == message_id
    return OK


def on_trigger(simulator: SimulatorHandle, fault: Fault, message_id: int) -> str:
    trigger = MessageDeliveryTrigger(
        message_ids=[message_id], deadline=time.time() + 60, poll_interval=0.3, first_poll_after=0.1
    )
    _, kwargs = trigger.serialize()
    rebuilt = MessageDeliveryTrigger(**json.loads(json.dumps(kwargs)))

    async def events() -> list[Any]:
        return [event async for event in rebuilt.run()]

    timer = during_the_wait(simulator, fault)
    try:
        (event,) = asyncio.run(events())  # exactly one event
    finally:
        if timer:
            timer.join()
    payload = event.payload
    if payload["status"] == "success":
        assert [result["message_id"] for result in payload["results"]] == [message_id]
        return OK
    assert payload["status"] == "error", payload
    return str(payload["error"]["type"])


def on_sensor(simulator: SimulatorHandle, fault: Fault, message_id: int) -> str:
    from airflow.providers.common.compat.sdk import DAG

    with DAG(
        f"faults_{uuid.uuid4().hex[:8]}", schedule=None, start_date=pendulum.datetime(2026, 1, 1)
    ) as dag:
        MessageDeliverySensor(
            task_id="wait",
            message_id=message_id,
            poke_interval=0.3,
            timeout=60,
            pre_execute=arrange_once(simulator, fault),
        )
    timer = during_the_wait(simulator, fault)
    try:
        dag_run = run_dag(dag)
    finally:
        if timer:
            timer.join()
    state = task_state(dag_run, "wait")
    if state == "success":
        assert xcom(dag_run, "wait")["status"] == "DELIVERED"
        return OK
    return FAILED if state == "failed" else f"unexpected state {state}"


def arrange_once(simulator: SimulatorHandle, fault: Fault) -> Callable[[Any], None]:
    """
    The fault's arrangement as a task's ``pre_execute``: it then happens as the task starts, not
    before dag.test() has got there, and once (a deferred sensor's resumption runs it again).
    """
    arranged = False

    def arrange(context: Any) -> None:
        nonlocal arranged
        if not arranged:
            arranged = True
            fault.arrange(simulator)

    return arrange


def on_export(simulator: SimulatorHandle, fault: Fault, message_id: int, target: Path) -> str:
    if fault.bogus_id:
        return "n/a"  # the listing has no message id to look up
    target.write_text("previous complete export\n")
    if fault.during is not None:
        fault.during(simulator)
    operator = ExportSentMessagesOperator(task_id="export", destination=str(target))
    try:
        result = operator.execute({})
    except OctopodsError as error:
        assert target.read_text() == "previous complete export\n", "a failed export must not touch the file"
        assert [path.name for path in target.parent.iterdir()] == [target.name], "no temporary left behind"
        return error_name(error)
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    listed = [entry["message_id"] for entry in simulator.messages()]
    assert sorted(row["message_id"] for row in rows) == sorted(listed), "every message exactly once"
    assert result["count"] == len(rows)
    return OK


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_fault_matrix(
    simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fault: Fault, surface: str
) -> None:
    use_connection(simulator, monkeypatch, fault)
    message_id = message(simulator, fault)
    if surface != "sensor":  # the sensor's task arranges it as it starts
        fault.arrange(simulator)
    if surface == "hook":
        outcome = on_hook(simulator, fault, message_id)
    elif surface == "trigger":
        outcome = on_trigger(simulator, fault, message_id)
    elif surface == "sensor":
        outcome = on_sensor(simulator, fault, message_id)
    else:
        outcome = on_export(simulator, fault, message_id, tmp_path / "export.jsonl")
    assert outcome == fault.expected[surface]
    stats = simulator.stats(messages=False)
    if outcome != "n/a" and fault.name not in (
        "long-unknown-streak",
        "message-not-found",
        "key-rotated-mid-wait",
    ):
        # The fault really happened (a test that cannot fail proves nothing).
        assert stats["faults_injected"] or stats["rate_limited"], stats
    assert stats["requests_by_route"].get("whatsapp.send", 0) == 0  # reads never turn into sends

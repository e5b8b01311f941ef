"""
A failed WhatsApp message schedules the remediation DAG, on Airflow's real components (Airflow 3).

The example ``octopods_failure_remediation`` (its watcher polling every 2 s instead of every minute)
is linked into the running engine. The simulator fails one message; the watcher's trigger, in the
triggerer, fires; the scheduler runs the DAG once; the DAG resends the text by SMS, and the
simulator records exactly one SMS to that recipient; later polls fire nothing. Then the trigger
rows and asset events are swept: no key, no phone number, no message text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg2
import pytest

from airflow_provider_octopods.simulator import SimulatorAdminClient
from airflow_provider_octopods.version_compat import AIRFLOW_V_3_0_PLUS
from tests.engine.airflow_engine import log

if TYPE_CHECKING:
    from tests.engine.airflow_engine import AirflowEngine

pytestmark = [
    pytest.mark.engine,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not AIRFLOW_V_3_0_PLUS, reason="asset watchers and event triggers arrived in Airflow 3.0"
    ),
]

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "octopods_failure_remediation.py"
DAG_ID = "octopods_failure_remediation"
RECIPIENT = "+14155550479"
TEXT = "Your parcel arrives today between 10:00 and 12:00."


def fast_copy(engine: AirflowEngine) -> Path:
    """The example with its watcher polling every 2 s (the example polls every minute)."""
    source = EXAMPLE.read_text()
    assert "poll_interval=60" in source
    path = engine.home / EXAMPLE.name
    path.write_text(source.replace("poll_interval=60", "poll_interval=2"))
    return path


def listing_polls(simulator: SimulatorAdminClient) -> int:
    return int(simulator.stats(messages=False)["requests_by_route"].get("whatsapp.list", 0))


def remediation_runs(engine: AirflowEngine) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = engine.get(f"/dags/{DAG_ID}/dagRuns")["dag_runs"]
    return runs


def sms_sent_to(simulator: SimulatorAdminClient, phone: str) -> list[dict[str, Any]]:
    return [
        message
        for message in simulator.messages()
        if message["channel"] == "sms" and message["phone_number"] == phone
    ]


def test_a_failed_message_runs_the_remediation_dag_once(airflow_engine: AirflowEngine) -> None:
    engine = airflow_engine
    assert engine.simulator is not None
    simulator = SimulatorAdminClient(engine.simulator.base_url)
    engine.add_dag_files(fast_copy(engine))
    engine.wait_for_dags([DAG_ID])
    before = listing_polls(simulator)
    engine.wait_for("the watcher's baseline poll", lambda: listing_polls(simulator) >= before + 2)

    failed = simulator.add_message(
        RECIPIENT, status="FAILED", failure_code=131026, failure_reason="Message undeliverable", content=TEXT
    )
    log(f"message {failed} to {RECIPIENT[-4:]} failed; waiting for the watcher and the remediation run")

    def succeeded() -> dict[str, Any] | None:
        runs = remediation_runs(engine)
        assert not [run for run in runs if run["state"] == "failed"], f"{runs}\n{engine.logs_tail()}"
        done = [run for run in runs if run["state"] == "success"]
        return done[0] if done else None

    run = engine.wait_for(f"{DAG_ID} to run on the asset event", succeeded, timeout=240)
    log(f"{DAG_ID} ran as {run['dag_run_id']} ({run['run_type']})")
    assert run["run_type"] == "asset_triggered"
    (sms,) = sms_sent_to(simulator, RECIPIENT)
    assert sms["content"] == TEXT

    polls = listing_polls(simulator)
    engine.wait_for("three more polls", lambda: listing_polls(simulator) >= polls + 3)
    assert len(remediation_runs(engine)) == 1  # later polls saw the same failure: nothing new
    assert len(sms_sent_to(simulator, RECIPIENT)) == 1

    sweep(engine, simulator, forbidden=[RECIPIENT, TEXT])


def sweep(engine: AirflowEngine, simulator: SimulatorAdminClient, forbidden: list[str]) -> None:
    """Trigger rows (kwargs decrypted) and asset events hold no key, no phone number, no text."""
    from cryptography.fernet import Fernet

    keys = [entry["key"] for entry in simulator.keys() if entry.get("key")]  # noqa: SIM118 - an admin call
    fernet = Fernet(engine.env["AIRFLOW__CORE__FERNET_KEY"].encode())
    with psycopg2.connect(**engine.db_connect_kwargs, connect_timeout=10) as db, db.cursor() as cursor:
        cursor.execute("SELECT classpath, kwargs FROM trigger")
        rows = cursor.fetchall()
        cursor.execute("SELECT extra FROM asset_event")
        events = [json.dumps(extra) for (extra,) in cursor.fetchall()]
    watchers = [kwargs for classpath, kwargs in rows if classpath.endswith("MessageStatusEventTrigger")]
    assert watchers, "the watcher's trigger row"
    texts = [_decrypted(kwargs, fernet) for _, kwargs in rows] + events
    reported = [text for text in events if '"from_trigger": true' in text]
    assert reported, "the watcher's asset event"
    for text in texts:
        for secret in keys + forbidden:
            assert secret not in text, "a key, a phone number or a message text in the metadata database"


def _decrypted(kwargs: Any, fernet: Any) -> str:
    """The kwargs column: Fernet-encrypted JSON (its form varies a little across Airflow 3 minors)."""
    text = kwargs if isinstance(kwargs, str) else json.dumps(kwargs)
    try:
        payload = json.loads(text)
    except ValueError:
        payload = text
    if isinstance(payload, str):
        try:
            return fernet.decrypt(payload.encode()).decode()
        except Exception:
            return payload
    return text

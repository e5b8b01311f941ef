"""
`make demo`: run the example DAGs end to end against the bundled Octopods simulator.

Starts the simulator on loopback with its clock at yesterday's midnight and a day of traffic from
other senders laid out ahead (600 messages, 150 more in hour 10), uses a throwaway AIRFLOW_HOME on
SQLite, points ``octopods_default`` at the simulator (from the simulator's first JSON line), and
runs ``airflow dags test`` for the delivery-gating DAGs and the nightly export. Then it lives
through the day: the capture DAG runs for each 10-minute interval while the simulator's clock
advances, and ``octopods_nightly_history`` compacts the day. It prints what happened: every message
the DAGs sent with its final status, how long each sensor waited deferred, the export file, and the
day's history (messages sent vs compacted, complete or not). Exits 0 only if every run succeeded,
and stops every process it started.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from airflow_provider_octopods.simulator import SimulatorProcess

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DAGS = ("octopods_gate_on_delivery", "octopods_gate_on_delivery_batch", "octopods_nightly_export")
HISTORY = "octopods_nightly_history"
#: Traffic from other senders over the simulated day: 600 spread evenly, a burst of 150 in hour 10.
TRAFFIC = "count=600,duration=86400,start=now,burst=150:36000:3600"
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z?)")


def airflow_env(home: Path, simulator: SimulatorProcess) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "example_dags"),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        AIRFLOW_CONN_OCTOPODS_DEFAULT=simulator.connection_json(),
    )
    return env


def run(command: list[str], env: dict[str, str], log: Path) -> str:
    with log.open("w") as out:
        result = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    text = log.read_text()
    if result.returncode != 0:
        raise SystemExit(f"`{' '.join(command[1:])}` failed (exit {result.returncode}); see {log}")
    return text


def deferred_seconds(output: str) -> list[float]:
    """How long each inline trigger ran: from "running trigger in line" to "Trigger completed"."""
    waits, started = [], None
    for line in output.splitlines():
        match = STAMP.match(line)
        if not match:
            continue
        moment = dt.datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
        if "[DAG TEST] running trigger in line" in line:
            started = moment
        elif "[DAG TEST] Trigger completed" in line and started is not None:
            waits.append((moment - started).total_seconds())
            started = None
    return waits


def run_results(env: dict[str, str]) -> dict[str, Any]:
    """Final states and XComs of the DAG runs, read from the metadata database."""
    script = """
import json, sys
from airflow.models import DagRun
from airflow.utils.session import create_session
out = {}
with create_session() as session:
    for dag_id in sys.argv[1:]:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
        tis = {f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: str(ti.state)
               for ti in run.get_task_instances(session=session)}
        kept = {ti.task_id: ti.xcom_pull(task_ids=ti.task_id)
                for ti in run.get_task_instances(session=session)
                if ti.task_id in ("export_sent_messages", "compact_sent_messages")}
        out[dag_id] = {"state": str(run.state), "tasks": tis,
                       "export": kept.get("export_sent_messages"),
                       "history": kept.get("compact_sent_messages")}
print(json.dumps(out))
"""
    result = subprocess.run(
        [sys.executable, "-c", script, *DAGS, HISTORY], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def live_through_the_day(
    env: dict[str, str], simulator: SimulatorProcess, day: dt.datetime, work: Path
) -> None:
    """The capture DAG for each 10-minute interval of the day, then the night: the compaction."""
    print("  octopods_history_capture, 144 intervals of the day (dag.test, clock advancing) ...", flush=True)
    run(
        [sys.executable, str(ROOT / "scripts" / "_replay_captures.py"), simulator.base_url, day.isoformat()],
        env,
        work / "octopods_history_capture.log",
    )
    night = day + dt.timedelta(days=1)
    simulator.admin.advance_clock(max(0.0, night.timestamp() + 1800 - float(simulator.admin.clock()["now"])))
    print(f"  airflow dags test {HISTORY} {night.isoformat()} ...", flush=True)
    run([str(BIN / "airflow"), "dags", "test", HISTORY, night.isoformat()], env, work / f"{HISTORY}.log")


def print_summary(
    results: dict[str, Any], outputs: dict[str, str], simulator: SimulatorProcess, day: dt.datetime
) -> None:
    print("\nMessages the DAGs sent (simulator's view):")
    for message in sorted(simulator.admin.messages(), key=lambda m: m["message_id"]):
        if message.get("source") != "api":
            continue
        reason = f" - {message['failure_reason']}" if message.get("failure_reason") else ""
        print(
            f"  {message['message_id']}  {message['channel']:<8} {message['phone_number']:<14} "
            f"{message['status']}{reason}"
        )
    print("\nDeferred waits (sensor handed to the trigger until the event):")
    for dag_id in DAGS[:2]:
        waits = ", ".join(f"{seconds:.1f} s" for seconds in deferred_seconds(outputs[dag_id])) or "none"
        print(f"  {dag_id}: {waits}")
    export = results["octopods_nightly_export"]["export"] or {}
    print("\nExport:")
    if export:
        kept = keep(export["path"])
        print(f"  {export['path']}: {export['count']} records (truncated: {export['truncated']})")
        print(f"  copied to {kept.relative_to(ROOT)} (the Airflow home is removed)")
    history = results[HISTORY]["history"] or {}
    sent = sum(
        1
        for message in simulator.admin.messages()
        if day.timestamp() <= message["created_at"] < (day + dt.timedelta(days=1)).timestamp()
    )
    print(f"\nHistory of {day:%Y-%m-%d} (144 captures every 10 minutes, compacted at night):")
    if history:
        print(
            f"  sent {sent}, compacted {history['count']}; complete: {history['complete']}; "
            f"{history['refreshed']} statuses read again; {history['partitions']} partitions"
        )
        print(f"  {history['path']} copied to {keep(history['path']).relative_to(ROOT)}")


def keep(uri: str) -> Path:
    """Copy a file the demo wrote to artifacts/demo (the Airflow home is removed at the end)."""
    kept = ROOT / "artifacts" / "demo" / Path(uri.removeprefix("file://")).name
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(uri.removeprefix("file://"), kept)
    return kept


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="octopods-demo-"))
    home = work / "airflow-home"
    home.mkdir()
    # The simulator lives through yesterday: its clock starts at midnight, with the day's traffic ahead.
    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    simulator = SimulatorProcess(
        *("--seed", "7", "--deliver-after", "3", "--read-after", "none"),
        *("--clock-start", day.isoformat(), "--traffic", TRAFFIC),
        log_file=work / "simulator.log",
    ).start()
    try:
        env = airflow_env(home, simulator)
        print(
            f"Octopods simulator on {simulator.base_url}, its clock at {day:%Y-%m-%d %H:%M} UTC; "
            f"Airflow home {home}"
        )
        run([str(BIN / "airflow"), "db", "migrate"], env, work / "db-migrate.log")
        outputs = {}
        for dag_id in DAGS:
            print(f"  airflow dags test {dag_id} ...", flush=True)
            outputs[dag_id] = run([str(BIN / "airflow"), "dags", "test", dag_id], env, work / f"{dag_id}.log")
        live_through_the_day(env, simulator, day, work)
        results = run_results(env)
        failed = {dag_id: r for dag_id, r in results.items() if r["state"] != "success"}
        print_summary(results, outputs, simulator, day)
        print("\nDAG runs:")
        for dag_id, result in results.items():
            print(f"  {dag_id}: {result['state']}")
        if failed:
            print(f"\nFailed runs: {', '.join(failed)}; logs in {work}", file=sys.stderr)
            return 1
        shutil.rmtree(work, ignore_errors=True)
        return 0
    finally:
        simulator.stop()


if __name__ == "__main__":
    sys.exit(main())

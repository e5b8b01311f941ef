"""
`make demo`: run both example DAGs end to end against the bundled Octopods simulator.

Starts the simulator on loopback, uses a throwaway AIRFLOW_HOME on SQLite, points
``octopods_default`` at the simulator (from the simulator's first JSON line), runs
``airflow dags test`` for each example DAG, then prints what happened: every message with its final
status, the export file and its record count, and how long each sensor waited deferred. Exits 0
only if every run succeeded, and stops every process it started.
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
        export = run.get_task_instance("export_sent_messages", session=session)
        out[dag_id] = {"state": str(run.state), "tasks": tis,
                       "export": export.xcom_pull(task_ids="export_sent_messages") if export else None}
print(json.dumps(out))
"""
    result = subprocess.run(
        [sys.executable, "-c", script, *DAGS], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="octopods-demo-"))
    home = work / "airflow-home"
    home.mkdir()
    simulator = SimulatorProcess(
        "--seed", "7", "--deliver-after", "3", "--read-after", "none", log_file=work / "simulator.log"
    ).start()
    try:
        admin = simulator.admin
        env = airflow_env(home, simulator)
        print(f"Octopods simulator on {simulator.base_url}; Airflow home {home} (SQLite)")
        run([str(BIN / "airflow"), "db", "migrate"], env, work / "db-migrate.log")
        outputs = {}
        for dag_id in DAGS:
            print(f"  airflow dags test {dag_id} ...", flush=True)
            outputs[dag_id] = run([str(BIN / "airflow"), "dags", "test", dag_id], env, work / f"{dag_id}.log")
        results = run_results(env)
        failed = {dag_id: r for dag_id, r in results.items() if r["state"] != "success"}

        print("\nMessages (simulator's view):")
        for message in sorted(admin.messages(), key=lambda m: m["message_id"]):
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
            kept = ROOT / "artifacts" / "demo" / Path(export["path"].removeprefix("file://")).name
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(export["path"].removeprefix("file://"), kept)
            print(f"  {export['path']}: {export['count']} records (truncated: {export['truncated']})")
            print(f"  copied to {kept.relative_to(ROOT)} (the Airflow home is removed)")
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

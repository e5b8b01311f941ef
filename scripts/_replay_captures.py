"""
Replay a day of 10-minute captures for ``make demo``: move the simulator's clock through the day and
run ``octopods_history_capture`` (with ``dag.test()``, in this one process) for each interval.

    python scripts/_replay_captures.py <simulator base URL> <day start, ISO 8601>

Airflow's environment (AIRFLOW_HOME, the dags folder, the Octopods connection) comes from the caller.
"""

from __future__ import annotations

import datetime as dt
import sys

from airflow_provider_octopods.simulator import SimulatorAdminClient

STEP = dt.timedelta(minutes=10)


def main(base_url: str, day_start: str) -> int:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2, 3.0 and 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    admin = SimulatorAdminClient(base_url, timeout=60.0)
    dag = DagBag().get_dag("octopods_history_capture")  # the dags folder the caller set; no examples
    start = dt.datetime.fromisoformat(day_start)
    failed = 0
    for step in range(1, 145):
        end = start + step * STEP
        behind = end.timestamp() + 1 - float(admin.clock()["now"])
        if behind > 0:
            admin.advance_clock(behind)
        run = dag.test(**{"logical_date" if _airflow3() else "execution_date": end})
        failed += str(run.state) != "success"
    print(f"{144 - failed} of 144 captures succeeded", flush=True)
    return 1 if failed else 0


def _airflow3() -> bool:
    import airflow

    return int(airflow.__version__.split(".")[0]) >= 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

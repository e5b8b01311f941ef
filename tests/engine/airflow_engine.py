"""Airflow's real components on a private PostgreSQL, driven through the REST API.

Airflow 3.x: ``api-server``, ``scheduler``, ``dag-processor`` and ``triggerer``; Airflow 2.x:
``webserver``, ``scheduler`` (which parses DAGs itself) and ``triggerer``. The LocalExecutor runs
the tasks; ``parallelism`` sets how many executor slots there are. One triggerer by default;
``triggerers=N`` starts N (each with its own log and log-server port, and optionally its own
capacity), :meth:`AirflowEngine.add_triggerer` adds one later and :meth:`AirflowEngine.kill` kills a
component as a dying host would. Each component runs from this
virtualenv's ``airflow`` command, in its own process group, logging to a file under a throwaway
``AIRFLOW_HOME``. Nothing is read from or written to the test process's own Airflow configuration:
every ``AIRFLOW*`` variable of the parent is dropped and the engine's own are set.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import psycopg2
import requests

from airflow_provider_octopods.simulator.connection import airflow_connection
from tests.engine.processes import Component, free_port, processes_with_env, stop_all

T = TypeVar("T")

#: Environment variable set in every process the engine starts, to find them all at the end.
MARKER_VAR = "OCTOPODS_ENGINE_RUN"
#: Environment variable naming the component (``<run token>:<name>``) in each of its processes.
COMPONENT_VAR = "OCTOPODS_ENGINE_COMPONENT"


class EngineError(AssertionError):
    """The engine did not reach the expected state; the message carries the components' logs."""


def airflow_version() -> str:
    return version("apache-airflow")


def airflow_major() -> int:
    return int(airflow_version().split(".")[0])


def venv_bin(name: str) -> str:
    """A console script of the virtualenv running the tests (not resolved: a venv's python is a symlink)."""
    return str(Path(sys.executable).parent / name)


def log(message: str) -> None:
    """A progress line in the test output (shown with ``pytest -s``, and in CI logs)."""
    print(f"[engine {time.strftime('%H:%M:%S')}] {message}", flush=True)


class OctopodsSimulatorProcess:
    """The bundled simulator in its own process, as the components would meet a real API."""

    def __init__(self, home: Path, env: dict[str, str], *args: str) -> None:
        cmd = [sys.executable, "-m", "airflow_provider_octopods.simulator", "--port", "0", *args]
        self.component = Component("simulator", cmd, env, home / "simulator.log", cwd=home)
        self.info = self._read_info()
        self.base_url: str = self.info["base_url"]

    def _read_info(self, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.component.log_path.read_text(errors="replace").splitlines():
                if line.startswith("{"):
                    info = json.loads(line)
                    if "base_url" in info:
                        return dict(info)
            if not self.component.running():
                break
            time.sleep(0.1)
        raise EngineError("the simulator did not print its address\n" + self.component.log_tail())

    def connection_json(self) -> str:
        return json.dumps(
            airflow_connection(
                self.base_url,
                whatsapp_api_key=self.info["whatsapp_api_key"],
                channel_api_key=self.info["channel_api_key"],
                timeout=10,
                max_retries=3,
            )
        )


class AirflowEngine:
    """Start, drive and stop a real Airflow installation. Use :meth:`start` / :meth:`stop`."""

    ADMIN = "admin"

    def __init__(
        self,
        *,
        sqlalchemy_url: str,
        db_connect_kwargs: dict[str, Any],
        dag_files: list[Path],
        parallelism: int = 1,
        simulator_args: tuple[str, ...] = (),
        triggerers: int = 1,
        triggerer_capacity: int | Sequence[int | None] | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        """
        :param dag_files: Linked into the DAGs folder (more can follow with :meth:`add_dag_files`).
        :param parallelism: The executor slots.
        :param simulator_args: Command-line options of the simulator.
        :param triggerers: How many triggerers :meth:`start` starts.
        :param triggerer_capacity: ``--capacity`` of every triggerer, or of each in turn (None:
            Airflow's default).
        :param extra_env: More Airflow settings (``AIRFLOW__SECTION__KEY``) for every component.
        """
        self.version = airflow_version()
        self.major = airflow_major()
        self.home = Path(tempfile.mkdtemp(prefix="octopods-engine-home-"))
        self.dags_folder = self.home / "dags"
        self.dags_folder.mkdir()
        self.add_dag_files(*dag_files)
        # A letter first: a password starting with "-" would read as an option to the CLI below.
        self.password = "p" + secrets.token_urlsafe(12)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.run_token = secrets.token_hex(8)
        self.sqlalchemy_url = sqlalchemy_url
        self.db_connect_kwargs = db_connect_kwargs
        self._db: Any = None
        self.parallelism = parallelism
        self.simulator_args = simulator_args
        if triggerers < 1:
            raise ValueError("an engine needs at least one triggerer")
        if triggerer_capacity is None or isinstance(triggerer_capacity, int):
            self.triggerer_capacity: list[int | None] = [triggerer_capacity] * triggerers
        else:
            self.triggerer_capacity = list(triggerer_capacity)
            if len(self.triggerer_capacity) != triggerers:
                raise ValueError("triggerer_capacity needs one entry per triggerer")
        self.extra_env = dict(extra_env or {})
        self.components: list[Component] = []
        self.simulator: OctopodsSimulatorProcess | None = None
        self.session = requests.Session()
        self.session.trust_env = False  # never send loopback calls through a proxy
        self._token_time: float | None = None  # monotonic time of the last token; None before the first
        self.stopped = False

    # -- configuration ------------------------------------------------------------------------

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                MARKER_VAR: self.run_token,
                "PYTHONUNBUFFERED": "1",
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )
        return env

    def airflow_env(self) -> dict[str, str]:
        env = self.base_env()
        fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sqlalchemy_url,
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__FERNET_KEY": fernet_key,
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__METRICS__STATSD_ON": "False",
            }
        )
        if self.simulator is not None:
            env["AIRFLOW_CONN_OCTOPODS_DEFAULT"] = self.simulator.connection_json()
        if self.major >= 3:
            passwords = self.home / "simple_auth_manager_passwords.json"
            passwords.write_text(json.dumps({self.ADMIN: self.password}))
            env.update(
                {
                    "AIRFLOW__API__HOST": "127.0.0.1",
                    "AIRFLOW__API__PORT": str(self.port),
                    "AIRFLOW__API__BASE_URL": self.base_url,
                    "AIRFLOW__API__WORKERS": "1",
                    "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
                    "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                    "AIRFLOW__CORE__AUTH_MANAGER": (
                        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                    ),
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.ADMIN}:admin",
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
                }
            )
        else:
            env.update(
                {
                    "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
                    "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(self.port),
                    "AIRFLOW__WEBSERVER__BASE_URL": self.base_url,
                    "AIRFLOW__WEBSERVER__SECRET_KEY": secrets.token_urlsafe(24),
                    "AIRFLOW__WEBSERVER__WORKERS": "1",
                    "AIRFLOW__WEBSERVER__WEB_SERVER_WORKER_TIMEOUT": "300",
                    "AIRFLOW__API__AUTH_BACKENDS": (
                        "airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session"
                    ),
                    "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "10",
                }
            )
        env.update(self.extra_env)
        return env

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, *, timeout: float = 180) -> None:
        started = time.monotonic()
        self.simulator = OctopodsSimulatorProcess(self.home, self.base_env(), *self.simulator_args)
        self.components.append(self.simulator.component)
        log(f"simulator at {self.simulator.base_url}")
        self.env = self.airflow_env()
        self.airflow_cli("db", "migrate")
        if self.major < 3:
            user = ["--username", self.ADMIN, f"--password={self.password}", "--role", "Admin"]
            names = ["--firstname", "Engine", "--lastname", "Test", "--email", "engine-test@example.com"]
            self.airflow_cli("users", "create", *user, *names)
        slots = self.airflow_cli("config", "get-value", "core", "parallelism").strip()
        executor = self.airflow_cli("config", "get-value", "core", "executor").strip()
        assert slots == str(self.parallelism), slots
        log(f"Airflow {self.version}: database migrated on PostgreSQL; {executor}, parallelism={slots}")
        if self.major >= 3:
            commands = ["api-server", "scheduler", "dag-processor"]
        else:
            commands = ["webserver", "scheduler"]  # the scheduler parses the DAGs itself
        for name in commands:
            self._start_component(name, [name])
        for capacity in self.triggerer_capacity:
            self.add_triggerer(capacity=capacity, announce=False)
        log("started " + ", ".join(f"{c.name} (pid {c.pid})" for c in self.components))
        health = self.wait_for("healthy components", self._healthy, timeout=timeout)
        log(f"healthy after {time.monotonic() - started:.0f} s: {health}")

    def _start_component(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Component:
        env = dict(env if env is not None else self.env)
        env[COMPONENT_VAR] = f"{self.run_token}:{name}"
        component = Component(name, [venv_bin("airflow"), *args], env, self.home / f"{name}.log", self.home)
        self.components.append(component)
        return component

    @property
    def triggerers(self) -> list[Component]:
        """The triggerers started so far, in order (killed ones included)."""
        return [c for c in self.components if c.name == "triggerer" or c.name.startswith("triggerer-")]

    def add_triggerer(self, *, capacity: int | None = None, announce: bool = True) -> Component:
        """
        Start one more triggerer: ``triggerer`` for the first, then ``triggerer-2``, ``triggerer-3``...
        Each has its own log (``<name>.log``) and its own trigger log-server port.
        """
        number = len(self.triggerers) + 1
        name = "triggerer" if number == 1 else f"triggerer-{number}"
        env = dict(self.env)
        env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(free_port())
        args = ["triggerer"] + ([] if capacity is None else ["--capacity", str(capacity)])
        component = self._start_component(name, args, env)
        if announce:
            log(f"started {name} (pid {component.pid}, capacity {capacity or 'default'})")
        return component

    def component(self, name: str) -> Component:
        [found] = [c for c in self.components if c.name == name]
        return found

    def kill(self, name: str) -> list[int]:
        """SIGKILL every process of component ``name`` at once, as when its host dies; returns the pids."""
        component = self.component(name)
        return component.kill_hard(marker=(COMPONENT_VAR, f"{self.run_token}:{name}"))

    def processes_of(self, name: str) -> list[int]:
        """The live processes of component ``name`` (its forks included)."""
        return processes_with_env(COMPONENT_VAR, f"{self.run_token}:{name}")

    def add_dag_files(self, *paths: Path) -> None:
        """
        Link more DAG files into the DAGs folder of the running engine, for a test's own DAGs; the
        DAG processor (on Airflow 2 the scheduler) finds them at its next scan of the folder, so
        follow with :meth:`wait_for_dags`. A file already there is left as it is.
        """
        for path in paths:
            link = self.dags_folder / path.name
            if not link.exists():
                link.symlink_to(path.resolve())

    def airflow_cli(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            [venv_bin("airflow"), *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        with (self.home / "cli.log").open("a") as cli_log:
            cli_log.write(f"$ airflow {' '.join(args)}\n{result.stdout}{result.stderr}")
        if result.returncode != 0:
            raise EngineError(
                f"airflow {' '.join(args)} failed ({result.returncode}):\n"
                + "\n".join((result.stdout + result.stderr).splitlines()[-60:])
            )
        return result.stdout

    def stop(self) -> list[str]:
        """Stop every process started (SIGTERM, then SIGKILL); raise if any survives."""
        if self.stopped:
            return []
        self.stopped = True
        self.session.close()
        if self._db is not None:
            self._db.close()
        # The simulator goes last so the components' final calls do not fail.
        order = [c for c in self.components if c.name != "simulator"] + [
            c for c in self.components if c.name == "simulator"
        ]
        killed = stop_all(order, marker=(MARKER_VAR, self.run_token))
        log(
            f"stopped {len(order)} components"
            + (f"; had to SIGKILL: {'; '.join(killed)}" if killed else "; all exited on SIGTERM")
        )
        return killed

    def cleanup(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    # -- waiting and diagnostics ---------------------------------------------------------------

    def wait_for(
        self, what: str, probe: Callable[[], T | None], *, timeout: float = 120, every: float = 0.25
    ) -> T:
        """Call ``probe`` until it returns a truthy value; fail with the logs after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            dead = [c for c in self.components if not c.killed and not c.running()]
            if dead:
                raise EngineError(
                    f"while waiting for {what}: {', '.join(c.name for c in dead)} exited\n" + self.logs_tail()
                )
            try:
                value = probe()
                if value:
                    return value
            except (requests.RequestException, psycopg2.Error, ValueError, KeyError) as error:
                last_error = error
            if time.monotonic() > deadline:
                raise EngineError(
                    f"timed out after {timeout:.0f} s waiting for {what}"
                    + (f" (last error: {last_error!r})" if last_error else "")
                    + "\n"
                    + self.logs_tail()
                )
            time.sleep(every)

    def logs_tail(self, lines: int = 60) -> str:
        return "\n".join(c.log_tail(lines) for c in self.components)

    def task_log_lines(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[str]:
        """The messages of one attempt's log files (the worker's, then the triggerer's part).

        Airflow 3 writes JSON lines (the message is the ``event``); Airflow 2 writes text lines.
        """
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        parts = sorted(folder.glob(f"attempt={try_number}.log*")) if folder.exists() else []
        lines = []
        for part in parts:
            for line in part.read_text(errors="replace").splitlines():
                if line.startswith("{"):
                    try:
                        record = json.loads(line)
                        line = f"{record.get('timestamp', '')} {record.get('event', '')}"
                    except ValueError:
                        pass
                lines.append(f"{part.name}: {line}")
        return lines

    # -- REST API ------------------------------------------------------------------------------

    @property
    def api(self) -> str:
        return f"{self.base_url}/api/v2" if self.major >= 3 else f"{self.base_url}/api/v1"

    def _authenticate(self) -> None:
        if self.major < 3:
            self.session.auth = (self.ADMIN, self.password)
            return
        # Tokens are renewed every 10 minutes. (Not `monotonic() - 0.0 < 600`: on a machine up for
        # less than ten minutes that would never fetch the first token.)
        if self._token_time is not None and time.monotonic() - self._token_time < 600:
            return
        response = self.session.post(
            f"{self.base_url}/auth/token",
            json={"username": self.ADMIN, "password": self.password},
            timeout=30,
        )
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        self._token_time = time.monotonic()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        self._authenticate()
        return self.session.request(method, f"{self.api}{path}", timeout=30, **kwargs)

    def get(self, path: str) -> Any:
        response = self.request("GET", path)
        response.raise_for_status()
        return response.json()

    def _healthy(self) -> dict[str, str] | None:
        path = "/api/v2/monitor/health" if self.major >= 3 else "/health"
        body = self.session.get(self.base_url + path, timeout=10).json()
        wanted = ["metadatabase", "scheduler", "triggerer"] + (["dag_processor"] if self.major >= 3 else [])
        statuses = {name: (body.get(name) or {}).get("status") for name in wanted}
        return statuses if all(s == "healthy" for s in statuses.values()) else None

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 120) -> None:
        def parsed() -> bool:
            for dag_id in dag_ids:
                response = self.request("GET", f"/dags/{dag_id}")
                if response.status_code != 200 or response.json().get("is_paused"):
                    return False
            return True

        self.wait_for(f"DAGs {', '.join(dag_ids)} parsed and unpaused", parsed, timeout=timeout)

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"dag_run_id": run_id, "conf": conf or {}}
        if self.major >= 3:
            body["logical_date"] = None
        response = self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)
        if response.status_code not in (200, 201):
            raise EngineError(f"triggering {dag_id} failed: {response.status_code} {response.text}")

    def dag_run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.get(f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        body = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti for ti in body["task_instances"]}

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """Each task's state; ``none`` for a task instance without one yet."""
        return {
            task_id: str(ti["state"] or "none") for task_id, ti in self.task_instances(dag_id, run_id).items()
        }

    def pool(self, name: str = "default_pool") -> dict[str, Any]:
        return dict(self.get(f"/pools/{name}"))

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")["value"]

    # -- the metadata database, read directly ---------------------------------------------------

    def db_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only query on the metadata database."""
        if self._db is None or self._db.closed:
            self._db = psycopg2.connect(**self.db_connect_kwargs, connect_timeout=10)
            self._db.autocommit = True
        with self._db.cursor() as cur:
            cur.execute(sql, tuple(params))
            return list(cur.fetchall())

    def triggerer_jobs(self) -> list[dict[str, Any]]:
        """Every triggerer job, oldest first: id, state, seconds since its latest heartbeat."""
        rows = self.db_rows(
            "SELECT id, state, EXTRACT(EPOCH FROM (now() - latest_heartbeat)) FROM job "
            "WHERE job_type = 'TriggererJob' ORDER BY id"
        )
        return [{"id": r[0], "state": r[1], "heartbeat_age": float(r[2])} for r in rows]

    def triggers(self) -> list[dict[str, Any]]:
        """Every trigger row: id, classpath, the triggerer job holding it (None: unassigned), its task."""
        rows = self.db_rows(
            "SELECT t.id, t.classpath, t.triggerer_id, ti.dag_id, ti.run_id, ti.task_id "
            "FROM trigger t LEFT JOIN task_instance ti ON ti.trigger_id = t.id ORDER BY t.id"
        )
        keys = ("id", "classpath", "triggerer_id", "dag_id", "run_id", "task_id")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def db_states(self, dag_id: str, run_id: str) -> tuple[str, dict[str, str]]:
        """The run's state and each task's state, as the scheduler sees them (one cheap query each).

        Frequent state polling reads the database rather than the REST API: on Airflow 3 the
        api-server also serves the Execution API the running tasks talk to.
        """
        runs = self.db_rows("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))
        rows = self.db_rows(
            "SELECT task_id, state FROM task_instance WHERE dag_id = %s AND run_id = %s ORDER BY task_id",
            (dag_id, run_id),
        )
        tasks = {task_id: str(state or "none") for task_id, state in rows}
        row = runs[0] if runs else None
        return (str(row[0] or "none") if row else "none"), tasks


class StateObserver:
    """Polls a DAG run's task states and records each task's sequence of distinct states."""

    def __init__(self, engine: AirflowEngine, dag_id: str, run_id: str) -> None:
        self.engine = engine
        self.dag_id = dag_id
        self.run_id = run_id
        self.sequences: dict[str, list[str]] = {}
        self.run_state = "none"

    def poll(self) -> dict[str, str]:
        self.run_state, states = self.engine.db_states(self.dag_id, self.run_id)
        for task_id, state in states.items():
            seen = self.sequences.setdefault(task_id, [])
            if not seen or seen[-1] != state:
                seen.append(state)
                log(f"{self.dag_id} {task_id}: {state}")
        return states

    def until(self, what: str, condition: Callable[[dict[str, str]], bool], timeout: float = 120) -> None:
        def probe() -> bool:
            states = self.poll()
            if self.run_state == "failed":
                raise EngineError(
                    f"{self.dag_id} run {self.run_id} failed while waiting for {what}: {states}\n"
                    + self.engine.logs_tail()
                )
            return condition(states)

        self.engine.wait_for(what, probe, timeout=timeout)

    def summary(self, task_id: str) -> str:
        return f"{task_id}: " + " -> ".join(self.sequences.get(task_id, []))

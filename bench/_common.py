"""Helpers shared by the benchmarks: a throwaway Airflow home, the simulator subprocess, driving
triggers as a triggerer does, memory sampling, percentiles and table printing.

Nothing here imports Airflow when it is imported: :func:`airflow_env` must run before the first
``import airflow`` of a benchmark process (Airflow reads its configuration once, at import).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import re
import resource
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from airflow_provider_octopods.simulator import SimulatorAdminClient, SimulatorProcess

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"

#: Lines a benchmark client prints for its parent start with this, followed by one JSON object.
MARK = "@@bench "

_PAGE = os.sysconf("SC_PAGE_SIZE")


def airflow_env(home: str | None = None, environ: dict[str, str] | None = None) -> dict[str, str]:
    """
    Point Airflow at a throwaway home (examples off, sqlite under it) in ``environ``.

    With ``environ`` None this changes ``os.environ`` of the current process, which must then not
    have imported Airflow yet. Returns the environment that was changed.
    """
    home = home or tempfile.mkdtemp(prefix="octopods-bench-airflow-")
    settings = {
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(home) / "dags"),
    }
    if environ is None:
        os.environ.update(settings)
        return dict(os.environ)
    environ.update(settings)
    return environ


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a benchmark subprocess: this repo and ``bench/`` importable, a fresh home."""
    env = dict(os.environ)
    paths = [str(ROOT), str(BENCH)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.pop("AIRFLOW_HOME", None)
    airflow_env(environ=env)
    env.update(extra)
    return env


def remove_home(env: dict[str, str]) -> None:
    home = env.get("AIRFLOW_HOME")
    if home and Path(home).name.startswith("octopods-bench-airflow-"):
        shutil.rmtree(home, ignore_errors=True)


def airflow_logs_to_file(path: Path) -> None:
    """
    Keep Airflow's log processors but write the lines to a file, as a task log would be (Airflow 3
    logs through structlog to stdout; on Airflow 2 this leaves logging as it is).
    """
    import structlog

    config = structlog.get_config()
    processors = [*config["processors"][:-1], structlog.processors.JSONRenderer()]
    structlog.configure(
        processors=processors, logger_factory=structlog.WriteLoggerFactory(file=path.open("a"))
    )


def replace_generated(doc: Path, begin: str, end: str, block: str, heading: str) -> None:
    """Put ``block`` (from ``begin`` to ``end``) in place of the old one in ``doc``, or append it."""
    text = doc.read_text() if doc.exists() else f"# {doc.stem.title()}\n\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + f"\n\n## {heading}\n\n" + block + "\n"
    doc.write_text(text)


# --------------------------------------------------------------------------------------------------
# The simulator, in its own process
# --------------------------------------------------------------------------------------------------


class Simulator(SimulatorProcess):
    """The bundled Octopods simulator in a subprocess, on loopback, with its admin client."""

    @classmethod
    def start_with(cls, *options: str, seed: int = 1) -> Simulator:
        env = subprocess_env()
        try:
            simulator = cls(*options, "--seed", str(seed), "--log-level", "ERROR", env=env)
            simulator.start()
        finally:
            remove_home(env)
        return simulator

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    @property
    def admin(self) -> SimulatorAdminClient:
        return SimulatorAdminClient(self.base_url, timeout=60.0)

    def http_connection(self) -> str:
        """JSON for an ``http`` connection (the http provider's) pointing at the simulator."""
        return json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": self.port, "schema": "http"})


# --------------------------------------------------------------------------------------------------
# Driving triggers as a triggerer does, and noting when they saw each delivery
# --------------------------------------------------------------------------------------------------

_DETECTED = re.compile(r"message (\d+) is (DELIVERED|READ|DELETED)")


def install_log_capture(path: Path) -> dict[int, float]:
    """
    Keep Airflow's structlog processors, but render the lines as JSON into a file (as a triggerer
    writes trigger logs) and note when a trigger logged each message reaching its target.
    """
    import structlog

    found: dict[int, float] = {}

    def capture(logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event = event_dict.get("event")
        if isinstance(event, str) and (match := _DETECTED.search(event)):
            found.setdefault(int(match.group(1)), time.time())
        return event_dict

    config = structlog.get_config()
    processors = [*config["processors"][:-1], capture, structlog.processors.JSONRenderer()]
    log_file = path.open("a")  # kept open for the life of the process
    structlog.configure(processors=processors, logger_factory=structlog.WriteLoggerFactory(file=log_file))
    return found


def build_trigger(serialized: tuple[str, dict[str, Any]]) -> Any:
    """Rebuild a trigger from ``serialize()`` output, the way the triggerer does from its table."""
    classpath, kwargs = serialized
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))


async def first_event(trigger: Any) -> tuple[float, Any]:
    """Drive ``trigger.run()`` to its first event, as the triggerer does; note when it came."""
    events = trigger.run()
    try:
        event = await anext(events)
        return time.time(), event.payload
    finally:
        await events.aclose()


# --------------------------------------------------------------------------------------------------
# Parent <-> client protocol: marked JSON lines on the client's stdout, JSON lines on its stdin
# --------------------------------------------------------------------------------------------------


def emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(MARK + json.dumps(payload) + "\n")
    sys.stdout.flush()


def read_marked(stream: IO[str], *, echo: IO[str] | None = None) -> dict[str, Any]:
    """The next marked JSON line of a client (other lines are echoed to ``echo`` if given)."""
    while True:
        line = stream.readline()
        if not line:
            raise RuntimeError("benchmark client ended without reporting")
        if line.startswith(MARK):
            return dict(json.loads(line[len(MARK) :]))
        if echo is not None:
            echo.write(line)


# --------------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------------


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in bytes."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
    return values


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class RssSampler:
    """Samples this process's RSS in a background thread (20 Hz) and keeps the peak."""

    interval: float = 0.05
    peak: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())
            self.samples += 1

    def __enter__(self) -> RssSampler:
        self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float:
    return percentile(values, 50.0)


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]], *, markdown: bool = False, left: int = 1) -> str:
    """An aligned table (the first ``left`` columns left-aligned, the figures right), or a Markdown one."""
    if markdown:
        rule = ["---"] * left + ["---:"] * (len(header) - left)
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for row in [header, *rows]:
        out.append(
            "  ".join(
                cell.ljust(widths[i]) if i < left else cell.rjust(widths[i]) for i, cell in enumerate(row)
            )
        )
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def machine() -> dict[str, Any]:
    """What the figures were measured on (no host names or paths)."""
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.machine()}",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(payload, indent=2))  # insertion order: the order of the tables

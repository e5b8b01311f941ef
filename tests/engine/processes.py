"""Start and stop long-running processes for the real-engine tests, and prove none is left behind.

Every component runs in its own session (so its own process group) with its output in a log file.
Stopping sends SIGTERM to the whole group, waits, then SIGKILLs what is left. Airflow forks workers,
task supervisors and log servers; some of them may leave the group, so :func:`processes_with_env`
also finds every process that carries a marker environment variable, whatever its group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
    return raw[raw.rindex(")") + 2 :].split()


def pid_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def process_group_members(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
                members.append(int(entry))
    return members


def processes_with_env(name: str, value: str) -> list[int]:
    """Live processes (other than this one) whose environment holds ``name=value``."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and pid_alive(int(entry)):
            found.append(int(entry))
    return found


def describe(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        cmdline = "?"
    return f"{pid} {cmdline.strip()[:160]}"


class Component:
    """One long-running process in its own process group, output to ``log_path``."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> None:
        self.name = name
        self.cmd = cmd
        self.log_path = log_path
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pgid = self.proc.pid  # a new session leader's group id is its pid
        #: Set when a test kills the component on purpose: waits no longer treat its exit as a failure.
        self.killed = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            text = []
        return f"--- {self.name} ({self.log_path.name}, last {lines} lines) ---\n" + "\n".join(text)

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)

    def kill_hard(self, *, marker: tuple[str, str] | None = None, timeout: float = 10.0) -> list[int]:
        """
        SIGKILL every process of the component at once, as when its host dies: its group and, with
        ``marker``, every process carrying that environment variable. Returns the pids killed.
        """
        self.killed = True
        pids = set(process_group_members(self.pgid))
        if marker is not None:
            pids.update(processes_with_env(*marker))
        if self.running():
            pids.add(self.pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self.signal_group(signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.proc.poll()
            if not any(pid_alive(pid) for pid in pids):
                break
            time.sleep(0.05)
        survivors = [pid for pid in pids if pid_alive(pid)]
        assert not survivors, f"{self.name} survived SIGKILL: " + "; ".join(map(describe, survivors))
        return sorted(pids)

    def close_log(self) -> None:
        with contextlib.suppress(Exception):
            self._log.close()


def stop_all(
    components: list[Component], *, marker: tuple[str, str] | None, grace: float = 30.0
) -> list[str]:
    """SIGTERM every component's group, wait up to ``grace`` s, then SIGKILL what is left.

    Returns a description of each process that had to be killed. Raises ``AssertionError`` if any
    process of the groups (or carrying the ``marker`` environment variable) survives SIGKILL.
    """
    for component in components:
        component.signal_group(signal.SIGTERM)

    def leftovers() -> set[int]:
        pids: set[int] = set()
        for component in components:
            if component.running():
                pids.add(component.pid)
            pids.update(process_group_members(component.pgid))
        if marker is not None:
            pids.update(processes_with_env(*marker))
        return pids

    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        for component in components:
            component.proc.poll()  # reap
        if not leftovers():
            break
        time.sleep(0.2)

    killed = []
    remaining = leftovers()
    if remaining:
        for pid in remaining:
            killed.append(describe(pid))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for component in components:
            component.signal_group(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for component in components:
                component.proc.poll()
            if not leftovers():
                break
            time.sleep(0.1)
    for component in components:
        with contextlib.suppress(subprocess.TimeoutExpired):
            component.proc.wait(timeout=5)
        component.close_log()
    survivors = leftovers()
    assert not survivors, "processes still running after SIGKILL: " + "; ".join(map(describe, survivors))
    return killed

"""A private PostgreSQL cluster on loopback for the real-engine tests.

The cluster lives in a temporary directory: ``initdb`` into it, ``pg_ctl start`` on 127.0.0.1 on a
free port with the socket in the same directory, one database and role for Airflow, and at the end
``pg_ctl stop`` and the directory removed. PostgreSQL refuses to run as root, so when the tests run
as root the server runs as the ``postgres`` user (created by the Debian package). No system cluster
is read or touched.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.engine.processes import free_port, pid_alive

SERVER_USER = "postgres"


class PostgresUnavailableError(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb`` and ``pg_ctl``."""
    candidates = []
    for pg_ctl in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"):
        bindir = Path(pg_ctl).parent
        match = re.fullmatch(r"\d+", bindir.parent.name)
        if match and (bindir / "initdb").exists():
            candidates.append((int(bindir.parent.name), bindir))
    if not candidates:
        raise PostgresUnavailableError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
            "(install them with scripts/engine/ensure-system-packages.sh)"
        )
    return max(candidates)[1]


class PrivatePostgres:
    """One throwaway PostgreSQL cluster; use as a context manager."""

    def __init__(self, *, database: str = "airflow", user: str = "airflow") -> None:
        self.bindir = find_bindir()
        self.database = database
        self.user = user
        self.password = secrets.token_hex(12)
        self.superuser_password = secrets.token_hex(12)
        self.host = "127.0.0.1"
        self.port = 0
        self.root: Path | None = None
        self.pid: int | None = None
        self._run_as: str | None = SERVER_USER if os.geteuid() == 0 else None

    # -- paths --------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        assert self.root is not None
        return self.root / "postgres.log"

    @property
    def connect_kwargs(self) -> dict[str, Any]:
        """psycopg2 ``connect()`` arguments for the Airflow database."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.database,
        }

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg2://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> PrivatePostgres:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _cmd(self, *args: str) -> list[str]:
        if self._run_as is None:
            return list(args)
        return ["runuser", "-u", self._run_as, "--", *args]

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run(
            self._cmd(*args), capture_output=True, text=True, timeout=timeout, cwd="/", check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n"
                + self.log_tail()
            )

    def start(self) -> None:
        # The server user must reach the directory: under root, keep clear of a private TMPDIR.
        parent = "/tmp" if self._run_as is not None else None
        self.root = Path(tempfile.mkdtemp(prefix="octopods-engine-pg-", dir=parent))
        if self._run_as is not None:
            owner = pwd.getpwnam(self._run_as)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        pwfile = self.root / "superuser-password"
        pwfile.write_text(self.superuser_password + "\n")
        if self._run_as is not None:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
            "--auth-local=scram-sha-256",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()
        # Small and fast: this cluster only ever serves one Airflow installation for a few minutes.
        options = " ".join(
            [
                f"-p {self.port_for_start()}",
                f"-k {self.root}",
                "-c listen_addresses=127.0.0.1",
                "-c max_connections=200",
                "-c shared_buffers=64MB",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            "60",
            "start",
        )
        self.pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        self._create_database()

    def port_for_start(self) -> int:
        self.port = free_port()
        return self.port

    def _create_database(self) -> None:
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(
                    host=self.host,
                    port=self.port,
                    user="postgres",
                    password=self.superuser_password,
                    dbname="postgres",
                    connect_timeout=5,
                )
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"CREATE ROLE {self.user} LOGIN PASSWORD %s", (self.password,))
                cur.execute(f"CREATE DATABASE {self.database} OWNER {self.user}")
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop the server (fast shutdown, then kill if it hangs) and remove the cluster directory."""
        if self.root is None:
            return
        try:
            if self.pid is not None and pid_alive(self.pid):
                with contextlib.suppress(Exception):
                    pg_ctl = str(self.bindir / "pg_ctl")
                    self._run(pg_ctl, "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop")
                if pid_alive(self.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.pid, signal.SIGKILL)
                    deadline = time.monotonic() + 10
                    while pid_alive(self.pid) and time.monotonic() < deadline:
                        time.sleep(0.1)
                assert not pid_alive(self.pid), f"PostgreSQL (pid {self.pid}) is still running"
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def log_tail(self, lines: int = 40) -> str:
        if self.root is None or not self.log_file.exists():
            return ""
        text = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        return "--- postgres.log (tail) ---\n" + "\n".join(text)

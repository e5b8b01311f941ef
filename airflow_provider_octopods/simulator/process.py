"""The simulator in a child process, for scripts, demos and benchmarks that want it out of their own loop.

    with SimulatorProcess("--deliver-after", "3") as simulator:
        os.environ["AIRFLOW_CONN_OCTOPODS_DEFAULT"] = simulator.connection_json()
        ...
        simulator.admin.stats()

It starts ``python -m airflow_provider_octopods.simulator`` with the given command-line options,
reads the first stdout line (the JSON with the base URL and keys) and stops the process with
SIGTERM (then SIGKILL) on exit.
"""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
from typing import IO, TYPE_CHECKING, Any

from .client import SimulatorAdminClient
from .connection import airflow_connection

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from types import TracebackType


class SimulatorProcessError(RuntimeError):
    """The simulator process did not start (its log says why)."""


class SimulatorProcess:
    """
    One simulator process.

    :param options: Command-line options of ``octopods-simulator`` (``--port`` defaults to a free one).
    :param python: The interpreter to run it with (default: this one).
    :param env: The child's environment (default: this process's).
    :param log_file: Where its stderr (the log) goes; default: discarded.
    """

    def __init__(
        self,
        *options: str,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.command = [python, "-m", "airflow_provider_octopods.simulator", *options]
        if "--port" not in options:
            self.command += ["--port", "0"]
        self.env = dict(env) if env is not None else None
        self.log_file = log_file
        self.process: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def start(self, timeout: float = 30.0) -> SimulatorProcess:
        stderr: IO[Any] | int = self.log_file.open("w") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=self.env,
            start_new_session=True,
        )
        if not isinstance(stderr, int):
            stderr.close()  # the child has its own copy
        line = self._first_line(timeout)
        try:
            self.info = json.loads(line)
        except ValueError:
            self.stop()
            raise SimulatorProcessError(
                f"The simulator did not start (first line {line[:200]!r}); see {self.log_file or 'its log'}."
            ) from None
        return self

    def _first_line(self, timeout: float) -> str:
        assert self.process is not None
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.stop()
                raise SimulatorProcessError(f"The simulator printed nothing within {timeout:g} s.")
        return self.process.stdout.readline()

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"])

    @property
    def whatsapp_api_key(self) -> str:
        return str(self.info["whatsapp_api_key"])

    @property
    def channel_api_key(self) -> str:
        return str(self.info["channel_api_key"])

    @property
    def admin(self) -> SimulatorAdminClient:
        return SimulatorAdminClient(self.base_url)

    def connection_json(self, *, timeout: float = 30, max_retries: int = 5) -> str:
        """The ``octopods`` Airflow connection for this simulator, as ``AIRFLOW_CONN_<ID>`` JSON."""
        return json.dumps(
            airflow_connection(
                self.base_url,
                whatsapp_api_key=self.whatsapp_api_key,
                channel_api_key=self.channel_api_key,
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; safe to call twice."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

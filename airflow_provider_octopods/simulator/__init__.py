"""A local Octopods API server for tests, demos and benchmarks.

It serves the documented WhatsApp and SMS endpoints under ``/api/v1`` on loopback, with switchable
documentation profiles (the public Octopods articles disagree on several shapes), time-driven or
scripted status progressions, recipient rules, per-key rate limits, injectable faults and an admin
API under ``/_simulator/``. See docs/simulator.md.

It is written from the API documentation alone and imports nothing from the rest of this package
(and nothing from Airflow), so it cannot share the client's mistakes.
"""

from __future__ import annotations

from .client import SimulatorAdminClient, SimulatorAdminError
from .config import SimulatorConfig
from .connection import airflow_connection
from .process import SimulatorProcess, SimulatorProcessError
from .profiles import PROFILE_HEADER, Profile
from .server import OctopodsSimulator, SimulatorServer

__all__ = [
    "PROFILE_HEADER",
    "OctopodsSimulator",
    "Profile",
    "SimulatorAdminClient",
    "SimulatorAdminError",
    "SimulatorConfig",
    "SimulatorProcess",
    "SimulatorProcessError",
    "SimulatorServer",
    "airflow_connection",
]

"""Apache Airflow provider for the Octopods messaging API (WhatsApp, SMS).

This module stays import-light on purpose: DAG files import the provider on every parse, and the
bundled simulator imports this package without needing Airflow at all. The minimum-Airflow guard
therefore reads the installed distribution's metadata instead of importing ``airflow``.
"""

from __future__ import annotations

from importlib import metadata

__version__ = "0.1.0"

MIN_AIRFLOW_VERSION = (2, 11, 0)


def _release_tuple(version: str) -> tuple[int, ...]:
    """Return the numeric release part of a PEP 440 version (``"3.1.0rc1"`` -> ``(3, 1, 0)``)."""
    parts: list[int] = []
    for piece in version.split(".")[:3]:
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _check_airflow_version() -> None:
    try:
        installed = metadata.version("apache-airflow")
    except metadata.PackageNotFoundError:  # the simulator can run without Airflow installed
        return
    if _release_tuple(installed) < MIN_AIRFLOW_VERSION:
        raise RuntimeError(
            f"The package `airflow-provider-octopods:{__version__}` needs Apache Airflow "
            f"{'.'.join(map(str, MIN_AIRFLOW_VERSION))}+, but {installed} is installed."
        )


_check_airflow_version()

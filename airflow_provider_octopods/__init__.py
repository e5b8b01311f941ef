"""Apache Airflow provider for the Octopods messaging API (WhatsApp, SMS).

This module stays import-light on purpose: DAG files import the provider on every parse, and the
bundled simulator imports this package without needing Airflow at all. The minimum-Airflow guard
therefore reads the installed distribution's metadata (:mod:`.version_compat`) instead of
importing ``airflow``.
"""

from __future__ import annotations

from airflow_provider_octopods.version_compat import installed_airflow_version

__version__ = "0.1.0"

MIN_AIRFLOW_VERSION = (2, 11, 0)


def _check_airflow_version() -> None:
    installed = installed_airflow_version()
    if installed is not None and installed < MIN_AIRFLOW_VERSION:
        raise RuntimeError(
            f"The package `airflow-provider-octopods:{__version__}` needs Apache Airflow "
            f"{'.'.join(map(str, MIN_AIRFLOW_VERSION))}+, but {'.'.join(map(str, installed))} is installed."
        )


_check_airflow_version()

"""The ``octopods`` Airflow connection that points at a running simulator."""

from __future__ import annotations

from typing import Any


def airflow_connection(
    base_url: str, *, whatsapp_api_key: str, channel_api_key: str, timeout: float, max_retries: int
) -> dict[str, Any]:
    """
    The connection as a dict, ready for ``json.dumps`` into ``AIRFLOW_CONN_<ID>``.

    ``host`` carries the scheme (``http://127.0.0.1:PORT``): plain http is accepted on loopback only.
    """
    return {
        "conn_type": "octopods",
        "host": base_url,
        "extra": {
            "whatsapp_api_key": whatsapp_api_key,
            "channel_api_key": channel_api_key,
            "timeout": timeout,
            "max_retries": max_retries,
        },
    }

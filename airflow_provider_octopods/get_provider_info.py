"""
Provider metadata, read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point.

This is also the single source of truth of the connection form: Airflow >= 3.2 reads ``conn-fields``
and ``ui-field-behaviour`` from here, and :class:`~airflow_provider_octopods.hooks.octopods.OctopodsHook`
derives the older form widgets from the same dict, so the two forms cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_octopods.models import Channel

CONNECTION_TYPE = "octopods"

#: The extra fields of an ``octopods`` connection, in the ``conn-fields`` format of Airflow >= 3.2.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    Channel.WHATSAPP.key_field: {
        "label": Channel.WHATSAPP.key_label,
        "schema": {"type": ["string", "null"], "format": "password"},
        "description": "WhatsApp Business API key (WhatsApp channel page in the Octopods app). "
        "Used for /api/v1/whatsapp/* calls.",
    },
    Channel.SMS.key_field: {
        "label": Channel.SMS.key_label,
        "schema": {"type": ["string", "null"], "format": "password"},
        "description": "API key of the SMS channel (labelled 'Twilio API Key' in the Octopods app). "
        "Used for /api/v1/sms/* calls.",
    },
    "timeout": {
        "label": "Request timeout (seconds)",
        "schema": {"type": ["number", "null"], "default": 30, "minimum": 0},
        "description": "Seconds allowed for each HTTP request.",
    },
    "max_retries": {
        "label": "Max retries",
        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0},
        "description": "How many transient failures (connection errors, timeouts, 5xx) a read "
        "is retried. Sends are never repeated once they may have reached Octopods.",
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "login", "password", "port"],
    "relabeling": {"host": "Base URL"},
    "placeholders": {"host": "https://app.octopods.io"},
}

_MODULE = "airflow_provider_octopods"


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata in the format of Airflow's ``provider_info.schema.json``."""
    return {
        "package-name": "airflow-provider-octopods",
        "name": "Octopods",
        "description": "`Octopods <https://octopods.io/>`__ messaging API (WhatsApp, SMS): gate tasks on "
        "message delivery, export sent-message history to object storage and compact it into a complete "
        "history, send messages and alerts.",
        "integrations": [
            {
                "integration-name": "Octopods",
                "external-doc-url": "https://docs.octopods.io/",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "Octopods", "python-modules": [f"{_MODULE}.hooks.octopods"]}],
        "sensors": [{"integration-name": "Octopods", "python-modules": [f"{_MODULE}.sensors.delivery"]}],
        "triggers": [
            {
                "integration-name": "Octopods",
                "python-modules": [f"{_MODULE}.triggers.delivery", f"{_MODULE}.triggers.events"],
            }
        ],
        "operators": [
            {
                "integration-name": "Octopods",
                "python-modules": [
                    f"{_MODULE}.operators.export",
                    f"{_MODULE}.operators.compact",
                    f"{_MODULE}.operators.send",
                ],
            }
        ],
        "notifications": [f"{_MODULE}.notifications.octopods.OctopodsNotifier"],
        "connection-types": [
            {
                "hook-class-name": f"{_MODULE}.hooks.octopods.OctopodsHook",
                "hook-name": "Octopods",
                "connection-type": CONNECTION_TYPE,
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }

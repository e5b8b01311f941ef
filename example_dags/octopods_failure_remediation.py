"""
Event-driven remediation of failed WhatsApp messages (Airflow 3).

``octopods_failure_remediation`` is scheduled on an asset watched by a
:class:`~airflow_provider_octopods.triggers.events.MessageStatusEventTrigger`: the triggerer polls the
WhatsApp listing of ``octopods_default`` every minute, and each poll that finds newly FAILED messages
(not a WhatsApp user, re-engagement window expired, template paused, ...) makes one asset event, and
one run of this DAG, without a DAG that polls on a schedule. The run reads the failed ids from the
event, looks up each message's recipient and text through the hook (the event carries neither: the
metadata database is no place for phone numbers), and sends the same text by SMS, once per failed
message: the trigger reports a message once, and each send is at most once per task instance.

Messages without text in the listing (the object-shaped listing has none) are left out, with a
warning: there is nothing to resend by SMS.

Asset watchers exist on Airflow 3 only: on Airflow 2.11 this file defines no DAG (see
``octopods_whatsapp_with_sms_fallback`` for a fallback that runs on every version).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_octopods.operators.send import SendSmsOperator
from airflow_provider_octopods.triggers.events import MessageStatusEventTrigger

try:
    from airflow.sdk import Asset, AssetWatcher
except ImportError:  # Airflow 2.11: no asset watchers
    AssetWatcher = None

log = logging.getLogger(__name__)

if AssetWatcher is not None:
    # [START howto_trigger_octopods_failed_messages]
    failed_whatsapp = Asset(
        "octopods_failed_whatsapp_messages",
        uri="octopods://octopods_default/whatsapp/failed",
        watchers=[
            AssetWatcher(
                name="octopods_failed_whatsapp",
                trigger=MessageStatusEventTrigger(
                    octopods_conn_id="octopods_default", statuses=["FAILED"], poll_interval=60
                ),
            )
        ],
    )

    with DAG(
        dag_id="octopods_failure_remediation",
        description="Resend the text of every failed WhatsApp message by SMS.",
        schedule=[failed_whatsapp],
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        tags=["octopods", "example"],
    ) as failure_remediation:

        @task
        def failed_messages(**context: Any) -> list[int]:
            """The ids the triggering events report (each event: one poll's new failures)."""
            ids: list[int] = []
            for events in context["triggering_asset_events"].values():
                for event in events:
                    payload = event.extra.get("payload", {})
                    ids.extend(int(item["message_id"]) for item in payload.get("messages", []))
            return sorted(set(ids))

        @task
        def sms_for(message_ids: list[int]) -> list[dict[str, str]]:
            """Recipient and text of each failed message, from the listing (the newest 100)."""
            from airflow_provider_octopods.hooks.octopods import OctopodsHook

            listed = {message.message_id: message for message in OctopodsHook().list_sent_messages()}
            sends = []
            for message_id in message_ids:
                message = listed.get(message_id)
                if message is None or not message.phone_number or not message.message_content:
                    log.warning("Message %s has no recipient or text in the listing; not resent.", message_id)
                    continue
                sends.append({"destination_phone": message.phone_number, "body": message.message_content})
            return sends

        SendSmsOperator.partial(task_id="resend_by_sms").expand_kwargs(sms_for(failed_messages()))
    # [END howto_trigger_octopods_failed_messages]

"""
The bad-input table: every public parameter with its invalid values, each rejected with a message
that names the parameter, before any request leaves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_octopods.exceptions import OctopodsValidationError
from airflow_provider_octopods.hooks.octopods import OctopodsAsyncHook, OctopodsHook
from airflow_provider_octopods.notifications.octopods import OctopodsNotifier
from airflow_provider_octopods.operators.compact import CompactSentMessagesOperator
from airflow_provider_octopods.operators.export import ExportSentMessagesOperator
from airflow_provider_octopods.operators.send import SendSmsOperator, SendWhatsAppTemplateOperator
from airflow_provider_octopods.sensors.delivery import MessageDeliverySensor
from airflow_provider_octopods.triggers.delivery import MessageDeliveryTrigger
from tests.keys import WHATSAPP_KEY, connection_json

if TYPE_CHECKING:
    from tests.canned_server import CannedServer

PHONE = "+14155552671"

Case = tuple[str, str, Callable[[], Any]]  # (component, parameter, what to do)


def hook_call(method: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    return lambda: getattr(OctopodsHook(), method)(*args, **kwargs)


def sensor(**kwargs: Any) -> Callable[[], Any]:
    return lambda: MessageDeliverySensor(task_id="wait", **{"message_id": 1, **kwargs})


def trigger(**kwargs: Any) -> Callable[[], Any]:
    return lambda: MessageDeliveryTrigger(**{"message_ids": [1], "deadline": time.time() + 60, **kwargs})


def export(**kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        operator = ExportSentMessagesOperator(task_id="export", **{"destination": "/tmp/x.jsonl", **kwargs})
        return operator.execute({})

    return run


def compact(**kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        operator = CompactSentMessagesOperator(
            task_id="compact",
            **{
                "source": "/tmp/octopods-capture/",
                "destination": "/tmp/octopods-history/day.jsonl",
                **kwargs,
            },
        )
        return operator.execute({})

    return run


def whatsapp(**kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        operator = SendWhatsAppTemplateOperator(
            task_id="send", **{"template_id": 84579, "destination_phone": PHONE, **kwargs}
        )
        return operator.execute({})

    return run


def sms(**kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        operator = SendSmsOperator(task_id="send", **{"destination_phone": PHONE, "body": "hi", **kwargs})
        return operator.execute({})

    return run


def notifier(**kwargs: Any) -> Callable[[], Any]:
    return lambda: OctopodsNotifier(**{"destination_phones": PHONE, **kwargs})


CASES: list[Case] = [
    # OctopodsHook
    ("hook", "octopods_conn_id", lambda: OctopodsHook(octopods_conn_id="")),
    ("hook", "octopods_conn_id", lambda: OctopodsHook(octopods_conn_id=None)),  # type: ignore[arg-type]
    (
        "hook",
        "octopods_conn_id",
        lambda: OctopodsHook(octopods_conn_id="no_such_connection").get_message_status(1),
    ),
    ("hook", "max_rate_limit_wait", lambda: OctopodsHook(max_rate_limit_wait=-1)),
    ("hook", "message_id", hook_call("get_message_status", 0)),
    ("hook", "message_id", hook_call("get_message_status", "12abc")),
    ("hook", "message_id", hook_call("get_message_status", None)),
    ("hook", "message_id", hook_call("get_message_status", True)),
    ("hook", "channel", hook_call("get_message_status", 1, channel="telegram")),
    ("hook", "channel", hook_call("get_message_status", 1, channel=None)),
    ("hook", "limit", hook_call("list_sent_messages", limit=0)),
    ("hook", "limit", hook_call("list_sent_messages", limit=-5)),
    ("hook", "limit", hook_call("list_sent_messages", limit=2.5)),
    ("hook", "template_id", hook_call("send_whatsapp_template", "", PHONE)),
    ("hook", "template_id", hook_call("send_whatsapp_template", -1, PHONE)),
    ("hook", "destination_phone", hook_call("send_whatsapp_template", 1, "14155552671")),
    ("hook", "destination_phone", hook_call("send_whatsapp_template", 1, "+1 415 555 2671")),
    ("hook", "destination_phone", hook_call("send_whatsapp_template", 1, "+123")),
    ("hook", "destination_phone", hook_call("send_whatsapp_template", 1, 14155552671)),
    ("hook", "message_variables", hook_call("send_whatsapp_template", 1, PHONE, {"1": "a", "3": "c"})),
    ("hook", "message_variables", hook_call("send_whatsapp_template", 1, PHONE, {"name": "Alex"})),
    ("hook", "message_variables", hook_call("send_whatsapp_template", 1, PHONE, 42)),
    ("hook", "message_variables[0]", hook_call("send_whatsapp_template", 1, PHONE, [None])),
    (
        "hook",
        "header_attachment_url",
        hook_call("send_whatsapp_template", 1, PHONE, header_attachment_url="not-a-url"),
    ),
    (
        "hook",
        "open_intercom_conversation",
        hook_call("send_whatsapp_template", 1, PHONE, open_intercom_conversation="perhaps"),
    ),
    ("hook", "intercom_teammate_id", hook_call("send_whatsapp_template", 1, PHONE, intercom_teammate_id="")),
    ("hook", "destination_phone", hook_call("send_sms", "", "hi")),
    ("hook", "body", hook_call("send_sms", PHONE, "")),
    ("hook", "body", hook_call("send_sms", PHONE, " \t\n")),
    ("hook", "body", hook_call("send_sms", PHONE, "x" * 1601)),
    ("hook", "body", hook_call("send_sms", PHONE, ["hi"])),
    ("hook", "destination_user_name", hook_call("send_sms", PHONE, "hi", destination_user_name="  ")),
    ("hook", "open_intercom_conversation", hook_call("send_sms", PHONE, "hi", open_intercom_conversation=2)),
    ("hook", "intercom_teammate_id", hook_call("send_sms", PHONE, "hi", intercom_teammate_id=[1])),
    ("async hook", "octopods_conn_id", lambda: OctopodsAsyncHook(octopods_conn_id="")),
    # MessageDeliverySensor
    ("sensor", "message_id", sensor(message_id=0)),
    ("sensor", "message_id", sensor(message_id="abc")),
    ("sensor", "message_id", sensor(message_id=[])),
    ("sensor", "message_id[1]", sensor(message_id="[1, 'x']")),
    ("sensor", "message_id[1]", sensor(message_id=[1, -2])),
    ("sensor", "channel", sensor(channel="viber")),
    ("sensor", "target_status", sensor(target_status="SENT")),
    ("sensor", "target_status", sensor(channel="sms", target_status="READ")),
    ("sensor", "allowed_failures", sensor(allowed_failures=-1)),
    ("sensor", "allowed_failures", sensor(allowed_failures=1.5)),
    ("sensor", "octopods_conn_id", sensor(octopods_conn_id="")),
    # MessageDeliveryTrigger
    ("trigger", "message_ids", trigger(message_ids=[])),
    ("trigger", "message_ids[0]", trigger(message_ids=["x"])),
    ("trigger", "deadline", trigger(deadline="tomorrow")),
    ("trigger", "deadline", trigger(deadline=float("nan"))),
    ("trigger", "channel", trigger(channel="fax")),
    ("trigger", "target_status", trigger(target_status="QUEUED")),
    ("trigger", "allowed_failures", trigger(allowed_failures=-2)),
    ("trigger", "octopods_conn_id", trigger(octopods_conn_id="")),
    ("trigger", "poll_interval", trigger(poll_interval=0)),
    ("trigger", "poll_interval", trigger(poll_interval="5")),
    ("trigger", "first_poll_after", trigger(first_poll_after=-1)),
    ("trigger", "max_in_flight", trigger(max_in_flight=0)),
    # ExportSentMessagesOperator
    ("export", "destination", export(destination="")),
    ("export", "destination", export(destination="/data/exports/")),
    ("export", "destination", export(destination=42)),
    ("export", "file_format", export(file_format="xml")),
    ("export", "start", export(start="last tuesday")),
    ("export", "end", export(end=["2026-04-24"])),
    ("export", "start", export(start="2026-04-25T00:00:00Z", end="2026-04-24T00:00:00Z")),
    ("export", "storage_conn_id", export(storage_conn_id="")),
    ("export", "on_truncation", export(on_truncation="ignore")),
    ("export", "mask_pii", export(mask_pii="yes")),
    ("export", "octopods_conn_id", export(octopods_conn_id=" ")),
    ("export", "destination", export(destination="exports/day.jsonl")),
    ("export", "destination", export(destination="file://exports/day.jsonl")),
    ("export", "destination", export(destination="s4://bucket/day.jsonl")),
    ("export", "file_format", export(destination="/tmp/day.csv", file_format="jsonl")),
    # CompactSentMessagesOperator
    ("compact", "source", compact(source="")),
    ("compact", "source", compact(source="capture/2026-04-24/")),
    ("compact", "source", compact(source="file://capture/")),
    ("compact", "source", compact(source=42)),
    ("compact", "source", compact(source="nosuchfs://bucket/capture/")),
    ("compact", "destination", compact(destination="")),
    ("compact", "destination", compact(destination="/data/history/")),
    ("compact", "destination", compact(destination="history/day.jsonl")),
    ("compact", "destination", compact(destination="/data/history/day.parquet.gz")),
    (
        "compact",
        "destination",
        compact(destination="/tmp/octopods-capture/day.jsonl"),
    ),  # among the partitions
    ("compact", "file_format", compact(file_format="xml")),
    ("compact", "file_format", compact(file_format="csv")),  # contradicts .jsonl
    ("compact", "start", compact(start="last tuesday")),
    ("compact", "end", compact(end=["2026-04-24"])),
    ("compact", "start", compact(start="2026-04-25T00:00:00Z", end="2026-04-24T00:00:00Z")),
    ("compact", "storage_conn_id", compact(storage_conn_id="")),
    ("compact", "octopods_conn_id", compact(octopods_conn_id="")),
    ("compact", "refresh_statuses", compact(refresh_statuses="yes")),
    ("compact", "on_gap", compact(on_gap="ignore")),
    ("compact", "on_gap", compact(on_gap=None)),
    ("compact", "mask_pii", compact(mask_pii=1)),
    # SendWhatsAppTemplateOperator / SendSmsOperator
    ("send", "template_id", whatsapp(template_id="two words")),
    ("send", "destination_phone", whatsapp(destination_phone="0044 7700 900123")),
    ("send", "message_variables", whatsapp(message_variables="Alex, 1234")),
    ("send", "message_variables['body']", whatsapp(message_variables={"body": "Alex"})),
    ("send", "header_attachment_url", whatsapp(header_attachment_url="ftp://host/banner.png")),
    ("send", "open_intercom_conversation", whatsapp(open_intercom_conversation="maybe")),
    ("send", "destination_phone", sms(destination_phone="+44 7700 900123")),
    ("send", "body", sms(body="")),
    ("send", "body", sms(body="é" * 1601)),
    ("send", "destination_user_name", sms(destination_user_name="")),
    ("send", "intercom_teammate_id", sms(intercom_teammate_id="")),
    ("send", "octopods_conn_id", sms(octopods_conn_id="")),
    # OctopodsNotifier
    ("notifier", "destination_phones", notifier(destination_phones=[])),
    ("notifier", "destination_phones[1]", notifier(destination_phones=[PHONE, "12345"])),
    ("notifier", "destination_phones", notifier(destination_phones=42)),
    ("notifier", "channel", notifier(channel="pigeon")),
    ("notifier", "template_id", notifier(channel="whatsapp")),
    ("notifier", "template_id", notifier(channel="whatsapp", template_id="two words")),
    (
        "notifier",
        "message_variables",
        notifier(channel="whatsapp", template_id=539, message_variables={"x": 1}),
    ),
    ("notifier", "body", notifier(body="  ")),
    ("notifier", "body", notifier(body=42)),
    ("notifier", "octopods_conn_id", notifier(octopods_conn_id="")),
]


@pytest.mark.parametrize(("component", "parameter", "action"), CASES, ids=[f"{c}-{p}" for c, p, _ in CASES])
def test_bad_input_is_rejected_before_any_request(
    octopods_conn: CannedServer, component: str, parameter: str, action: Callable[[], Any]
) -> None:
    with pytest.raises(OctopodsValidationError) as caught:
        action()
    assert caught.value.parameter == parameter
    assert f"`{parameter}`" in str(caught.value) or parameter in str(caught.value)
    assert octopods_conn.requests == [], f"{component} sent a request before rejecting `{parameter}`"


def test_connection_fields(monkeypatch: pytest.MonkeyPatch, canned: CannedServer) -> None:
    """The connection's own fields are inputs too."""
    for extra, host, parameter in [
        ({"whatsapp_api_key": WHATSAPP_KEY, "timeout": "soon"}, canned.base_url, "timeout"),
        ({"whatsapp_api_key": WHATSAPP_KEY, "timeout": -1}, canned.base_url, "timeout"),
        ({"whatsapp_api_key": WHATSAPP_KEY, "max_retries": "many"}, canned.base_url, "max_retries"),
        ({"whatsapp_api_key": 12345}, canned.base_url, "whatsapp_api_key"),
        ({"whatsapp_api_key": WHATSAPP_KEY}, "http://octopods.example.com", "host"),
        ({"whatsapp_api_key": WHATSAPP_KEY}, "ftp://octopods.example.com", "host"),
        ({}, canned.base_url, "whatsapp_api_key"),  # a missing key, named before any traffic
    ]:
        monkeypatch.setenv("AIRFLOW_CONN_OCTOPODS_DEFAULT", connection_json(host, **extra))
        with pytest.raises(OctopodsValidationError) as caught:
            OctopodsHook().get_message_status(1)
        assert caught.value.parameter == parameter, extra
    assert canned.requests == []

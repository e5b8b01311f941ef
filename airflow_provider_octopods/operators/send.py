"""Send WhatsApp templates and SMS from DAGs, at most once per task instance."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_octopods import api
from airflow_provider_octopods.exceptions import (
    OctopodsApiError,
    OctopodsAuthError,
    OctopodsConnectionError,
    OctopodsError,
    OctopodsNotFoundError,
    OctopodsRateLimitError,
    OctopodsSendOutcomeUnknown,
    OctopodsValidationError,
)
from airflow_provider_octopods.models import Channel, SendResult, format_timestamp
from airflow_provider_octopods.operators._send_ledger import release_after_success
from airflow_provider_octopods.utils.phones import redact_phone
from airflow_provider_octopods.utils.templating import is_templated
from airflow_provider_octopods.version_compat import XCOM_REFUSES_NONE

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_octopods.hooks.octopods import OctopodsHook
    from airflow_provider_octopods.operators._send_ledger import SendLedger

__all__ = ["SendSmsOperator", "SendWhatsAppTemplateOperator"]

#: How far before an earlier try's start a listed message may be dated and still be that try's
#: send: the worker's clock and Octopods' clock disagree a little.
CLOCK_SKEW = dt.timedelta(seconds=120)

#: Errors that prove the request never produced a message: it never left, or Octopods refused it.
_NOT_SENT = (
    OctopodsValidationError,
    OctopodsAuthError,
    OctopodsNotFoundError,
    OctopodsRateLimitError,
    OctopodsApiError,
)


def _never_sent(error: OctopodsError) -> bool:
    if isinstance(error, OctopodsConnectionError):
        return not error.may_have_reached_server
    return isinstance(error, _NOT_SENT)


class _SendOperator(BaseOperator):
    """
    What both send operators share: validation before anything else, and the at-most-once ledger.

    Each try records ``sending`` before the request and ``sent`` after it (see
    :mod:`~airflow_provider_octopods.operators._send_ledger`), and the record is kept until Airflow
    has recorded the task instance's success: the operator's own success callback, chained after
    yours, removes it. A later try of the same task instance, also one after a failure that came
    after the send (an XCom push, a killed worker), returns the recorded result instead of sending
    again. When the earlier try's outcome is
    unknown (the connection broke after the request left, a 5xx, an unreadable answer), a WhatsApp
    send is reconciled against the sent-message listing (same recipient, sent since that try
    began) and that message id is reused; an SMS send, which has no listing, fails with a request
    for a manual check rather than risking a second SMS.
    """

    channel: Channel
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        destination_phone: str,
        open_intercom_conversation: bool = False,
        intercom_teammate_id: str | None = None,
        octopods_conn_id: str = api.DEFAULT_CONN_ID,
        multiple_outputs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(multiple_outputs=multiple_outputs, **kwargs)
        self._fields_as_xcoms = multiple_outputs  # pushed by execute itself where XCOM_REFUSES_NONE
        self.destination_phone = destination_phone
        self.open_intercom_conversation = open_intercom_conversation
        self.intercom_teammate_id = intercom_teammate_id
        self.octopods_conn_id = octopods_conn_id
        if not is_templated(octopods_conn_id):
            api.validate_conn_id(octopods_conn_id)

    @property  # type: ignore[override]
    def on_success_callback(self) -> list[Any]:
        """
        Your success callbacks, then the operator's own, which removes the send record once Airflow
        has recorded the success (see
        :func:`~airflow_provider_octopods.operators._send_ledger.release_after_success`). Assigning
        replaces only yours, so the record is never left to pile up.
        """
        yours = self.__dict__.get("_user_on_success_callback")
        if yours is None:
            yours = []
        elif callable(yours):
            yours = [yours]
        return [*yours, release_after_success]

    @on_success_callback.setter
    def on_success_callback(self, callbacks: Any) -> None:
        self.__dict__["_user_on_success_callback"] = callbacks

    @cached_property
    def hook(self) -> OctopodsHook:
        from airflow_provider_octopods.hooks.octopods import OctopodsHook

        return OctopodsHook(octopods_conn_id=self.octopods_conn_id)

    def build_request(self) -> api.ApiRequest:
        """The validated request; raises before any network traffic when an argument is wrong."""
        raise NotImplementedError

    def execute(self, context: Context) -> dict[str, Any]:
        result = self._send(context)
        ti = context.get("ti")
        if XCOM_REFUSES_NONE and ti is not None and self.do_xcom_push and self._fields_as_xcoms:
            # Push each field but the empty ones (a missing key reads as None downstream too), and
            # let Airflow push only the whole result.
            self.multiple_outputs = False
            for key, value in result.items():
                if value is not None:
                    ti.xcom_push(key=key, value=value)
        return result

    def _send(self, context: Context) -> dict[str, Any]:
        from airflow_provider_octopods.operators._send_ledger import ledger_for

        request = self.build_request()
        phone = request.body["destination_phone"] if request.body else ""
        self.hook.settings.key_for(self.channel)  # a missing key fails here, before the ledger
        ledger = ledger_for(context)
        previous = ledger.read()
        if previous and previous.get("recipient") == phone and previous.get("channel") == self.channel.value:
            recovered = self._recover(previous, ledger)
            if recovered is not None:
                return recovered.to_dict()
        elif previous:
            self.log.warning("Ignoring an earlier try's send record for another recipient or channel.")
        ledger.write(
            {
                "state": "sending",
                "channel": self.channel.value,
                "recipient": phone,
                "started_at": format_timestamp(dt.datetime.now(dt.UTC)),
            }
        )
        try:
            result: SendResult = self.hook.call(request)
        except OctopodsError as error:
            if _never_sent(error):
                ledger.forget()
            else:
                self.log.error(
                    "The %s send may have reached Octopods (%s); a retry of this task will check before "
                    "sending again.",
                    self.channel.value,
                    type(error).__name__,
                )
            raise
        ledger.write(
            {
                "state": "sent",
                "channel": self.channel.value,
                "recipient": phone,
                "result": result.to_dict(),
            }
        )
        self.log.info("Sent %s message %s to %s.", self.channel.value, result.message_id, redact_phone(phone))
        return result.to_dict()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage | None:
        """
        OpenLineage facets (read by the OpenLineage provider, when installed): no input; the
        channel's messages as output, ``octopods://<api host>`` / ``whatsapp/messages`` or
        ``sms/messages``, the dataset an export of the same API host reads its listing from. None
        when the connection cannot be read (the task failed on it).
        """
        from airflow_provider_octopods.utils.manifest import api_host
        from airflow_provider_octopods.utils.openlineage import channel_operator_lineage

        try:
            host = api_host(self.hook.settings.base_url)
        except OctopodsError:
            return None
        return channel_operator_lineage(host, self.channel.value)

    def _recover(self, previous: dict[str, Any], ledger: SendLedger) -> SendResult | None:
        """What an earlier try left: its result, a reconciled id, or None when sending is safe."""
        phone = previous["recipient"]
        if previous.get("state") == "sent" and isinstance(previous.get("result"), dict):
            result = previous["result"]
            self.log.info(
                "An earlier try already sent %s message %s to %s (recorded in %s); not sending again.",
                self.channel.value,
                result.get("message_id"),
                redact_phone(phone),
                ledger.where,
            )
            return SendResult.from_dict({**result, "channel": self.channel.value})
        started = api.parse_timestamp(previous.get("started_at"))
        if self.channel is Channel.SMS:
            raise OctopodsSendOutcomeUnknown(
                f"An earlier try of this task started sending an SMS to {redact_phone(phone)} at "
                f"{format_timestamp(started)} and its outcome is unknown (the request may have reached "
                "Octopods). Octopods offers no SMS listing to check it, so this task does not send "
                "blindly. Check whether the SMS arrived: if it did, mark this task as success; if not, "
                f"remove the record from {ledger.where} and clear the task."
            )
        found = self._reconcile(phone, started)
        if found is None:
            self.log.warning(
                "An earlier try's WhatsApp send to %s (started %s) left no trace in the sent-message "
                "listing; sending now.",
                redact_phone(phone),
                format_timestamp(started),
            )
            return None
        ledger.write(
            {"state": "sent", "channel": self.channel.value, "recipient": phone, "result": found.to_dict()}
        )
        return found

    def _reconcile(self, phone: str, started: dt.datetime | None) -> SendResult | None:
        """The earliest listed message to ``phone`` since the earlier try began, if any."""
        since = (started or dt.datetime.now(dt.UTC)) - CLOCK_SKEW
        candidates = [
            message
            for message in self.hook.list_sent_messages()
            if message.phone_number == phone
            and message.created_at is not None
            and message.created_at >= since
        ]
        if not candidates:
            return None
        match = min(candidates, key=lambda message: (message.created_at, message.message_id))
        self.log.info(
            "An earlier try's WhatsApp send reached Octopods as message %s (listed at %s); reusing it "
            "instead of sending again.",
            match.message_id,
            format_timestamp(match.created_at),
        )
        return SendResult(message_id=match.message_id, channel=Channel.WHATSAPP)


class SendWhatsAppTemplateOperator(_SendOperator):
    """
    Send an approved WhatsApp template message, at most once per task instance.

    Returns ``SendResult.to_dict()`` and, by default, pushes each field as its own XCom key, so
    ``MessageDeliverySensor(message_id=send.output["message_id"])`` gates on its delivery, also
    across ``.expand(destination_phone=[...])``. See the class docs of the base for what a retry does.

    :param template_id: The Octopods template id (template page in the app, or the template list).
        Templated.
    :param destination_phone: Recipient in E.164 (``+14155552671``). Templated.
    :param message_variables: The template's placeholder values: a flat list (body-only templates),
        an object keyed ``"1"``, ``"2"``, ..., or per-section lists (``header``, ``body``, ``footer``,
        ``buttons``). Templated; validated before anything is sent.
    :param header_attachment_url: Public URL of the header media, for media-header templates.
    :param open_intercom_conversation: Also open a CRM conversation for replies.
    :param intercom_teammate_id: Teammate shown as the sender in the CRM.
    :param octopods_conn_id: The ``octopods`` connection (its ``whatsapp_api_key`` is used).
    :param multiple_outputs: Push each result field as its own XCom key (default True).
    """

    template_fields: Sequence[str] = (
        "template_id",
        "destination_phone",
        "message_variables",
        "header_attachment_url",
        "intercom_teammate_id",
        "octopods_conn_id",
    )
    template_fields_renderers = {"message_variables": "json"}
    channel = Channel.WHATSAPP

    def __init__(
        self,
        *,
        template_id: int | str,
        destination_phone: str,
        message_variables: list[Any] | dict[str, Any] | str | None = None,
        header_attachment_url: str | None = None,
        open_intercom_conversation: bool = False,
        intercom_teammate_id: str | None = None,
        octopods_conn_id: str = api.DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            destination_phone=destination_phone,
            open_intercom_conversation=open_intercom_conversation,
            intercom_teammate_id=intercom_teammate_id,
            octopods_conn_id=octopods_conn_id,
            **kwargs,
        )
        self.template_id = template_id
        self.message_variables = message_variables
        self.header_attachment_url = header_attachment_url
        _validate_literals(self)

    def build_request(self) -> api.ApiRequest:
        return api.whatsapp_send_request(
            self.template_id,
            self.destination_phone,
            self.message_variables,
            header_attachment_url=self.header_attachment_url,
            open_intercom_conversation=self.open_intercom_conversation,
            intercom_teammate_id=self.intercom_teammate_id,
        )


class SendSmsOperator(_SendOperator):
    """
    Send an SMS from the channel of the connection's ``channel_api_key``, at most once per task instance.

    Returns ``SendResult.to_dict()`` and, by default, pushes each field as its own XCom key. A retry
    after an SMS whose outcome is unknown fails and asks for a manual check (Octopods has no SMS
    listing to reconcile against); see the base class docs.

    :param destination_phone: Recipient in E.164. Templated.
    :param body: The text: non-blank, at most 1,600 characters (longer text is refused, never
        truncated). Templated.
    :param destination_user_name: Name for a contact created by ``open_intercom_conversation``.
    :param open_intercom_conversation: Also open a CRM conversation for replies.
    :param intercom_teammate_id: Teammate shown as the sender in the CRM.
    :param octopods_conn_id: The ``octopods`` connection (its ``channel_api_key`` is used).
    :param multiple_outputs: Push each result field as its own XCom key (default True).
    """

    template_fields: Sequence[str] = (
        "destination_phone",
        "body",
        "destination_user_name",
        "intercom_teammate_id",
        "octopods_conn_id",
    )
    channel = Channel.SMS

    def __init__(
        self,
        *,
        destination_phone: str,
        body: str,
        destination_user_name: str | None = None,
        open_intercom_conversation: bool = False,
        intercom_teammate_id: str | None = None,
        octopods_conn_id: str = api.DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            destination_phone=destination_phone,
            open_intercom_conversation=open_intercom_conversation,
            intercom_teammate_id=intercom_teammate_id,
            octopods_conn_id=octopods_conn_id,
            **kwargs,
        )
        self.body = body
        self.destination_user_name = destination_user_name
        _validate_literals(self)

    def build_request(self) -> api.ApiRequest:
        return api.sms_send_request(
            self.destination_phone,
            self.body,
            destination_user_name=self.destination_user_name,
            open_intercom_conversation=self.open_intercom_conversation,
            intercom_teammate_id=self.intercom_teammate_id,
        )


_FIELD_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "template_id": api.validate_template_id,
    "destination_phone": api.validate_phone,
    "message_variables": api.validate_message_variables,
    "header_attachment_url": api.validate_url,
    "intercom_teammate_id": api.validate_optional_text,
    "body": api.validate_sms_body,
    "destination_user_name": api.validate_optional_text,
    "open_intercom_conversation": api.validate_flag,
}


def _validate_literals(operator: _SendOperator) -> None:
    """Refuse bad literal arguments when the DAG is parsed; templated ones are checked at run time."""
    for name, check in _FIELD_CHECKS.items():
        if hasattr(operator, name) and not is_templated(value := getattr(operator, name)):
            check(value, name)

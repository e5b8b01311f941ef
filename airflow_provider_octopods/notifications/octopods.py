"""Task and DAG alerts by SMS or WhatsApp template, for ``on_failure_callback`` and friends."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.notifier import BaseNotifier

from airflow_provider_octopods import api
from airflow_provider_octopods.exceptions import OctopodsValidationError
from airflow_provider_octopods.models import Channel
from airflow_provider_octopods.utils.phones import redact_phone
from airflow_provider_octopods.utils.templating import is_templated

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_octopods.hooks.octopods import OctopodsHook

__all__ = ["OctopodsNotifier", "send_octopods_notification"]

#: The default alert text. Pass ``body`` to say more, e.g. ``"... failed: {{ exception }}"``.
DEFAULT_BODY = "{{ ti.dag_id }}.{{ ti.task_id }} failed"
_ELLIPSIS = " [...]"


class OctopodsNotifier(BaseNotifier):
    """
    Send an alert to one or more phones when a task or DAG run ends (or retries, or ...).

    One send per recipient. A failure to notify is logged and never raised into the callback chain:
    an alert that cannot go out must not change how Airflow handles the task. An SMS body longer
    than Octopods' 1,600 characters (a long exception text, say) is shortened with a visible
    ``[...]`` marker, and the log says so.

    :param destination_phones: One E.164 number, a list of them, or a comma-separated string. Templated.
    :param body: The SMS text, templated with the callback context (``ti``, ``dag_run``, ``run_id``,
        ``exception``, ...). The default names the failed task, for ``on_failure_callback``.
    :param channel: ``"sms"`` (default) or ``"whatsapp"`` (then ``template_id`` and
        ``message_variables``, which may be templated with the same context).
    :param template_id: The WhatsApp template to send. Templated.
    :param message_variables: The template's placeholder values, in any documented form. Templated.
    :param octopods_conn_id: The ``octopods`` connection.
    """

    template_fields: Sequence[str] = (
        "destination_phones",
        "body",
        "template_id",
        "message_variables",
        "octopods_conn_id",
    )

    def __init__(
        self,
        *,
        destination_phones: str | list[str],
        body: str = DEFAULT_BODY,
        channel: str = "sms",
        template_id: int | str | None = None,
        message_variables: list[Any] | dict[str, Any] | None = None,
        octopods_conn_id: str = api.DEFAULT_CONN_ID,
    ) -> None:
        super().__init__()
        self.destination_phones = destination_phones
        self.body = body
        self.channel = api.validate_channel(channel)
        if self.channel is Channel.WHATSAPP and template_id in (None, ""):
            raise OctopodsValidationError(
                "Invalid `template_id`: WhatsApp alerts are template messages; give the template id.",
                parameter="template_id",
            )
        self.template_id = template_id
        self.message_variables = message_variables
        self.octopods_conn_id = octopods_conn_id
        self._validate_literals()

    def _validate_literals(self) -> None:
        """
        Literal arguments fail when the DAG is parsed; templated ones are checked once rendered, and
        a problem is then logged, never raised into the callback chain. An SMS text longer than the
        API takes is shortened when sent (an alert about a long exception must still go out), so
        here only a blank or non-text ``body`` is refused.
        """
        checks: list[tuple[Any, Any]] = [
            (self.octopods_conn_id, api.validate_conn_id),
            (self.destination_phones, api.validate_phones),
        ]
        if self.channel is Channel.WHATSAPP:
            checks += [
                (self.template_id, api.validate_template_id),
                (self.message_variables, api.validate_message_variables),
            ]
        elif not isinstance(self.body, str) or not self.body.strip():
            checks.append((self.body, api.validate_sms_body))
        for value, check in checks:
            if not is_templated(value):
                check(value)

    @cached_property
    def hook(self) -> OctopodsHook:
        from airflow_provider_octopods.hooks.octopods import OctopodsHook

        # A callback should not sit out a long rate limit: give up after a few seconds.
        return OctopodsHook(octopods_conn_id=self.octopods_conn_id, max_rate_limit_wait=10.0)

    def __call__(self, *args: Any) -> None:
        """
        Render and send, logging rather than raising whatever goes wrong.

        Airflow renders the templated fields before :meth:`notify`, so a template error (a typo in
        ``body``, an undefined variable) would otherwise escape into the callback chain.
        """
        try:
            super().__call__(*args)
        except Exception:
            self.log.exception("Octopods notification not sent: its templates could not be rendered")

    def notify(self, context: Context) -> None:
        try:
            phones = api.validate_phones(self.destination_phones)
            requests = [self._request(phone) for phone in phones]
        except Exception:
            self.log.exception("Octopods notification not sent: its arguments are invalid")
            return
        for phone, request in zip(phones, requests, strict=True):
            try:
                result = self.hook.call(request)
            except Exception as error:
                self.log.error("Octopods notification to %s failed: %s", redact_phone(phone), error)
            else:
                self.log.info(
                    "Octopods notification sent to %s as message %s.", redact_phone(phone), result.message_id
                )

    def _request(self, phone: str) -> api.ApiRequest:
        if self.channel is Channel.WHATSAPP:
            return api.whatsapp_send_request(self.template_id, phone, self.message_variables)
        body = str(self.body)
        if len(body) > api.SMS_MAX_LENGTH:
            self.log.warning(
                "The alert text has %d characters; shortened to Octopods' limit of %d.",
                len(body),
                api.SMS_MAX_LENGTH,
            )
            body = body[: api.SMS_MAX_LENGTH - len(_ELLIPSIS)] + _ELLIPSIS
        return api.sms_send_request(phone, body)


send_octopods_notification = OctopodsNotifier

"""
Alerts by SMS or WhatsApp template: from task and DAG callbacks, and as Deadline Alerts.

The same notifier runs on two paths, which differ only in how the requests travel:

* **called** (``on_failure_callback`` and the other callbacks): :meth:`OctopodsNotifier.notify`,
  through the sync hook, on the worker or the DAG processor;
* **awaited** (a Deadline Alert's ``AsyncCallback``, Airflow >= 3.1): the triggerer constructs the
  notifier with the alert's ``context=`` and awaits it; :meth:`OctopodsNotifier.async_notify` sends
  on the triggerer's shared aiohttp session
  (:class:`~airflow_provider_octopods.hooks.octopods.OctopodsAsyncHook`).

Both build their requests in one place (:meth:`OctopodsNotifier._prepare`), so the channel rules,
the 1,600-character SMS limit and what is logged are the same on both, and neither raises.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.notifier import BaseNotifier

from airflow_provider_octopods import api
from airflow_provider_octopods.exceptions import OctopodsValidationError
from airflow_provider_octopods.models import Channel
from airflow_provider_octopods.utils.phones import redact_phone
from airflow_provider_octopods.utils.templating import is_templated
from airflow_provider_octopods.version_compat import NOTIFIER_TAKES_CONTEXT

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_octopods.hooks.octopods import OctopodsHook
    from airflow_provider_octopods.models import SendResult

__all__ = ["OctopodsNotifier", "send_octopods_notification"]

#: The default alert text. Pass ``body`` to say more, e.g. ``"... failed: {{ exception }}"``.
DEFAULT_BODY = "{{ ti.dag_id }}.{{ ti.task_id }} failed"
#: What the default becomes as a Deadline Alert, whose context has no task instance: only ``dag_run``
#: (the run, as a dict) and ``deadline`` (``deadline_time``, UTC).
DEADLINE_BODY = (
    "{{ dag_run.dag_id }} (run {{ dag_run.dag_run_id }}) missed its deadline of "
    "{{ (deadline.deadline_time | string)[:16] }} UTC"
)
#: The longest 429 wait of an alert, in seconds: a callback should not sit out a long rate limit.
RATE_LIMIT_WAIT = 10.0
_ELLIPSIS = " [...]"


class OctopodsNotifier(BaseNotifier):
    """
    Send an alert to one or more phones when a task or DAG run ends (or retries, or misses its deadline).

    One send per recipient. A failure to notify is logged and never raised into the callback chain:
    an alert that cannot go out must not change how Airflow handles the task. An SMS body longer
    than Octopods' 1,600 characters (a long exception text, say) is shortened with a visible
    ``[...]`` marker, and the log says so.

    **As a Deadline Alert** (Airflow >= 3.1), pass the class and its arguments to
    ``AsyncCallback(OctopodsNotifier, kwargs={...})``: the triggerer sends on its shared session.
    Templates then render against the alert's context, ``dag_run`` (a dict: ``dag_id``,
    ``dag_run_id``, ``queued_at``, ...) and ``deadline`` (``deadline_time``); there is no ``ti``.
    The default ``body`` therefore becomes :data:`DEADLINE_BODY` there, which names the late run.
    The arguments are checked when the alert fires, not when the DAG is parsed.

    :param destination_phones: One E.164 number, a list of them, or a comma-separated string. Templated.
    :param body: The SMS text, templated with the callback context (``ti``, ``dag_run``, ``run_id``,
        ``exception``, ...). The default names the failed task, for ``on_failure_callback``.
    :param channel: ``"sms"`` (default) or ``"whatsapp"`` (then ``template_id`` and
        ``message_variables``, which may be templated with the same context).
    :param template_id: The WhatsApp template to send. Templated.
    :param message_variables: The template's placeholder values, in any documented form. Templated.
    :param octopods_conn_id: The ``octopods`` connection.
    :param kwargs: Passed to ``BaseNotifier`` (Airflow >= 3.1: the ``context`` of a Deadline Alert).
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
        **kwargs: Any,
    ) -> None:
        if NOTIFIER_TAKES_CONTEXT:
            super().__init__(**kwargs)  # the triggerer passes context= here
        elif kwargs:
            raise TypeError(f"OctopodsNotifier got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
        else:
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

        return OctopodsHook(octopods_conn_id=self.octopods_conn_id, max_rate_limit_wait=RATE_LIMIT_WAIT)

    # -- called: task and DAG callbacks --------------------------------------------------------------

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
        for phone, request in self._prepare():
            try:
                result = self.hook.call(request)
            except Exception as error:
                self._log_failure(phone, error)
            else:
                self._log_sent(phone, result)

    # -- awaited: Deadline Alerts in the triggerer (Airflow >= 3.1) -----------------------------------

    def __await__(self) -> Generator[Any, None, None]:
        """
        Render against ``self.context`` (the alert's) and send with :meth:`async_notify`, logging
        rather than raising a template error, as a call does.
        """
        # ``context`` and an awaitable BaseNotifier arrive with Deadline Alerts (Airflow 3.1); on 3.0
        # nothing awaits a notifier, so these names are unknown to its type stubs only.
        context = self.context  # type: ignore[attr-defined]
        if self.body == DEFAULT_BODY and "ti" not in context and "deadline" in context:
            self.body = DEADLINE_BODY
        try:
            return super().__await__()  # type: ignore[misc]  # renders the fields, awaits async_notify
        except Exception:
            self.log.exception("Octopods notification not sent: its templates could not be rendered")
            return _nothing().__await__()

    async def async_notify(self, context: Context) -> None:
        """Send on the shared aiohttp session of the running event loop; never raises."""
        from airflow_provider_octopods.hooks.octopods import OctopodsAsyncHook

        prepared = self._prepare()
        if not prepared:
            return
        hook = OctopodsAsyncHook(octopods_conn_id=self.octopods_conn_id)
        try:
            settings = await hook.get_settings()
        except Exception as error:  # no such connection, or a bad one: each alert says so, as notify does
            for phone, _ in prepared:
                self._log_failure(phone, error)
            return
        policy = api.RetryPolicy(max_retries=settings.max_retries, max_rate_limit_wait=RATE_LIMIT_WAIT)
        try:
            async with hook.session() as shared:
                for phone, request in prepared:
                    try:
                        result = await hook.call(shared, request, policy=policy)
                    except Exception as error:
                        self._log_failure(phone, error)
                    else:
                        self._log_sent(phone, result)
        except Exception:  # the session itself (cancellation is not an Exception: it goes through)
            self.log.exception("Octopods notification not sent: the connection's session failed")

    # -- shared by both paths ------------------------------------------------------------------------

    def _prepare(self) -> list[tuple[str, api.ApiRequest]]:
        """One validated request per recipient, or none (logged) when a rendered argument is invalid."""
        try:
            phones = api.validate_phones(self.destination_phones)
            return [(phone, self._request(phone)) for phone in phones]
        except Exception:
            self.log.exception("Octopods notification not sent: its arguments are invalid")
            return []

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

    def _log_sent(self, phone: str, result: SendResult) -> None:
        self.log.info(
            "Octopods notification sent to %s as message %s.", redact_phone(phone), result.message_id
        )

    def _log_failure(self, phone: str, error: Exception) -> None:
        self.log.error("Octopods notification to %s failed: %s", redact_phone(phone), error)


async def _nothing() -> None:
    """What awaiting a notifier that could not be rendered does: nothing."""


send_octopods_notification = OctopodsNotifier

"""
The notifier's two paths: called from a callback (sync hook) and awaited in the triggerer as a
Deadline Alert (async hook, shared session). Same requests, same logs, never a raise.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_octopods.hooks import triggerer_client
from airflow_provider_octopods.hooks.triggerer_client import TriggererClient
from airflow_provider_octopods.notifications.octopods import DEADLINE_BODY, OctopodsNotifier
from airflow_provider_octopods.version_compat import AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_2_PLUS
from tests.keys import assert_no_key

if TYPE_CHECKING:
    from airflow_provider_octopods.testing import SimulatorHandle
    from tests.canned_server import CannedServer

SMS_SEND = "/api/v1/sms/messages"
WA_SEND = "/api/v1/whatsapp/templates/539/messages"
PHONES = ["+14155552671", "+14155552672"]

needs_deadline_alerts = pytest.mark.skipif(
    not AIRFLOW_V_3_1_PLUS,
    reason="Deadline Alerts (notifiers awaited in the triggerer) arrived in Airflow 3.1",
)

#: A Deadline Alert's context, as the scheduler builds it (a JSON dict of the run, and the deadline).
DEADLINE_CONTEXT = {
    "dag_run": {"dag_id": "nightly_history", "dag_run_id": "scheduled__2026-04-25T00:00:00+00:00"},
    "deadline": {"id": "0190a1b2", "deadline_time": "2026-04-25 02:00:00.000000+00:00"},
}


class RecordingLog:
    """Stands in for a notifier's logger: every line, formatted, with its level."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def _record(self, level: str, message: str, *args: Any, **_: Any) -> None:
        self.lines.append((level, message % args if args else message))

    def debug(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._record("debug", message, *args, **kwargs)

    def info(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._record("info", message, *args, **kwargs)

    def warning(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._record("warning", message, *args, **kwargs)

    def error(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._record("error", message, *args, **kwargs)

    def exception(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._record("exception", message, *args, **kwargs)


def send_through(path: str, notifier: OctopodsNotifier) -> list[tuple[str, str]]:
    """Send with the sync ``notify`` or the async ``async_notify``; return the log lines."""
    notifier._log = RecordingLog()  # type: ignore[assignment]
    if path == "called":
        notifier.notify({})
    else:
        asyncio.run(notifier.async_notify({}))
    return notifier._log.lines  # type: ignore[attr-defined]


def wire(canned: CannedServer) -> list[tuple[str, str, Any, str | None]]:
    return [
        (request.method, request.path, request.json(), request.headers.get("X-Octopods-Auth"))
        for request in canned.requests
    ]


CASES = {
    "sms to two phones, shortened": (
        {"destination_phones": ", ".join(PHONES), "body": "x" * 3000},
        [("POST", SMS_SEND, 201, {"message_id": 7})],
    ),
    "whatsapp template": (
        {
            "destination_phones": PHONES[0],
            "channel": "whatsapp",
            "template_id": 539,
            "message_variables": ["etl"],
        },
        [("POST", WA_SEND, 201, {"message_id": 8})],
    ),
    "rejected key": (
        {"destination_phones": PHONES, "body": "etl failed"},
        [("POST", SMS_SEND, 401, {"error": "Unauthorized"})],
    ),
    "server down": (
        {"destination_phones": PHONES[0], "body": "etl failed"},
        [("POST", SMS_SEND, 503, {"error": "busy"})],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_both_paths_send_the_same_requests_and_log_the_same_lines(
    octopods_conn: CannedServer, no_backoff: None, case: str
) -> None:
    arguments, answers = CASES[case]
    seen = {}
    for path in ("called", "awaited"):
        octopods_conn.requests.clear()
        for method, route, status, body in answers:
            octopods_conn.add(method, route, status, body)
        lines = send_through(path, OctopodsNotifier(**arguments))  # type: ignore[arg-type]
        seen[path] = (wire(octopods_conn), lines)
    assert seen["called"] == seen["awaited"]
    requests, lines = seen["called"]
    assert requests, "nothing was sent"
    assert_no_key(lines)
    if case.startswith("sms"):
        bodies = [body["body"] for _, _, body, _ in requests]
        assert all(len(body) == 1600 and body.endswith(" [...]") for body in bodies)
        assert [level for level, _ in lines].count("info") == 2


@pytest.mark.parametrize("path", ["called", "awaited"])
def test_a_bad_rendered_phone_or_a_missing_connection_is_logged_not_raised(
    octopods_conn: CannedServer, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    notifier = OctopodsNotifier(destination_phones="{{ params.phone }}")
    notifier.destination_phones = "not a phone"  # what the template rendered to
    assert [level for level, _ in send_through(path, notifier)] == ["exception"]
    monkeypatch.delenv("AIRFLOW_CONN_OCTOPODS_DEFAULT")
    lines = send_through(path, OctopodsNotifier(destination_phones=PHONES))
    assert [level for level, _ in lines] == ["error", "error"]
    assert all("no connection 'octopods_default'" in line for _, line in lines)
    assert octopods_conn.requests == []


def test_the_async_path_borrows_the_event_loops_shared_session(
    octopods_conn: CannedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notifier in the triggerer uses the session the triggers of its loop already hold."""
    octopods_conn.add("POST", SMS_SEND, 201, {"message_id": 1})
    created = []
    real_new_session = triggerer_client._new_session
    monkeypatch.setattr(triggerer_client, "_new_session", lambda: created.append(1) or real_new_session())

    async def alongside_a_trigger() -> None:
        async with TriggererClient.current().session(octopods_conn.base_url):  # a waiting trigger
            await OctopodsNotifier(destination_phones=PHONES).async_notify({})
            assert TriggererClient.current().open_sessions() == 1

    asyncio.run(alongside_a_trigger())
    assert len(created) == 1
    assert len(octopods_conn.requests) == 2


def test_before_airflow_3_1_unknown_arguments_are_refused() -> None:
    if AIRFLOW_V_3_1_PLUS:
        notifier = OctopodsNotifier(destination_phones=PHONES[0], context={"dag_run": {}})
        assert notifier.context == {"dag_run": {}}
        with pytest.raises(TypeError):
            OctopodsNotifier(destination_phones=PHONES[0], destination_phone=PHONES[0])  # type: ignore[call-arg]
    else:
        with pytest.raises(TypeError, match="destination_phone"):
            OctopodsNotifier(destination_phones=PHONES[0], destination_phone=PHONES[0])  # type: ignore[call-arg]


# -- awaited as a Deadline Alert (Airflow >= 3.1) ----------------------------------------------------


@needs_deadline_alerts
def test_awaited_with_the_deadline_context_the_default_body_names_the_late_run(
    octopods_conn: CannedServer,
) -> None:
    octopods_conn.add("POST", SMS_SEND, 201, {"message_id": 1})

    async def alert() -> None:
        await OctopodsNotifier(destination_phones=PHONES[0], context=dict(DEADLINE_CONTEXT))

    asyncio.run(alert())
    [request] = octopods_conn.requests
    assert request.json()["body"] == (
        "nightly_history (run scheduled__2026-04-25T00:00:00+00:00) missed its deadline of "
        "2026-04-25 02:00 UTC"
    )
    assert "dag_run" in DEADLINE_BODY


@needs_deadline_alerts
def test_awaited_templates_render_against_the_deadline_context_and_errors_are_logged(
    octopods_conn: CannedServer,
) -> None:
    octopods_conn.add("POST", WA_SEND, 201, {"message_id": 1})
    rendered = OctopodsNotifier(
        destination_phones=PHONES[0],
        channel="whatsapp",
        template_id=539,
        message_variables=["{{ dag_run.dag_id }}", "{{ deadline.deadline_time[:10] }}"],
        context=dict(DEADLINE_CONTEXT),
    )
    broken = OctopodsNotifier(destination_phones=PHONES[0], body="{{ ti.task_id }} late", context={})
    broken._log = log = RecordingLog()  # type: ignore[assignment]

    async def alerts() -> None:
        await rendered
        await broken  # no `ti` in a deadline context: logged, not raised

    asyncio.run(alerts())
    [request] = octopods_conn.requests
    assert request.json()["message_variables"] == ["nightly_history", "2026-04-25"]
    assert [level for level, _ in log.lines] == ["exception"]


@needs_deadline_alerts
def test_the_triggerers_callback_trigger_runs_the_notifier(simulator: SimulatorHandle) -> None:
    """The trigger Airflow runs a Deadline Alert's ``AsyncCallback`` with, in process."""
    if AIRFLOW_V_3_2_PLUS:
        from airflow.sdk import AsyncCallback
        from airflow.triggers.callback import CallbackTrigger as Trigger
    else:  # Airflow 3.1
        from airflow.sdk.definitions.deadline import AsyncCallback
        from airflow.triggers.deadline import DeadlineCallbackTrigger as Trigger

    kwargs = {"destination_phones": "+14155550199", "body": "{{ dag_run.dag_id }} is late"}
    callback = AsyncCallback(OctopodsNotifier, kwargs=kwargs)
    trigger = Trigger(callback.path, {**kwargs, "context": dict(DEADLINE_CONTEXT)})

    async def run() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    states = [str(event["state"]) for event in asyncio.run(run())]
    assert states[-1].lower().endswith("success"), states
    [message] = simulator.messages()
    assert (message["phone_number"], message["content"]) == ("+14155550199", "nightly_history is late")


def test_a_called_notifier_still_names_the_failed_task(octopods_conn: CannedServer) -> None:
    octopods_conn.add("POST", SMS_SEND, 201, {"message_id": 1})
    ti = SimpleNamespace(dag_id="etl", task_id="load")
    OctopodsNotifier(destination_phones=PHONES[0])({"dag": None, "ti": ti, "task_instance": ti})
    assert octopods_conn.requests[0].json()["body"] == "etl.load failed"

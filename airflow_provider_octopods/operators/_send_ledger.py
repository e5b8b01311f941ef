"""
Where a send operator records its progress, so that a task retry never sends the same message twice.

Octopods has no idempotency key: a POST that may have reached the server must never be repeated
blindly. The operator writes ``sending`` (with the time and recipient) before the request and
``sent`` (with the result) after it; the next try of the same task instance reads that record. The
record must outlive every try that could still run, so it is kept until the task instance has
*succeeded*, not merely until the send returned: a failure after the send (Airflow's XCom push, a
killed worker, a lost connection to the metadata database or API server) makes Airflow retry the
task, and that try must find ``sent``.

* Airflow >= 3.3: the task state store (``context["task_state_store"]``), scoped to the DAG run,
  task and map index, shared by the tries of a task and cleaned up by Airflow's retention.
* Older Airflow: an Airflow Variable named after the task instance. The send operators chain
  :func:`release_after_success` to their ``on_success_callback``, which deletes it once Airflow has
  recorded the success: on Airflow 3 the callback runs after the API server recorded it; on Airflow 2
  it runs just before the worker commits it, so the deletion joins that same transaction. A record
  whose deletion failed is harmless (it is keyed by task instance) and is removed by that task
  instance's next successful try, or by :func:`airflow_provider_octopods.send_records.purge_send_records`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_octopods.models import format_timestamp
from airflow_provider_octopods.version_compat import HAS_TASK_STATE_STORE, SUCCESS_CALLBACKS_RUN_BEFORE_COMMIT

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

log = logging.getLogger(__name__)

STATE_STORE_KEY = "octopods_send"
VARIABLE_PREFIX = "octopods_send_ledger"
VARIABLE_DESCRIPTION = (
    "Progress of an Octopods send, read by the task's retries; deleted once the task instance has succeeded."
)


class SendLedger(Protocol):
    """The progress record of one task instance's send."""

    where: str

    def read(self) -> dict[str, Any] | None: ...

    def write(self, entry: dict[str, Any]) -> None: ...

    def forget(self) -> None:
        """Nothing was sent (the request provably never reached Octopods)."""

    def release(self) -> None:
        """Airflow has recorded the task instance's success: no try of it will read the record again."""


class TaskStateStoreLedger:
    """Airflow 3.3+: the task state store keeps the record for the tries of this task instance."""

    where = "the task state store"

    def __init__(self, store: Any) -> None:
        self._store = store

    def read(self) -> dict[str, Any] | None:
        value = self._store.get(STATE_STORE_KEY)
        return value if isinstance(value, dict) else None

    def write(self, entry: dict[str, Any]) -> None:
        self._store.set(STATE_STORE_KEY, _dated(entry))

    def forget(self) -> None:
        self._store.delete(STATE_STORE_KEY)

    def release(self) -> None:
        """Keep it: the store's own retention (or ``[state_store] clear_on_success``) removes it."""


class VariableLedger:
    """
    Airflow < 3.3: an Airflow Variable per task instance, removed once the task instance succeeded.

    Goes when the minimum Airflow is 3.3 (``version_compat.HAS_TASK_STATE_STORE``).
    """

    where = "an Airflow Variable"

    def __init__(self, name: str) -> None:
        self.name = name

    def read(self) -> dict[str, Any] | None:
        from airflow.providers.common.compat.sdk import Variable

        # The default is positional: Airflow 2 calls it ``default_var``, Airflow 3 ``default``. A read
        # failure propagates: sending without knowing what an earlier try did is what this prevents.
        return parse_record(Variable.get(self.name, None))

    def write(self, entry: dict[str, Any]) -> None:
        from airflow.providers.common.compat.sdk import Variable

        Variable.set(self.name, json.dumps(_dated(entry)), description=VARIABLE_DESCRIPTION)

    def forget(self) -> None:
        from airflow.providers.common.compat.sdk import Variable

        try:
            Variable.delete(self.name)
        except Exception:  # an empty record reads as "no record"
            log.warning("Could not delete the send ledger Variable %s; clearing it instead.", self.name)
            Variable.set(self.name, "")

    def release(self) -> None:
        if SUCCESS_CALLBACKS_RUN_BEFORE_COMMIT:
            _delete_with_the_recorded_success(self.name)
        else:
            from airflow.providers.common.compat.sdk import Variable

            Variable.delete(self.name)


def _delete_with_the_recorded_success(name: str) -> None:
    """
    Airflow 2: delete the Variable in the transaction that records the task's success.

    The worker records the success in its thread-local (scoped) session right after the success
    callbacks; deleting in that session means the record goes exactly when the success is committed,
    and stays when the worker dies first. On PostgreSQL and MySQL a savepoint keeps a failed deletion
    from spoiling that transaction (the task must not fail over its cleanup). SQLite needs none (a
    failed statement there undoes only itself), and its driver would commit on releasing a savepoint
    that opened the transaction.
    """
    from airflow import settings
    from airflow.models.variable import Variable

    worker_session: Any = settings.Session  # Airflow 2's scoped session: the worker's own, per thread
    session = worker_session()
    if session.get_bind().dialect.name == "sqlite":
        Variable.delete(name, session=session)
        return
    with session.begin_nested():
        Variable.delete(name, session=session)


def release_after_success(context: Context) -> None:
    """
    The send operators' own success callback: drop the record of this task instance's send.

    Chained after the user's ``on_success_callback`` (never replacing it). A failure is logged, never
    raised: the task has succeeded, and a leftover record only makes a later try of the same task
    instance return the recorded result.
    """
    try:
        ledger = ledger_for(context)
        ledger.release()
    except Exception as error:
        log.warning(
            "Could not remove the send record of this task instance (%s: %s); it is harmless and goes "
            "with the task instance's next successful try, or with purge_send_records().",
            type(error).__name__,
            error,
        )


def parse_record(value: Any) -> dict[str, Any] | None:
    """A stored record, or None for an empty or unreadable value (which means "no record")."""
    if not value:
        return None
    try:
        entry = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _dated(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry with the time it was written, by which leftovers are purged."""
    return {**entry, "recorded_at": format_timestamp(dt.datetime.now(dt.UTC))}


def variable_name(dag_id: str, task_id: str, run_id: str, map_index: int) -> str:
    """The Variable of one task instance's record: ``octopods_send_ledger__<dag>__<task>__<run>__<map>``."""
    parts = [VARIABLE_PREFIX, dag_id, task_id, run_id, str(map_index)]
    return re.sub(r"[^A-Za-z0-9_.:+-]", "_", "__".join(parts))


def ledger_for(context: Context) -> SendLedger:
    """The task state store where the running Airflow has one, else a Variable."""
    store = context.get("task_state_store") if HAS_TASK_STATE_STORE else None
    if store is not None:
        return TaskStateStoreLedger(store)
    ti = context["ti"]
    return VariableLedger(variable_name(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1)))

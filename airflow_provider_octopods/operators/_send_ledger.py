"""
Where a send operator records its progress, so that a task retry never sends the same message twice.

Octopods has no idempotency key: a POST that may have reached the server must never be repeated
blindly. The operator writes ``sending`` (with the time and recipient) before the request and
``sent`` (with the result) after it; the next try of the same task instance reads that record.

* Airflow >= 3.3: the task state store (``context["task_state_store"]``), scoped to the DAG run,
  task and map index, shared by the tries of a task and cleaned up by Airflow's retention.
* Older Airflow: an Airflow Variable named after the task instance, deleted once the send is known
  to be complete, so Variables do not pile up.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_octopods.version_compat import HAS_TASK_STATE_STORE

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

log = logging.getLogger(__name__)

STATE_STORE_KEY = "octopods_send"
VARIABLE_PREFIX = "octopods_send_ledger"


class SendLedger(Protocol):
    """The progress record of one task instance's send."""

    where: str

    def read(self) -> dict[str, Any] | None: ...

    def write(self, entry: dict[str, Any]) -> None: ...

    def done(self) -> None:
        """The send is complete and its result is on its way to XCom."""

    def forget(self) -> None:
        """Nothing was sent (the request provably never reached Octopods)."""


class TaskStateStoreLedger:
    """Airflow 3.3+: the task state store keeps the record for the tries of this task instance."""

    where = "the task state store"

    def __init__(self, store: Any) -> None:
        self._store = store

    def read(self) -> dict[str, Any] | None:
        value = self._store.get(STATE_STORE_KEY)
        return value if isinstance(value, dict) else None

    def write(self, entry: dict[str, Any]) -> None:
        self._store.set(STATE_STORE_KEY, entry)

    def done(self) -> None:
        """Keep the ``sent`` record: a retry after a later failure (an XCom push) must not resend."""

    def forget(self) -> None:
        self._store.delete(STATE_STORE_KEY)


class VariableLedger:
    """
    Airflow < 3.3: an Airflow Variable per task instance, removed once the send is complete.

    Goes when the minimum Airflow is 3.3 (``version_compat.HAS_TASK_STATE_STORE``).
    """

    where = "an Airflow Variable"

    def __init__(self, name: str) -> None:
        self.name = name

    def read(self) -> dict[str, Any] | None:
        from airflow.providers.common.compat.sdk import Variable

        # The default is positional: Airflow 2 calls it ``default_var``, Airflow 3 ``default``. A read
        # failure propagates: sending without knowing what an earlier try did is what this prevents.
        value = Variable.get(self.name, None)
        if not value:
            return None
        try:
            entry = json.loads(value)
        except ValueError:
            return None
        return entry if isinstance(entry, dict) else None

    def write(self, entry: dict[str, Any]) -> None:
        from airflow.providers.common.compat.sdk import Variable

        Variable.set(
            self.name,
            json.dumps(entry),
            description="Progress of an Octopods send, read by the task's retries (deleted when complete).",
        )

    def done(self) -> None:
        self.forget()

    def forget(self) -> None:
        from airflow.providers.common.compat.sdk import Variable

        try:
            Variable.delete(self.name)
        except Exception:  # cleanup is best effort; an empty record reads as "no record"
            log.warning("Could not delete the send ledger Variable %s; clearing it instead.", self.name)
            Variable.set(self.name, "")


def _variable_name(context: Context) -> str:
    ti = context["ti"]
    parts = [VARIABLE_PREFIX, ti.dag_id, ti.task_id, ti.run_id, str(getattr(ti, "map_index", -1))]
    return re.sub(r"[^A-Za-z0-9_.:+-]", "_", "__".join(parts))


def ledger_for(context: Context) -> SendLedger:
    """The task state store where the running Airflow has one, else a Variable."""
    store = context.get("task_state_store") if HAS_TASK_STATE_STORE else None
    if store is not None:
        return TaskStateStoreLedger(store)
    return VariableLedger(_variable_name(context))

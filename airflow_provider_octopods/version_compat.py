"""
What differs between the Airflow versions this provider supports, in one place.

Each workaround for an older Airflow is a named flag, used where the code branches on it, with the
version at which it (and the code behind it) can go. Like the official providers' own
``version_compat`` modules, this reads the installed version from package metadata, without
importing Airflow, so it is cheap at DAG parse time.
"""

from __future__ import annotations

from importlib import metadata


def _release(version: str) -> tuple[int, int, int]:
    """The numeric release of a PEP 440 version: ``"3.1.0rc1"`` -> ``(3, 1, 0)``."""
    parts: list[int] = []
    for piece in version.split(".")[:3]:
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        parts.append(int(digits) if digits else 0)
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def installed_airflow_version() -> tuple[int, int, int] | None:
    """The installed Airflow's release, or None without Airflow (the simulator runs without it)."""
    try:
        return _release(metadata.version("apache-airflow"))
    except metadata.PackageNotFoundError:
        return None


AIRFLOW_VERSION = installed_airflow_version() or (0, 0, 0)
AIRFLOW_V_3_0_PLUS = AIRFLOW_VERSION >= (3, 0, 0)
AIRFLOW_V_3_1_PLUS = AIRFLOW_VERSION >= (3, 1, 0)
AIRFLOW_V_3_2_PLUS = AIRFLOW_VERSION >= (3, 2, 0)
AIRFLOW_V_3_3_PLUS = AIRFLOW_VERSION >= (3, 3, 0)

#: Airflow 3.3 gives each task instance a task state store; before it, the send ledger (the record
#: that keeps a retried send from sending twice) is an Airflow Variable per task instance.
#: Goes with ``VariableLedger`` when the minimum Airflow is 3.3.
HAS_TASK_STATE_STORE = AIRFLOW_V_3_3_PLUS

#: Airflow 2 runs a task's success callbacks in the worker *before* it commits the task's success, in
#: the worker's thread-local (scoped) database session; Airflow 3 runs them after the API server has
#: recorded the success. So on Airflow 2 the send ledger's Variable is deleted inside that session,
#: and the deletion commits with the success or not at all. Goes with Airflow 2 support.
SUCCESS_CALLBACKS_RUN_BEFORE_COMMIT = not AIRFLOW_V_3_0_PLUS

#: Airflow 3.2 reads the connection form from the provider info's ``conn-fields``; before it, the UI
#: builds the form from the hook's wtforms widgets. Goes with
#: ``OctopodsHook.get_connection_form_widgets`` / ``get_ui_field_behaviour`` when the minimum is 3.2.
LEGACY_CONNECTION_FORM = not AIRFLOW_V_3_2_PLUS

#: Airflow 3.2 gives ``ObjectStoragePath`` a ``conn_id`` attribute; before it, the connection is only
#: a storage option. Goes with the fallback in ``utils.destinations`` when the minimum is 3.2.
PATH_HAS_CONN_ID = AIRFLOW_V_3_2_PLUS

#: Airflow 3.1 can run a notifier in the triggerer, as a Deadline Alert's callback: it constructs the
#: notifier with the alert's ``context=`` (``BaseNotifier.__init__`` takes it from 3.1 on) and awaits
#: it. Before 3.1, ``BaseNotifier.__init__`` takes no argument. Goes with the plain
#: ``super().__init__()`` in ``OctopodsNotifier`` when the minimum Airflow is 3.1.
NOTIFIER_TAKES_CONTEXT = AIRFLOW_V_3_1_PLUS

#: Airflow 3.0's execution API refuses an XCom whose value is None (its client sends no body for it;
#: 3.1 made the body optional), which would fail a send task whose result has an empty field after the
#: message went out. The send operators push the fields themselves there. Goes with 3.0 support.
XCOM_REFUSES_NONE = AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS

"""Run a DAG built inside a test with ``dag.test()``, on Airflow 2.11 and 3.x alike."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from airflow_provider_octopods.version_compat import AIRFLOW_VERSION

AIRFLOW_3 = AIRFLOW_VERSION >= (3, 0, 0)

#: Airflow 3.0 to 3.2: ``dag.test()`` runs a task's callbacks without ``exception`` in their context (a
#: real worker sets it, in ``task_runner.main``); Airflow 3.3 sets it in ``dag.test()`` too. Remove once the
#: oldest supported Airflow 3 is 3.3.
DAG_TEST_CALLBACKS_LACK_EXCEPTION = (3, 0, 0) <= AIRFLOW_VERSION < (3, 3, 0)

#: Airflow 3.0 leaves structlog unconfigured, so ``dag.test()`` prints the task runner's debug lines, among
#: them each ``MaskSecret`` request with the secret in clear (a connection's extra: the API keys), and a
#: failed task's traceback with every frame's locals (a hook's key among them). Airflow 3.1 configures
#: structlog: the configured level, no locals. Remove with Airflow 3.0 support.
DAG_TEST_PRINTS_DEBUG_LOGS = (3, 0, 0) <= AIRFLOW_VERSION < (3, 1, 0)


def run_dag(dag: Any, **kwargs: Any) -> Any:
    """
    ``dag.test()`` the DAG and return its DagRun.

    Since Airflow 3.1, ``dag.test()`` runs only DAGs serialized in the metadata database, so a DAG
    built in a test is synced first.
    """
    if DAG_TEST_PRINTS_DEBUG_LOGS:
        import logging

        import structlog

        if not structlog.is_configured():
            plain = structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
            structlog.configure(
                processors=[
                    plain if isinstance(step, structlog.dev.ConsoleRenderer) else step
                    for step in structlog.get_config()["processors"]
                ],
                wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            )
    if AIRFLOW_VERSION >= (3, 1, 0):
        from airflow.dag_processing.bundles.manager import DagBundlesManager

        try:
            from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
        except ImportError:  # Airflow 3.1
            from airflow.models.dagbag import DagBag, sync_bag_to_db  # type: ignore[attr-defined,no-redef]

        DagBundlesManager().sync_bundles_to_db()
        bag = DagBag(dag_folder=None)
        bag.bag_dag(dag)
        sync_bag_to_db(bag, "dags-folder", None)
    with _exception_in_callback_context():
        return dag.test(**kwargs)


def rerun(dag: Any, dag_run: Any) -> Any:
    """Run ``dag_run`` again, with its run id: its task instances run again, as after clearing them."""
    if AIRFLOW_3:
        return run_dag(dag, logical_date=dag_run.logical_date, run_after=dag_run.run_after)
    return run_dag(dag, execution_date=dag_run.execution_date)


@contextlib.contextmanager
def _exception_in_callback_context() -> Iterator[None]:
    """On Airflow 3.0 to 3.2, give ``dag.test()``'s task callbacks the ``exception`` a worker gives them."""
    if not DAG_TEST_CALLBACKS_LACK_EXCEPTION:
        yield
        return
    from airflow.sdk.execution_time import task_runner

    finalize = task_runner.finalize

    def finalize_with_exception(ti: Any, state: Any, context: Any, log: Any, error: Any = None) -> Any:
        context["exception"] = error
        return finalize(ti, state, context, log, error)

    task_runner.finalize = finalize_with_exception  # looked up when each task runs
    try:
        yield
    finally:
        task_runner.finalize = finalize


def task_state(dag_run: Any, task_id: str, map_index: int = -1) -> str | None:
    ti = dag_run.get_task_instance(task_id, map_index=map_index)
    return None if ti is None else str(ti.state)


def xcom(dag_run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    ti = dag_run.get_task_instance(task_id, map_index=map_index)
    return ti.xcom_pull(task_ids=task_id, key=key, map_indexes=map_index)

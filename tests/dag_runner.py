"""Run a DAG built inside a test with ``dag.test()``, on Airflow 2.11 and 3.x alike."""

from __future__ import annotations

from typing import Any

import airflow

AIRFLOW_3 = int(airflow.__version__.split(".")[0]) >= 3


def run_dag(dag: Any, **kwargs: Any) -> Any:
    """
    ``dag.test()`` the DAG and return its DagRun.

    Since Airflow 3.1, ``dag.test()`` runs only DAGs serialized in the metadata database, so a DAG
    built in a test is synced first.
    """
    if AIRFLOW_3:
        from airflow.dag_processing.bundles.manager import DagBundlesManager

        try:
            from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
        except ImportError:  # Airflow 3.0 and 3.1
            from airflow.models.dagbag import DagBag, sync_bag_to_db  # type: ignore[attr-defined,no-redef]

        DagBundlesManager().sync_bundles_to_db()
        bag = DagBag(dag_folder=None)
        bag.bag_dag(dag)
        sync_bag_to_db(bag, "dags-folder", None)
    return dag.test(**kwargs)


def task_state(dag_run: Any, task_id: str, map_index: int = -1) -> str | None:
    ti = dag_run.get_task_instance(task_id, map_index=map_index)
    return None if ti is None else str(ti.state)


def xcom(dag_run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    ti = dag_run.get_task_instance(task_id, map_index=map_index)
    return ti.xcom_pull(task_ids=task_id, key=key, map_indexes=map_index)

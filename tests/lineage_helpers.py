"""
Lineage and asset events in tests, on Airflow 2.11 and 3.x alike.

* :func:`fresh_hook_lineage_collector`: a recording hook lineage collector for the block, as if a
  lineage reader were registered (Airflow's own test suite does the same).
* :func:`sync_dags`: DAGs serialized into the metadata database and unpaused, so that a
  ``dag.test()`` run stores the events of its asset outlets and queues the DAGs scheduled on them.
* :func:`asset_events` and :func:`queued_runs`: what such a run left in the database.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from airflow_provider_octopods.version_compat import AIRFLOW_VERSION


@contextlib.contextmanager
def fresh_hook_lineage_collector() -> Iterator[Any]:
    """A new, recording collector, returned by common-compat's ``get_hook_lineage_collector``."""
    from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

    if AIRFLOW_VERSION >= (3, 2, 0):
        from airflow.sdk.lineage import HookLineageCollector

        with mock.patch(
            "airflow.sdk.lineage.get_hook_lineage_collector", return_value=HookLineageCollector()
        ):
            yield get_hook_lineage_collector()
        return
    # Airflow 2.11 to 3.1 keep the collector in a module global, which ObjectStoragePath reads too.
    from airflow.lineage import hook

    previous = hook._hook_lineage_collector
    hook._hook_lineage_collector = hook.HookLineageCollector()
    try:
        yield get_hook_lineage_collector()
    finally:
        hook._hook_lineage_collector = previous


@pytest.fixture
def hook_lineage() -> Iterator[Any]:
    """A fresh recording hook lineage collector for the test."""
    with fresh_hook_lineage_collector() as collector:
        yield collector


def collected_uris(collector: Any) -> tuple[list[str], list[str]]:
    """The URIs of the collected inputs and outputs, one per entry (an entry per recording context)."""
    lineage = collector.collected_assets
    return [info.asset.uri for info in lineage.inputs], [info.asset.uri for info in lineage.outputs]


def sync_dags(*dags: Any) -> None:
    """Serialize ``dags`` into the metadata database (with their assets) and unpause them."""
    from airflow.utils.session import create_session

    if AIRFLOW_VERSION >= (3, 0, 0):
        from airflow.dag_processing.bundles.manager import DagBundlesManager

        try:
            from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
        except ImportError:  # Airflow 3.0 and 3.1
            from airflow.models import dagbag

            DagBag = dagbag.DagBag  # type: ignore[misc]
            sync_bag_to_db = getattr(dagbag, "sync_bag_to_db", None)  # 3.1

        DagBundlesManager().sync_bundles_to_db()
        bag = DagBag(dag_folder=None)  # type: ignore[arg-type]
        for dag in dags:
            bag.bag_dag(dag)
        if sync_bag_to_db is None:  # Airflow 3.0: a method of the bag, which needs each DAG's file
            for dag in dags:
                dag.relative_fileloc = dag.relative_fileloc or os.path.basename(dag.fileloc)
            bag.sync_to_db("dags-folder", None)
        else:
            sync_bag_to_db(bag, "dags-folder", None)
    else:
        dags[0].bulk_write_to_db(list(dags))  # Airflow 2.11: the DAG class writes itself
    from airflow.models.dag import DagModel

    with create_session() as session:
        for dag in dags:
            session.get(DagModel, dag.dag_id).is_paused = False


def _asset_models() -> tuple[Any, Any, Any, str]:
    try:
        from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel

        return AssetEvent, AssetDagRunQueue, AssetModel, "asset_id"
    except ImportError:  # Airflow 2.11
        from airflow.models.dataset import DatasetDagRunQueue, DatasetEvent, DatasetModel

        return DatasetEvent, DatasetDagRunQueue, DatasetModel, "dataset_id"


def asset_events(uri: str, source_dag_id: str) -> list[dict[str, Any]]:
    """The ``extra`` of each event ``source_dag_id`` stored for the asset ``uri``, oldest first."""
    from airflow.utils.session import create_session

    event_model, _, asset_model, key = _asset_models()
    with create_session() as session:
        asset = session.query(asset_model).filter(asset_model.uri == uri).one_or_none()
        if asset is None:
            return []
        events = (
            session.query(event_model)
            .filter(getattr(event_model, key) == asset.id, event_model.source_dag_id == source_dag_id)
            .order_by(event_model.id)
        )
        return [dict(event.extra) for event in events]


def queued_runs(target_dag_id: str) -> list[str]:
    """The URIs of the asset changes queued for ``target_dag_id`` (what the scheduler turns into a run)."""
    from airflow.utils.session import create_session

    _, queue_model, asset_model, key = _asset_models()
    with create_session() as session:
        rows = session.query(queue_model).filter(queue_model.target_dag_id == target_dag_id)
        return sorted(session.get(asset_model, getattr(row, key)).uri for row in rows)

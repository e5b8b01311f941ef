"""
The OpenLineage facets of the operators, built only when the OpenLineage provider asks for them.

The OpenLineage provider (the optional extra ``openlineage``) calls an operator's
``get_openlineage_facets_on_complete`` once its task has finished; without it, nothing here runs.
Its classes are imported inside the functions, so neither it nor ``openlineage-python`` is needed
to import this package, and DAG files do not pay for them at parse time.

Datasets follow the names of :mod:`.lineage` and OpenLineage's naming conventions, as Airflow's
own asset converters spell them: a local file is namespace ``file`` with its absolute path as name;
an object is namespace ``<scheme>://<bucket>`` with its key as name; Octopods messages are namespace
``octopods://<api host>`` with ``whatsapp/messages`` or ``sms/messages`` as name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airflow_provider_octopods.utils.lineage import channel_asset_name, octopods_namespace
from airflow_provider_octopods.utils.records import COLUMN_TYPES

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_octopods.utils.lineage import FileLineage

__all__ = ["channel_operator_lineage", "dataset_name_of", "file_operator_lineage"]


def dataset_name_of(uri: str) -> tuple[str, str]:
    """The OpenLineage ``(namespace, name)`` of a file's plain URI."""
    parts = urlsplit(uri)
    if parts.scheme in ("file", "local"):
        return "file", parts.path
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def file_operator_lineage(lineage: FileLineage | None) -> OperatorLineage | None:
    """
    The facets of an export or a compaction: the listing as input, the file as output with the
    schema of its columns. None when the task wrote nothing (it failed before), so OpenLineage
    reports no datasets rather than a file that was not written.
    """
    if lineage is None:
        return None
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
        SchemaDatasetFacet,
        SchemaDatasetFacetFields,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    schema = SchemaDatasetFacet(
        fields=[SchemaDatasetFacetFields(name=name, type=COLUMN_TYPES[name]) for name in lineage.columns]
    )
    namespace, name = dataset_name_of(lineage.destination_uri)
    inputs = []
    if lineage.api_host:
        inputs.append(
            Dataset(namespace=octopods_namespace(lineage.api_host), name=channel_asset_name("whatsapp"))
        )
    return OperatorLineage(
        inputs=inputs, outputs=[Dataset(namespace=namespace, name=name, facets={"schema": schema})]
    )


def channel_operator_lineage(api_host: str, channel: str) -> OperatorLineage:
    """The facets of a send: no input, the channel's messages of the API host as output."""
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(
        outputs=[Dataset(namespace=octopods_namespace(api_host), name=channel_asset_name(channel))]
    )

"""What the export and the compaction share about the file they write: its lineage and its figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_octopods.utils.destinations import plain_uri

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_octopods.utils.lineage import FileLineage


class WrittenFileLineage:
    """
    Mixed into the operators that write one file: report it once it is in place.

    :meth:`_report_written_file` records the hook lineage (the listing in, the file out), puts the
    figures on the task's outlet events, and keeps what was written for
    :meth:`get_openlineage_facets_on_complete`, which the OpenLineage provider calls after
    ``execute`` on the same operator object. A task that fails before its file is in place keeps
    nothing, and reports no datasets.
    """

    _written_file: FileLineage | None = None

    def _report_written_file(
        self,
        context: Mapping[str, Any],
        *,
        hook: Any,
        destination: ObjectStoragePath,
        api_host: str | None,
        columns: Sequence[str],
        figures: Mapping[str, Any],
    ) -> None:
        from airflow_provider_octopods.utils.lineage import FileLineage, record_hook_lineage
        from airflow_provider_octopods.utils.outlets import attach_figures

        written = FileLineage(
            api_host=api_host, destination_uri=plain_uri(destination), columns=tuple(columns)
        )
        record_hook_lineage(hook=hook, destination=destination, api_host=api_host)
        attach_figures(context, getattr(self, "outlets", None) or (), written.destination_uri, figures)
        self._written_file = written

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage | None:
        """
        OpenLineage facets (read by the OpenLineage provider, when installed): the Octopods
        listing as input, the file as output with the schema of its columns.
        """
        from airflow_provider_octopods.utils.openlineage import file_operator_lineage

        return file_operator_lineage(self._written_file)

"""Compact capture partitions into one complete, deduplicated history file per window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_octopods import api
from airflow_provider_octopods.exceptions import (
    OctopodsError,
    OctopodsIncompleteHistoryError,
    OctopodsValidationError,
)
from airflow_provider_octopods.models import format_timestamp, parse_timestamp
from airflow_provider_octopods.operators._arguments import check_choice, check_flag, check_literal_output
from airflow_provider_octopods.operators._lineage import WrittenFileLineage
from airflow_provider_octopods.utils.destinations import (
    check_literal_location,
    plain_uri,
    resolve_destination,
    resolve_location,
    resolve_output_format,
)
from airflow_provider_octopods.utils.templating import is_templated
from airflow_provider_octopods.utils.windows import Window, resolve_window

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, ObjectStoragePath

    from airflow_provider_octopods.hooks.octopods import OctopodsHook
    from airflow_provider_octopods.operators._status_refresh import RefreshReport
    from airflow_provider_octopods.utils.partitions import Discovery, Partition

__all__ = ["CompactSentMessagesOperator"]

GAP_MODES = ("fail", "warn")
_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


class CompactSentMessagesOperator(WrittenFileLineage, BaseOperator):
    """
    Turn a day of capture partitions into one complete history file, with final statuses.

    The Octopods listing holds only the newest 100 messages, so a busy channel is captured every few
    minutes with :class:`~airflow_provider_octopods.operators.export.ExportSentMessagesOperator`
    (each file with its manifest), and compacted at night by this operator:

    * **Input.** Every partition under ``source`` whose manifest window overlaps ``[start, end)``;
      of its records those whose ``created_at`` lies in the window; one record per ``message_id``,
      the latest observation winning (by ``status_checked_at``, else ``exported_at``); sorted by
      ``created_at``, then ``message_id``. A data file without a manifest, or a manifest without its
      file, is named in a warning and never used; partitions read through another connection or API
      host than the first are refused.
    * **Coverage.** Each partition covers its window (only ``[oldest_listed, window_end)`` when its
      listing was cut), never past its ``exported_at``. Every stretch of ``[start, end)`` no
      partition covers is a gap: with ``on_gap="fail"`` the task fails with
      :class:`~airflow_provider_octopods.exceptions.OctopodsIncompleteHistoryError` naming each one,
      before anything is written or requested (a capture that has not landed yet is picked up by a
      task retry); with ``"warn"`` the history is written and the gaps reported.
    * **Final statuses.** With ``refresh_statuses``, every record whose status may still change
      (QUEUED, SENT, UNKNOWN, DELIVERED) is read again: one listing request, then the status
      endpoint for the rest, 16 at a time on the async hook's shared session and per-key throttle.
      A 429 pauses, never fails; a message Octopods no longer knows keeps its captured status. Each
      record read again gets ``status_checked_at``.
    * **Output.** The export's columns plus ``status_checked_at``, as JSON Lines, CSV or Parquet,
      written atomically: a crash or failure leaves the previous file or none, and a re-run replaces
      it.

    Returns (XCom) ``{"path", "count", "window_start", "window_end", "complete", "gaps",
    "refreshed", "partitions"}``: ``gaps`` a list of ``[start, end]`` ISO 8601 pairs, ``refreshed``
    how many records were read again, ``partitions`` how many partitions were read. Never the rows.

    **Lineage and assets**, as for the export: the history file is an asset (its plain URI), read
    from ``octopods://<api host>/whatsapp/messages`` (the API host the partitions came from),
    recorded as hook lineage once in place and reported as OpenLineage facets with the schema of
    its columns. The asset event of an ``Asset`` outlet (or of the file attached to an
    ``AssetAlias`` outlet) carries ``count``, ``window_start``, ``window_end`` and ``complete``.

    :param source: Folder (or prefix) of the capture partitions, e.g. ``.../capture/{{ ds }}/``; an
        absolute path, a URL or an ``ObjectStoragePath``. Templated.
    :param destination: The history file, e.g. ``.../history/{{ ds }}.parquet``. Templated.
    :param file_format: ``"jsonl"``, ``"csv"`` or ``"parquet"``; by default the destination's suffix
        decides, exactly as for the export (``.gz`` gzips the text formats). Templated.
    :param start: Window start (inclusive); templated; default: the data interval start.
    :param end: Window end (exclusive); templated; default: the data interval end.
    :param storage_conn_id: Airflow connection of the object store, for both source and destination.
    :param octopods_conn_id: The ``octopods`` connection statuses are read again through; it must
        point at the API host the partitions came from. Templated.
    :param refresh_statuses: Read statuses that may still change again (default True).
    :param on_gap: ``"fail"`` (default) or ``"warn"`` when the partitions leave part of the window
        uncovered.
    :param mask_pii: Mask phone numbers and leave out ``message_content`` in the history file.
    """

    template_fields: Sequence[str] = (
        "source",
        "destination",
        "file_format",
        "start",
        "end",
        "storage_conn_id",
        "octopods_conn_id",
    )
    template_fields_renderers = {"source": "py", "destination": "py"}
    ui_color = "#075e54"

    def __init__(
        self,
        *,
        source: str | ObjectStoragePath,
        destination: str | ObjectStoragePath,
        file_format: str | None = None,
        start: str | dt.datetime | None = None,
        end: str | dt.datetime | None = None,
        storage_conn_id: str | None = None,
        octopods_conn_id: str = api.DEFAULT_CONN_ID,
        refresh_statuses: bool = True,
        on_gap: str = "fail",
        mask_pii: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.destination = destination
        self.file_format = file_format
        self.start = start
        self.end = end
        self.storage_conn_id = storage_conn_id
        self.octopods_conn_id = octopods_conn_id
        self.refresh_statuses = check_flag(refresh_statuses, "refresh_statuses")
        self.on_gap = check_choice(on_gap, "on_gap", GAP_MODES)
        self.mask_pii = check_flag(mask_pii, "mask_pii")
        # Fail at DAG parse time for what is already known; templated values are checked at run time.
        if isinstance(source, str) and not is_templated(source):
            check_literal_location(source, "source", folder_ok=True)
        check_literal_output(destination, file_format)
        if not is_templated(octopods_conn_id):
            api.validate_conn_id(octopods_conn_id)

    @cached_property
    def hook(self) -> OctopodsHook:
        from airflow_provider_octopods.hooks.octopods import OctopodsHook

        return OctopodsHook(octopods_conn_id=self.octopods_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_octopods.utils.coverage import covered_by
        from airflow_provider_octopods.utils.outlets import COMPACTION_FIGURES
        from airflow_provider_octopods.utils.partitions import check_same_origin, discover
        from airflow_provider_octopods.utils.records import HISTORY_FIELDS, columns_written

        self._written_file = None
        source = resolve_location(self.source, self.storage_conn_id, "source", folder_ok=True)
        destination = resolve_destination(self.destination, self.storage_conn_id)
        file_format = resolve_output_format(destination.name, self.file_format)
        _check_apart(source, destination)
        window = resolve_window(self.start, self.end, context)
        found = discover(source)
        self._warn_unpaired(found)
        partitions = [partition for partition in found.partitions if partition.window.overlaps(window)]
        check_same_origin(partitions, self._own_host() if self.refresh_statuses else None)
        covered = [stretch for partition in partitions if (stretch := covered_by(partition.manifest))]
        gaps = self._gaps(window, covered, source, found)
        records = self._merge(source, partitions, window)
        report = self._refresh(records) if self.refresh_statuses else None
        count = self._write(destination, records, file_format)
        self.log.info(
            "Compacted %d messages of %s from %d capture partitions into %s: %s.",
            count,
            window.describe(),
            len(partitions),
            destination,
            "complete" if not gaps else f"{len(gaps)} gaps",
        )
        result = {
            "path": plain_uri(destination),
            "count": count,
            "window_start": format_timestamp(window.start),
            "window_end": format_timestamp(window.end),
            "complete": not gaps,
            "gaps": [gap.as_pair() for gap in gaps],
            "refreshed": report.refreshed if report else 0,
            "partitions": len(partitions),
        }
        self._report_written_file(
            context,
            hook=self.hook,
            destination=destination,
            api_host=self._listing_host(partitions),
            columns=columns_written(file_format, HISTORY_FIELDS, mask_pii=self.mask_pii),
            figures={key: result[key] for key in COMPACTION_FIGURES},
        )
        return result

    def _own_host(self) -> str:
        from airflow_provider_octopods.utils.manifest import api_host

        return api_host(self.hook.settings.base_url)

    def _listing_host(self, partitions: list[Partition]) -> str | None:
        """
        The API host whose listing the records came from: the partitions' (all the same, checked),
        else the connection's; None when neither can be told (no partition, no connection).
        """
        if partitions:
            return partitions[0].manifest.api_host
        try:
            return self._own_host()
        except OctopodsError:
            return None

    def _warn_unpaired(self, found: Discovery) -> None:
        if found.unpaired_data:
            self.log.warning(
                "%d data files have no manifest, so nothing says what they cover; they are not used "
                "(an export interrupted between its two writes leaves one: re-run its task): %s",
                len(found.unpaired_data),
                ", ".join(found.unpaired_data),
            )
        if found.unpaired_manifests:
            self.log.warning(
                "%d manifests have no data file beside them; they cover nothing: %s",
                len(found.unpaired_manifests),
                ", ".join(found.unpaired_manifests),
            )

    def _gaps(
        self, window: Window, covered: list[Window], source: ObjectStoragePath, found: Discovery
    ) -> list[Window]:
        """The uncovered stretches of the window; raises for ``on_gap="fail"`` (before any write)."""
        from airflow_provider_octopods.utils.coverage import gaps, span

        frame = window
        if not (window.start and window.end):
            whole = span(covered) or Window(None, None)
            frame = Window(window.start or whole.start, window.end or whole.end)
        found_gaps = gaps(frame, covered) if covered or window.bounded else [Window(None, None)]
        if not found_gaps:
            return []
        where = plain_uri(source)
        why = (
            f"the source {where} does not exist (no capture has written there yet, or the path is wrong)"
            if not found.exists
            else f"no capture partition under {where} covers them"
        )
        message = (
            f"The history of {window.describe()} is incomplete: messages sent in "
            f"{', '.join(gap.describe() for gap in found_gaps)} may be missing, because {why}. A capture "
            "that has not landed yet shows as a gap at the end, which a retry of this task picks up; "
            "otherwise capture more often (a truncated capture covers only back to the oldest message "
            "it listed)."
        )
        if self.on_gap == "fail":
            raise OctopodsIncompleteHistoryError(
                f"{message} Nothing was written.", gaps=[gap.as_pair() for gap in found_gaps]
            )
        self.log.warning("%s Writing it anyway (on_gap='warn').", message)
        return found_gaps

    def _merge(
        self, source: ObjectStoragePath, partitions: list[Partition], window: Window
    ) -> list[dict[str, Any]]:
        """One record per message of the window, the latest observation winning, in time order."""
        from airflow_provider_octopods.utils.partition_reader import read_partition

        latest: dict[int, tuple[tuple[dt.datetime, int], dict[str, Any]]] = {}
        masked: list[str] = []
        skipped = 0
        for order, partition in enumerate(partitions):
            records, was_masked = read_partition(source.fs, partition)
            if was_masked:
                masked.append(partition.uri)
            for record in records:
                created = parse_timestamp(record["created_at"])
                if (created is None and window.bounded) or (created is not None and created not in window):
                    skipped += 1
                    continue
                seen = parse_timestamp(record["status_checked_at"] or record["exported_at"]) or _EARLIEST
                held = latest.get(record["message_id"])
                if held is None or (seen, order) >= held[0]:
                    latest[record["message_id"]] = ((seen, order), record)
        if masked and not self.mask_pii:
            self.log.warning(
                "%d partitions were exported with mask_pii: their phone numbers stay masked and they have "
                "no message_content: %s",
                len(masked),
                ", ".join(masked),
            )
        self.log.info(
            "%d records of the partitions lie outside %s (or have no created_at).", skipped, window.describe()
        )
        return sorted(
            (record for _, record in latest.values()),
            key=lambda record: (parse_timestamp(record["created_at"]) or _EARLIEST, record["message_id"]),
        )

    def _refresh(self, records: list[dict[str, Any]]) -> RefreshReport:
        from airflow_provider_octopods.operators._status_refresh import needs_refresh, refresh_statuses

        pending = [record for record in records if needs_refresh(record)]
        report = refresh_statuses(pending, octopods_conn_id=self.octopods_conn_id)
        self.log.info(
            "Read the statuses of %d of %d messages again (%d from one listing request, %d from the status "
            "endpoint); the other %d were already final.",
            report.refreshed,
            len(records),
            report.from_listing,
            report.from_status,
            len(records) - len(pending),
        )
        if report.not_found:
            self.log.warning(
                "%d messages are no longer known to Octopods (404) and keep the status captured: %s",
                len(report.not_found),
                ", ".join(map(str, report.not_found[:50])),
            )
        return report

    def _write(self, destination: ObjectStoragePath, records: list[dict[str, Any]], file_format: str) -> int:
        from airflow_provider_octopods.utils.atomic import write_atomically
        from airflow_provider_octopods.utils.records import HISTORY_FIELDS, write_records

        return write_atomically(
            destination,
            lambda stream: write_records(
                stream, self._output(records), file_format, mask_pii=self.mask_pii, fields=HISTORY_FIELDS
            ),
        )

    def _output(self, records: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        from airflow_provider_octopods.utils.phones import mask_phone

        for record in records:
            if self.mask_pii:
                record = {key: value for key, value in record.items() if key != "message_content"}
                record["phone_number"] = mask_phone(record["phone_number"])
            yield record


def _check_apart(source: ObjectStoragePath, destination: ObjectStoragePath) -> None:
    """The history file must not land among the partitions: the next run would find it there."""
    folder = plain_uri(source)
    if plain_uri(destination).startswith(folder):
        raise OctopodsValidationError(
            f"Invalid `destination`: {plain_uri(destination)} lies under the source {folder}, where the "
            "next compaction would find it among the capture partitions. Write the history elsewhere "
            "(e.g. '.../history/{{ ds }}.parquet').",
            parameter="destination",
        )

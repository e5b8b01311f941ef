"""Export the sent-message history of a WhatsApp channel into object storage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_octopods import api
from airflow_provider_octopods.exceptions import OctopodsTruncatedExportError
from airflow_provider_octopods.models import SentMessage, format_timestamp
from airflow_provider_octopods.operators._advice import truncation_advice
from airflow_provider_octopods.operators._arguments import check_choice, check_flag, check_literal_output
from airflow_provider_octopods.operators._lineage import WrittenFileLineage
from airflow_provider_octopods.utils.destinations import plain_uri, resolve_destination, resolve_output_format
from airflow_provider_octopods.utils.templating import is_templated
from airflow_provider_octopods.utils.windows import Window, resolve_window

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, ObjectStoragePath

    from airflow_provider_octopods.hooks.octopods import OctopodsHook
    from airflow_provider_octopods.utils.manifest import Manifest

__all__ = ["ExportSentMessagesOperator"]

TRUNCATION_MODES = ("warn", "fail")


class ExportSentMessagesOperator(WrittenFileLineage, BaseOperator):
    """
    Land the WhatsApp sent-message listing in object storage, one file per data interval.

    The records whose ``created_at`` lies in ``[start, end)`` (by default the run's data interval)
    are written, sorted by ``created_at`` then ``message_id``, as JSON Lines, CSV or Parquet: the
    format follows the destination's suffix (``.jsonl``, ``.csv``, gzip when it ends in ``.gz``;
    ``.parquet``). Runs without a window (manual runs and ``schedule=None`` DAGs get a zero-width
    data interval) export everything the listing returns.

    The write is atomic and idempotent: a temporary sibling object is moved onto the destination, so
    a crash leaves the previous file or none, and a re-run replaces the file. An empty window (or a
    channel that never sent anything) writes an empty file: an empty JSON Lines file, a CSV with
    only its header, a Parquet file with only its schema.

    **The manifest.** Beside each file goes ``<destination>.manifest.json``, written after it: the
    window, the count, whether the listing was cut, the oldest and newest ``created_at`` the listing
    returned, when it was read, the format, the connection id and the API host (never a key). It is
    what :class:`~airflow_provider_octopods.operators.compact.CompactSentMessagesOperator` reads to
    tell which stretches of time a set of captures really covers.

    **The 100-message window.** The Octopods listing only returns the newest 100 messages and has
    no way to page further back. When the oldest message returned still lies inside the window,
    older messages of the window may be missing: the operator logs a warning naming the gap and how
    often to capture, from the rate it just saw, or fails before writing with
    ``on_truncation="fail"``; the result says ``truncated: true`` either way. For a busy channel,
    capture every few minutes and compact nightly (see the README's "Complete history").

    Returns (XCom) ``{"path", "count", "window_start", "window_end", "truncated"}``, never the rows.

    **Lineage and assets.** The file is an asset named by its plain URI, read from the asset
    ``octopods://<api host>/whatsapp/messages`` (the listing): both are recorded as hook lineage
    once the file is in place (never the temporary sibling, never the manifest, which is a sidecar
    of the file), and reported as OpenLineage facets, with the schema of the columns, when the
    OpenLineage provider is installed. Give the task an outlet, an ``Asset`` of the destination or
    an ``AssetAlias`` (for a templated destination: the file is attached to it), and its asset event
    carries ``count``, ``window_start``, ``window_end`` and ``truncated`` in its ``extra``, so a DAG
    scheduled on it can refuse an incomplete window without opening the file.

    :param destination: Where to write: an absolute local path, ``file://``, ``s3://``, ``gs://`` ...
        or an ``ObjectStoragePath``. Templated, so ``.../{{ ds }}.jsonl`` gives one file per interval.
        A relative path is refused: a worker would resolve it against whatever folder it runs in.
    :param file_format: ``"jsonl"``, ``"csv"`` or ``"parquet"``; by default the destination's suffix
        decides (``.jsonl``, ``.csv``, optionally ``.gz``, ``.parquet``; anything else is JSON
        Lines). Given explicitly, it must agree with the suffix. Parquet needs the ``parquet`` extra.
    :param start: Window start (inclusive); templated; default: the data interval start.
    :param end: Window end (exclusive); templated; default: the data interval end.
    :param storage_conn_id: Airflow connection of the object store (e.g. an AWS connection for s3://).
    :param octopods_conn_id: The ``octopods`` connection (its ``whatsapp_api_key`` is used).
    :param on_truncation: ``"warn"`` (default) or ``"fail"`` when the listing may have cut the window.
    :param mask_pii: Mask phone numbers (keep ``+``, country code and last two digits) and leave out
        ``message_content``, for exports that land in shared storage.
    """

    template_fields: Sequence[str] = (
        "destination",
        "file_format",
        "start",
        "end",
        "storage_conn_id",
        "octopods_conn_id",
    )
    template_fields_renderers = {"destination": "py"}
    ui_color = "#128c7e"

    def __init__(
        self,
        *,
        destination: str | ObjectStoragePath,
        file_format: str | None = None,
        start: str | dt.datetime | None = None,
        end: str | dt.datetime | None = None,
        storage_conn_id: str | None = None,
        octopods_conn_id: str = api.DEFAULT_CONN_ID,
        on_truncation: str = "warn",
        mask_pii: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.destination = destination
        self.file_format = file_format
        self.start = start
        self.end = end
        self.storage_conn_id = storage_conn_id
        self.octopods_conn_id = octopods_conn_id
        if not is_templated(octopods_conn_id):
            api.validate_conn_id(octopods_conn_id)
        self.on_truncation = check_choice(on_truncation, "on_truncation", TRUNCATION_MODES)
        self.mask_pii = check_flag(mask_pii, "mask_pii")
        # Fail at DAG parse time for what is already known; templated values are checked at run time.
        check_literal_output(destination, file_format)

    @cached_property
    def hook(self) -> OctopodsHook:
        from airflow_provider_octopods.hooks.octopods import OctopodsHook

        return OctopodsHook(octopods_conn_id=self.octopods_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_octopods.utils.atomic import write_atomically
        from airflow_provider_octopods.utils.manifest import remove_manifest, write_manifest
        from airflow_provider_octopods.utils.outlets import EXPORT_FIGURES
        from airflow_provider_octopods.utils.records import FIELDS, columns_written, to_record, write_records

        self._written_file = None
        destination = resolve_destination(self.destination, self.storage_conn_id)
        file_format = resolve_output_format(destination.name, self.file_format)
        window = resolve_window(self.start, self.end, context)
        # Taken before the listing is read: nothing created after this moment can be in the file.
        exported_at = dt.datetime.now(dt.UTC)
        messages = self.hook.list_sent_messages(limit=api.LISTING_MAX_LIMIT)
        selected = self._select(messages, window)
        truncated = self._truncation_check(messages, window)
        records = [
            to_record(message, exported_at=exported_at, mask_pii=self.mask_pii) for message in selected
        ]
        remove_manifest(destination)  # the old one must never describe the new file
        count = write_atomically(
            destination, lambda stream: write_records(stream, records, file_format, mask_pii=self.mask_pii)
        )
        manifest = self._manifest(messages, window, count, truncated, exported_at, file_format)
        write_manifest(destination, manifest)
        self.log.info(
            "Exported %d of %d listed messages in %s to %s.",
            count,
            len(messages),
            window.describe(),
            destination,
        )
        result = {
            "path": plain_uri(destination),
            "count": count,
            "window_start": format_timestamp(window.start),
            "window_end": format_timestamp(window.end),
            "truncated": truncated,
        }
        self._report_written_file(
            context,
            hook=self.hook,
            destination=destination,
            api_host=manifest.api_host,
            columns=columns_written(file_format, FIELDS, mask_pii=self.mask_pii),
            figures={key: result[key] for key in EXPORT_FIGURES},
        )
        return result

    def _manifest(
        self,
        messages: list[SentMessage],
        window: Window,
        count: int,
        truncated: bool,
        exported_at: dt.datetime,
        file_format: str,
    ) -> Manifest:
        from airflow_provider_octopods.utils.manifest import Manifest, api_host

        dated = [message.created_at for message in messages if message.created_at is not None]
        return Manifest(
            window_start=format_timestamp(window.start),
            window_end=format_timestamp(window.end),
            count=count,
            truncated=truncated,
            oldest_listed=format_timestamp(min(dated)) if dated else None,
            newest_listed=format_timestamp(max(dated)) if dated else None,
            exported_at=format_timestamp(exported_at) or "",
            file_format=file_format,
            octopods_conn_id=self.octopods_conn_id,
            api_host=api_host(self.hook.settings.base_url),
        )

    def _select(self, messages: list[SentMessage], window: Window) -> list[SentMessage]:
        undated = [message.message_id for message in messages if message.created_at is None]
        if undated and window.bounded:
            self.log.warning(
                "%d listed messages have no readable created_at and cannot be placed in %s; they are "
                "not exported: %s",
                len(undated),
                window.describe(),
                ", ".join(map(str, undated[:20])),
            )
        selected = [
            message
            for message in messages
            if (message.created_at in window if message.created_at is not None else not window.bounded)
        ]
        oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
        return sorted(selected, key=lambda message: (message.created_at or oldest, message.message_id))

    def _truncation_check(self, messages: list[SentMessage], window: Window) -> bool:
        """Whether the 100-message listing may have cut off older messages of the window."""
        if len(messages) < api.LISTING_MAX_LIMIT:
            return False  # the listing returned everything the channel has
        dated = [message.created_at for message in messages if message.created_at is not None]
        oldest = min(dated) if dated else None
        if oldest is not None and window.start is not None and oldest < window.start:
            return False  # the listing reaches back past the window start: nothing of it is missing
        gap_end = min(oldest, window.end) if oldest and window.end else (oldest or window.end)
        if oldest is not None and window.end is not None and oldest >= window.end:
            where = f"is newer than the whole export window {window.describe()}"
        else:
            where = f"lies inside the export window {window.describe()}"
        message = (
            f"The Octopods listing returns only the newest {api.LISTING_MAX_LIMIT} messages, and the oldest "
            f"it returned ({format_timestamp(oldest) or 'undated'}) {where}: messages sent between "
            f"{format_timestamp(window.start) or 'the beginning'} and {format_timestamp(gap_end) or 'now'} "
            f"may be missing from this export. {truncation_advice(dated, window)}"
        )
        if self.on_truncation == "fail":
            raise OctopodsTruncatedExportError(message)
        self.log.warning(message)
        return True

"""Export the sent-message history of a WhatsApp channel into object storage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_octopods import api
from airflow_provider_octopods.exceptions import OctopodsTruncatedExportError, OctopodsValidationError
from airflow_provider_octopods.models import SentMessage, format_timestamp
from airflow_provider_octopods.utils.destinations import (
    check_literal_destination,
    plain_uri,
    resolve_destination,
    resolve_format,
)
from airflow_provider_octopods.utils.templating import is_templated

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, ObjectStoragePath

    from airflow_provider_octopods.hooks.octopods import OctopodsHook

__all__ = ["ExportSentMessagesOperator"]

TRUNCATION_MODES = ("warn", "fail")


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[start, end)``; a missing bound is unbounded."""

    start: dt.datetime | None
    end: dt.datetime | None

    def __contains__(self, moment: dt.datetime) -> bool:
        return (self.start is None or moment >= self.start) and (self.end is None or moment < self.end)

    def describe(self) -> str:
        return f"[{format_timestamp(self.start) or 'the beginning'}, {format_timestamp(self.end) or 'now'})"


def _as_utc(value: object, parameter: str) -> dt.datetime | None:
    """A datetime (pendulum included) or an ISO 8601 string, as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str) and (parsed := api.parse_timestamp(value)) is not None:
        return parsed
    raise OctopodsValidationError(
        f"Invalid `{parameter}`: expected a datetime or an ISO 8601 timestamp, got {value!r}.",
        parameter=parameter,
    )


class ExportSentMessagesOperator(BaseOperator):
    """
    Land the WhatsApp sent-message listing in object storage, one file per data interval.

    The records whose ``created_at`` lies in ``[start, end)`` (by default the run's data interval)
    are written, sorted by ``created_at`` then ``message_id``, as JSON Lines or CSV: the format
    follows the destination's suffix (``.jsonl``, ``.csv``; gzip when it ends in ``.gz``). Runs
    without a window (manual runs and ``schedule=None`` DAGs get a
    zero-width data interval) export everything the listing returns.

    The write is atomic and idempotent: a temporary sibling object is moved onto the destination, so
    a crash leaves the previous file or none, and a re-run replaces the file. An empty window (or a
    channel that never sent anything) writes an empty file: an empty JSON Lines file, or a CSV with
    only its header.

    **The 100-message window.** The Octopods listing only returns the newest 100 messages and has
    no way to page further back. When the oldest message returned still lies inside the window,
    older messages of the window may be missing: the operator logs a warning naming the gap and the
    remedy (schedule the export more often), or fails before writing with ``on_truncation="fail"``;
    the result says ``truncated: true`` either way.

    Returns (XCom) ``{"path", "count", "window_start", "window_end", "truncated"}``, never the rows.

    :param destination: Where to write: an absolute local path, ``file://``, ``s3://``, ``gs://`` ...
        or an ``ObjectStoragePath``. Templated, so ``.../{{ ds }}.jsonl`` gives one file per interval.
        A relative path is refused: a worker would resolve it against whatever folder it runs in.
    :param file_format: ``"jsonl"`` or ``"csv"``; by default the destination's suffix decides
        (``.jsonl``, ``.csv``, optionally ``.gz``; anything else is JSON Lines). Given explicitly, it
        must agree with the suffix.
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
        if on_truncation not in TRUNCATION_MODES:
            raise OctopodsValidationError(
                f"Invalid `on_truncation`: expected 'warn' or 'fail', got {on_truncation!r}.",
                parameter="on_truncation",
            )
        self.on_truncation = on_truncation
        if not isinstance(mask_pii, bool):
            raise OctopodsValidationError(
                f"Invalid `mask_pii`: expected True or False, got {mask_pii!r}.", parameter="mask_pii"
            )
        self.mask_pii = mask_pii
        # Fail at DAG parse time for what is already known; templated values are checked at run time.
        if isinstance(destination, str) and not is_templated(destination):
            check_literal_destination(destination)
        if not is_templated(destination) and not is_templated(file_format):
            resolve_format(self._destination_name(), file_format)

    @cached_property
    def hook(self) -> OctopodsHook:
        from airflow_provider_octopods.hooks.octopods import OctopodsHook

        return OctopodsHook(octopods_conn_id=self.octopods_conn_id)

    def _destination_name(self) -> str:
        return self.destination if isinstance(self.destination, str) else str(self.destination)

    def _window(self, context: Context) -> Window:
        start = _as_utc(self.start, "start")
        end = _as_utc(self.end, "end")
        interval_start = _as_utc(context.get("data_interval_start"), "data_interval_start")
        interval_end = _as_utc(context.get("data_interval_end"), "data_interval_end")
        # A bound left out defaults to the run's data interval, when the run has a real one: manual
        # runs and schedule=None DAGs get a zero-width interval, which would select nothing.
        if interval_start is not None and interval_end is not None and interval_start < interval_end:
            start = interval_start if self.start is None else start
            end = interval_end if self.end is None else end
        if start is not None and end is not None and start >= end:
            raise OctopodsValidationError(
                f"Invalid window: `start` ({format_timestamp(start)}) must be before `end` "
                f"({format_timestamp(end)}).",
                parameter="start",
            )
        return Window(start, end)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_octopods.utils.atomic import write_atomically
        from airflow_provider_octopods.utils.records import to_record, write_records

        destination = resolve_destination(self.destination, self.storage_conn_id)
        file_format = resolve_format(destination.name, self.file_format)
        window = self._window(context)
        messages = self.hook.list_sent_messages(limit=api.LISTING_MAX_LIMIT)
        selected = self._select(messages, window)
        truncated = self._truncation_check(messages, window)
        exported_at = dt.datetime.now(dt.UTC)
        records = [
            to_record(message, exported_at=exported_at, mask_pii=self.mask_pii) for message in selected
        ]
        count = write_atomically(
            destination, lambda stream: write_records(stream, records, file_format, mask_pii=self.mask_pii)
        )
        self.log.info(
            "Exported %d of %d listed messages in %s to %s.",
            count,
            len(messages),
            window.describe(),
            destination,
        )
        return {
            "path": plain_uri(destination),
            "count": count,
            "window_start": format_timestamp(window.start),
            "window_end": format_timestamp(window.end),
            "truncated": truncated,
        }

    def _select(self, messages: list[SentMessage], window: Window) -> list[SentMessage]:
        undated = [message.message_id for message in messages if message.created_at is None]
        if undated and (window.start or window.end):
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
            if (
                message.created_at in window
                if message.created_at is not None
                else not (window.start or window.end)
            )
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
            "may be missing from this export. Schedule the export more often (for example hourly) so each "
            f"interval holds fewer than {api.LISTING_MAX_LIMIT} messages, and run it soon after the "
            "interval ends."
        )
        if self.on_truncation == "fail":
            raise OctopodsTruncatedExportError(message)
        self.log.warning(message)
        return True

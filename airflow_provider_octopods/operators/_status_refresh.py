"""
Read the statuses of captured messages again, so a compacted history holds final statuses.

A capture sees most messages minutes after they were sent, still SENT or DELIVERED. At night the
compaction reads every record whose status may still change (not READ, FAILED, UNDELIVERED or
DELETED) again: one listing request first (it holds the newest 100 messages with their current
status), then the status endpoint for the rest, concurrently on
:class:`~airflow_provider_octopods.hooks.octopods.OctopodsAsyncHook`: the shared aiohttp session of
the event loop and the per-key throttle, at most :data:`MAX_IN_FLIGHT` requests at once. A 429
pauses every request of the key until its retry time and never fails the task; a message the API no
longer knows (404) keeps the status captured; an auth error fails the task.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_octopods import api
from airflow_provider_octopods.exceptions import OctopodsNotFoundError
from airflow_provider_octopods.models import Channel, DeliveryStatus, format_timestamp

if TYPE_CHECKING:
    from airflow_provider_octopods.hooks.octopods import OctopodsAsyncHook
    from airflow_provider_octopods.hooks.triggerer_client import SharedSession
    from airflow_provider_octopods.models import MessageStatus, SentMessage

__all__ = ["MAX_IN_FLIGHT", "RefreshReport", "needs_refresh", "refresh_statuses"]

#: Status requests in flight at once (the key's throttle may hold them back further after a 429).
MAX_IN_FLIGHT = 16


@dataclass
class RefreshReport:
    """What a refresh did: how many records it read again, by which request, and the unknown ids."""

    from_listing: int = 0
    from_status: int = 0
    not_found: list[int] = field(default_factory=list)

    @property
    def refreshed(self) -> int:
        return self.from_listing + self.from_status


def needs_refresh(record: Mapping[str, Any]) -> bool:
    """Whether the record's status may still change (QUEUED, SENT, UNKNOWN or DELIVERED)."""
    return not DeliveryStatus.parse(record.get("status")).is_final


def _apply(record: dict[str, Any], fresh: SentMessage | MessageStatus, checked_at: dt.datetime) -> None:
    """Only the status fields change; the rest is what the capture saw."""
    record["status"] = fresh.status.value
    record["failure_code"] = fresh.failure_code
    record["failure_reason"] = fresh.failure_reason
    record["status_checked_at"] = format_timestamp(checked_at)


def refresh_statuses(records: list[dict[str, Any]], *, octopods_conn_id: str) -> RefreshReport:
    """Read the statuses of ``records`` (all WhatsApp, all not final) again, in place."""
    return asyncio.run(_refresh(records, octopods_conn_id))


async def _refresh(records: list[dict[str, Any]], octopods_conn_id: str) -> RefreshReport:
    from airflow_provider_octopods.hooks.octopods import OctopodsAsyncHook

    report = RefreshReport()
    if not records:
        return report
    hook = OctopodsAsyncHook(octopods_conn_id=octopods_conn_id)
    settings = await hook.get_settings()
    # 429s are waited out (they pause the whole key) and never count as failures.
    policy = api.RetryPolicy(max_retries=settings.max_retries, max_rate_limit_wait=None)
    async with hook.session() as shared:
        listing: list[SentMessage] = await hook.call(
            shared, api.listing_request(api.LISTING_MAX_LIMIT), policy=policy
        )
        listed_at = dt.datetime.now(dt.UTC)
        listed = {message.message_id: message for message in listing}
        rest = []
        for record in records:
            if (message := listed.get(record["message_id"])) is not None:
                _apply(record, message, listed_at)
                report.from_listing += 1
            else:
                rest.append(record)
        await _read_each(hook, shared, policy, rest, report)
    return report


async def _read_each(
    hook: OctopodsAsyncHook,
    shared: SharedSession,
    policy: api.RetryPolicy,
    records: list[dict[str, Any]],
    report: RefreshReport,
) -> None:
    """The status endpoint for each record, :data:`MAX_IN_FLIGHT` at a time; the first error ends all."""
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def read(record: dict[str, Any]) -> None:
        async with slots:
            request = api.status_request(record["message_id"], Channel.WHATSAPP)
            try:
                status: MessageStatus = await hook.call(shared, request, policy=policy)
            except OctopodsNotFoundError:
                report.not_found.append(record["message_id"])
                return
            _apply(record, status, dt.datetime.now(dt.UTC))
            report.from_status += 1

    try:
        async with asyncio.TaskGroup() as group:
            for record in records:
                group.create_task(read(record))
    except BaseExceptionGroup as failed:
        raise _first_error(failed) from None


def _first_error(group: BaseExceptionGroup[Any]) -> BaseException:
    """The first error of a task group (the others are the cancellations it caused)."""
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            return _first_error(error)
        if not isinstance(error, asyncio.CancelledError):
            return error
    return group.exceptions[0]

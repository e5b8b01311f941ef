"""
:class:`MessageStatusEventTrigger`: schedule DAGs when WhatsApp messages fail (Airflow 3 asset watchers).

An ``AssetWatcher`` runs this trigger in the triggerer; each event it yields becomes an asset event,
and the DAGs scheduled on the asset run. It polls the WhatsApp listing of one connection and yields
one event per poll that found messages, not reported before, in one of ``statuses``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable
from typing import Any

from airflow.providers.common.compat.triggers import BaseEventTrigger
from airflow.triggers.base import TriggerEvent

from airflow_provider_octopods import api
from airflow_provider_octopods.exceptions import OctopodsAuthError, OctopodsValidationError
from airflow_provider_octopods.models import DeliveryStatus, format_timestamp
from airflow_provider_octopods.triggers._listing_polls import ListingPoll, Watermark, listing_polls
from airflow_provider_octopods.triggers._watermark_store import WatermarkStore

__all__ = ["MessageStatusEventTrigger"]


class MessageStatusEventTrigger(BaseEventTrigger):
    """
    Fire when WhatsApp messages of one connection reach one of ``statuses`` (FAILED by default).

    For an ``AssetWatcher`` on Airflow 3: a DAG scheduled on the watched asset runs for each event,
    and reads the event from ``triggering_asset_events`` (``extra["payload"]``)::

        {"messages": [{"message_id", "status", "failure_code", "failure_reason", "created_at"}, ...],
         "gap": False, "polled_at": "2026-04-24T12:35:00Z"}

    No phone number and no message content: the payload lands in the metadata database; the DAG
    looks them up through :class:`~airflow_provider_octopods.hooks.octopods.OctopodsHook`.

    **Exactly what is new, once.** A message is reported once per trigger identity. The first poll
    after a trigger starts with no record is the baseline: what is already in ``statuses`` then is
    not reported (so a new watcher does not fire for old failures). On Airflow 3.3, where the
    triggerer gives event triggers an asset state store, the record lives there, so a triggerer
    restart neither repeats nor skips a message; the record is written before the event is yielded,
    so a crash between the two loses that event rather than sending, say, a remediation SMS twice.
    Before 3.3 the record is kept in memory: a restart starts a new baseline, and messages that
    failed while the triggerer was down are not reported. ``gap`` is true when the previous poll's
    newest message is no longer listed: at least 100 messages were sent in between, and a failure
    of one that already dropped out of the listing could not be seen.

    **It never ends.** A returning watcher trigger is restarted by the triggerer at once, so errors
    are absorbed: transient ones back off and poll again, a rejected key logs an error and polls every
    ten minutes. Polls are aligned to the clock, every ``poll_interval`` seconds, halved down to
    5 s while the listing fills fast (half of it new between two polls), so fewer messages drop out
    unseen.

    **Shared polls.** Watchers of the same connection and interval share one listing request per
    poll: on Airflow 3.3 through the triggerer's shared streams (one stream per connection and
    interval), and on every version through the key's listing feed in the triggerer, which the
    delivery waits of the key share too.

    :param octopods_conn_id: The ``octopods`` connection whose WhatsApp key is watched.
    :param statuses: The statuses that fire: any of the ``DeliveryStatus`` values, default FAILED.
    :param poll_interval: Seconds between two polls (at least 1; every poll is a request on the key).
    """

    def __init__(
        self,
        *,
        octopods_conn_id: str = api.DEFAULT_CONN_ID,
        statuses: list[str] | tuple[str, ...] = ("FAILED",),
        poll_interval: float = 60.0,
    ) -> None:
        super().__init__()
        self.octopods_conn_id = api.validate_conn_id(octopods_conn_id)
        self.statuses = _validate_statuses(statuses)
        self.poll_interval = api.validate_seconds(poll_interval, "poll_interval", minimum=1.0)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        # A fixed key order and normalised values: identical watchers hash equal and share one row.
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "octopods_conn_id": self.octopods_conn_id,
                "statuses": list(self.statuses),
                "poll_interval": self.poll_interval,
            },
        )

    # -- Airflow 3.3 shared streams: one poll per connection and interval for every subscriber --

    def shared_stream_key(self) -> Hashable:
        return ("octopods-whatsapp-listing", self.octopods_conn_id, self.poll_interval)

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[ListingPoll]:
        async for poll in listing_polls(kwargs["octopods_conn_id"], float(kwargs["poll_interval"])):
            yield poll

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This trigger's events from the shared polls: new messages in ``statuses``, once each."""
        store = WatermarkStore(getattr(self, "asset_state_store", None), self.log)
        watermark = Watermark.from_json(await store.load())
        async for poll in shared_stream:
            if poll.error is not None:
                self._log_error(poll)
                continue
            found, gap = watermark.advance(poll.messages, self.statuses)
            if gap:
                self.log.warning("The previous poll's newest message is no longer listed%s", _gap(gap))
            if not found:
                continue
            await store.save(watermark.to_json())
            self.log.info("%d new WhatsApp messages in %s%s.", len(found), "/".join(self.statuses), _gap(gap))
            yield TriggerEvent(
                {
                    "messages": [_reported(message) for message in found],
                    "gap": gap,
                    "polled_at": format_timestamp(poll.polled_at_utc),
                }
            )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """The same polls and filter without shared streams (Airflow < 3.3, tests): never returns."""
        async for event in self.filter_shared_stream(type(self).open_shared_stream(self.serialize()[1])):
            yield event

    def _log_error(self, poll: ListingPoll) -> None:
        if isinstance(poll.error, OctopodsAuthError | OctopodsValidationError):
            self.log.error(
                "Watching connection '%s' fails: %s Polling again in %.0f s.",
                self.octopods_conn_id,
                poll.error,
                poll.next_poll_in,
            )
        else:
            self.log.warning(
                "A poll of the WhatsApp listing failed (%s); again in %.0f s.", poll.error, poll.next_poll_in
            )


def _validate_statuses(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise OctopodsValidationError(
            f"Invalid `statuses`: expected a list of statuses such as ['FAILED'], got {value!r}.",
            parameter="statuses",
        )
    known = {status.value for status in DeliveryStatus}
    normalised = {str(item).strip().upper() for item in items}
    unknown = sorted(normalised - known)
    if unknown:
        raise OctopodsValidationError(
            f"Invalid `statuses`: {unknown} are not statuses; expected some of {sorted(known)}.",
            parameter="statuses",
        )
    return tuple(sorted(normalised))


def _reported(message: Any) -> dict[str, Any]:
    """What an event says of one message: no phone number, no content."""
    return {
        "message_id": message.message_id,
        "status": message.status.value,
        "failure_code": message.failure_code,
        "failure_reason": message.failure_reason,
        "created_at": format_timestamp(message.created_at),
    }


def _gap(gap: bool) -> str:
    return (
        " (at least 100 messages were sent since the previous poll: some may not have been seen)"
        if gap
        else ""
    )

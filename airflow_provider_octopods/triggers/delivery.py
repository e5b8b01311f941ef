"""The trigger behind :class:`~airflow_provider_octopods.sensors.delivery.MessageDeliverySensor`."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_octopods import api
from airflow_provider_octopods.delivery import (
    LISTING_POLICY,
    DeliveryEvent,
    EventStatus,
    Outcome,
    Verdict,
    channel_name,
    describe_pending,
    jittered,
    judge,
    lacks_failure_code,
    outcome_of,
    unknown_recheck_after,
    validate_allowed_failures,
    validate_target,
)
from airflow_provider_octopods.exceptions import OctopodsError
from airflow_provider_octopods.models import Channel, DeliveryStatus, MessageStatus

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from airflow_provider_octopods.hooks.listing_feed import ListingFeed
    from airflow_provider_octopods.hooks.octopods import OctopodsAsyncHook
    from airflow_provider_octopods.hooks.triggerer_client import SharedSession
    from airflow_provider_octopods.models import SentMessage

__all__ = ["MessageDeliveryTrigger"]

#: What :meth:`MessageDeliveryTrigger._from_listing` returns besides a status.
_NOT_LISTED = object()
_ON_ITS_OWN = object()


def _settles(status: MessageStatus, *, target: DeliveryStatus) -> bool:
    return outcome_of(status.status, target) is not Outcome.PENDING


class MessageDeliveryTrigger(BaseTrigger):
    """
    Wait in the triggerer until one or many Octopods messages reach a delivery status.

    It yields exactly one event (see :class:`~airflow_provider_octopods.delivery.DeliveryEvent`):
    ``success`` when every message reached the target (up to ``allowed_failures`` may fail instead),
    ``failure`` as soon as more than ``allowed_failures`` failed, ``timeout`` at ``deadline``, and
    ``error`` for what waiting cannot fix (unknown id, rejected key, Octopods unreachable still after
    the connection's retries).

    Polling follows the Octopods docs: the first poll comes ``first_poll_after`` seconds in (the
    sensor has just checked), then the interval doubles while a message is pending, up to
    ``poll_interval``; after UNKNOWN it waits 10 to 30 s. A 429 pauses every request of the same key
    in this triggerer until the retry time. All requests share the process's aiohttp session, and at
    most ``max_in_flight`` of this trigger's requests run at once.

    **WhatsApp waits read the listing first** (``use_listing``): at each poll a message's status comes
    from the key's shared :class:`~airflow_provider_octopods.hooks.listing_feed.ListingFeed`, one
    request for the newest 100 messages of every wait of the key in this triggerer, and any listing
    that shows a message settled ends its wait at once. A message the listing does not show (older
    than its newest 100) is polled on its own from then on; a poll whose listing request failed is
    made on its own; a FAILED message whose listing entry lacks the failure code is read once on its
    own, so the failure carries the code. Outcomes, events and deadlines are those of per-message
    polling; a status read from the listing has no ``status_message``, ``channel_message_id`` or
    ``last_updated`` (the listing does not carry them).

    The deadline is an absolute wall-clock time (epoch seconds) fixed when the sensor first ran, so a
    triggerer restart, which rebuilds this trigger from :meth:`serialize`, never extends the wait.
    Kwargs are JSON-native and hold the connection id, never a key.

    :param message_ids: The Octopods message ids to wait for.
    :param channel: ``"whatsapp"`` or ``"sms"``.
    :param target_status: ``"DELIVERED"`` or ``"READ"`` (WhatsApp only).
    :param allowed_failures: How many messages may fail without failing the wait.
    :param octopods_conn_id: The ``octopods`` connection.
    :param deadline: Epoch seconds at which the wait times out.
    :param poll_interval: Longest pause between two polls of one message, in seconds.
    :param first_poll_after: Pause before the first poll, in seconds.
    :param max_in_flight: Most concurrent requests of this trigger.
    :param use_listing: Read WhatsApp statuses from the shared listing first (default); False polls
        every message on its own.
    """

    def __init__(
        self,
        *,
        message_ids: list[int],
        deadline: float,
        channel: str = "whatsapp",
        target_status: str = "DELIVERED",
        allowed_failures: int = 0,
        octopods_conn_id: str = api.DEFAULT_CONN_ID,
        poll_interval: float = 30.0,
        first_poll_after: float = 3.0,
        max_in_flight: int = 16,
        use_listing: bool = True,
    ) -> None:
        super().__init__()
        self.message_ids, _ = api.parse_message_ids(message_ids, "message_ids")
        self.channel = api.validate_channel(channel)
        self.target_status = validate_target(target_status, self.channel)
        self.allowed_failures = validate_allowed_failures(allowed_failures)
        self.octopods_conn_id = api.validate_conn_id(octopods_conn_id)
        self.deadline = api.validate_seconds(deadline, "deadline")
        self.poll_interval = api.validate_seconds(poll_interval, "poll_interval", inclusive=False)
        self.first_poll_after = api.validate_seconds(first_poll_after, "first_poll_after")
        self.max_in_flight = api.validate_count(
            max_in_flight, "max_in_flight", minimum=1, what="a number of concurrent requests"
        )
        self.use_listing = api.validate_flag(use_listing, "use_listing")

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "message_ids": list(self.message_ids),
                "deadline": self.deadline,
                "channel": self.channel.value,
                "target_status": self.target_status.value,
                "allowed_failures": self.allowed_failures,
                "octopods_conn_id": self.octopods_conn_id,
                "poll_interval": self.poll_interval,
                "first_poll_after": self.first_poll_after,
                "max_in_flight": self.max_in_flight,
                # Only when off: rows written before the listing existed rebuild unchanged.
                **({} if self.use_listing else {"use_listing": False}),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            event = await self._wait()
        except OctopodsError as error:
            event = DeliveryEvent(EventStatus.ERROR, error.message, error=error.to_event())
        except Exception as error:  # a bug must end the wait with an event, not kill the triggerer loop
            self.log.exception("Unexpected error while waiting for Octopods messages")
            event = DeliveryEvent(
                EventStatus.ERROR,
                f"Unexpected {type(error).__name__} while waiting for delivery.",
                error={"type": type(error).__name__},  # not one of ours: raised as an OctopodsError
            )
        yield TriggerEvent(event.to_payload())

    async def _wait(self) -> DeliveryEvent:
        from airflow_provider_octopods.hooks.octopods import OctopodsAsyncHook

        hook = OctopodsAsyncHook(octopods_conn_id=self.octopods_conn_id)
        settings = await hook.get_settings()
        settings.key_for(self.channel)  # a missing key ends the wait now, not at the first poll
        statuses: dict[int, MessageStatus] = {}
        remaining = self.deadline - time.time()
        if remaining <= 0:
            return self._timeout_event(statuses)
        async with hook.session() as shared:
            try:
                async with asyncio.timeout(remaining):
                    verdict = await self._poll_until_settled(hook, shared, settings, statuses)
            except TimeoutError:
                return self._timeout_event(statuses)
        return self._verdict_event(verdict, statuses)

    async def _poll_until_settled(
        self,
        hook: OctopodsAsyncHook,
        shared: SharedSession,
        settings: api.ConnectionSettings,
        statuses: dict[int, MessageStatus],
    ) -> Verdict:
        in_flight = asyncio.Semaphore(self.max_in_flight)
        feed = self._listing_feed(hook, shared, settings)
        # Each watcher reports how its message ended (or the error that stopped it) here, so the
        # wait is judged as outcomes arrive, in constant time per message, even for thousands of ids.
        endings: asyncio.Queue[Outcome | Exception] = asyncio.Queue()

        async def poll(message_id: int) -> MessageStatus:
            async with in_flight:
                return await hook.get_message_status(shared, message_id, self.channel.value)

        async def watch(message_id: int) -> None:
            try:
                endings.put_nowait(await self._watch(message_id, poll, feed, in_flight, statuses))
            except Exception as error:  # CancelledError is not an Exception: it propagates
                endings.put_nowait(error)

        if feed is not None:  # all at once, so the first poll already knows the feed serves several
            for message_id in self.message_ids:
                feed.register(message_id)
        watchers = [asyncio.create_task(watch(message_id)) for message_id in self.message_ids]
        try:
            failures = 0
            for _ in self.message_ids:
                ending = await endings.get()
                if isinstance(ending, Exception):
                    raise ending  # an error, or the wall-clock deadline
                if ending is Outcome.FAILED:
                    failures += 1
                if failures > self.allowed_failures:
                    break  # no point waiting for the rest
            return judge(self.message_ids, statuses, self.target_status, self.allowed_failures)
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)

    async def _watch(
        self,
        message_id: int,
        poll: Callable[[int], Awaitable[MessageStatus]],
        feed: ListingFeed | None,
        in_flight: asyncio.Semaphore,
        statuses: dict[int, MessageStatus],
    ) -> Outcome:
        """
        One message's polls, on the docs' schedule, until it is settled (or the deadline passes).
        Registered with the feed by the caller; unregistered here when the watch ends.
        """
        try:
            interval = self.first_poll_after
            after_unknown = False
            listed = feed is not None
            while True:
                pause = jittered(interval, after_unknown=after_unknown)
                status: MessageStatus | None = None
                if feed is not None and listed and feed.shared:
                    found = await self._from_listing(feed, message_id, pause, interval, in_flight)
                    listed = found is not _NOT_LISTED  # older than the newest 100: on its own now
                    status = found if isinstance(found, MessageStatus) else None
                else:
                    await asyncio.sleep(pause)
                if time.time() >= self.deadline:  # wall clock, which a suspended host also moves
                    raise TimeoutError
                if status is None or lacks_failure_code(status):
                    status = await poll(message_id)
                self._record(statuses, status)
                outcome = outcome_of(status.status, self.target_status)
                if outcome is not Outcome.PENDING:
                    return outcome
                interval = self._next_interval(interval, status.status)
                after_unknown = status.status is DeliveryStatus.UNKNOWN
        finally:
            if feed is not None:
                feed.unregister(message_id)

    def _listing_feed(
        self, hook: OctopodsAsyncHook, shared: SharedSession, settings: api.ConnectionSettings
    ) -> ListingFeed | None:
        """The key's shared listing feed, for a WhatsApp wait that uses it."""
        if not self.use_listing or self.channel is not Channel.WHATSAPP:
            return None
        request = api.listing_request(api.LISTING_MAX_LIMIT)

        async def fetch() -> list[SentMessage]:
            return await hook.call(shared, request, policy=LISTING_POLICY)  # type: ignore[no-any-return]

        return shared.listing_feed(settings.fingerprint_for(Channel.WHATSAPP), fetch)

    async def _from_listing(
        self,
        feed: ListingFeed,
        message_id: int,
        pause: float,
        interval: float,
        in_flight: asyncio.Semaphore,
    ) -> MessageStatus | object:
        """
        The status the listing shows at this poll, waiting up to ``pause``; a listing that shows the
        message settled before then ends the wait early. Returns ``_NOT_LISTED`` when a fresh listing
        does not show it, ``_ON_ITS_OWN`` when this poll is made on its own: the listing request
        failed, or the feed serves no other id now.
        """
        settles = partial(_settles, target=self.target_status)
        try:
            return await asyncio.wait_for(feed.watch(message_id, settles), timeout=pause)
        except TimeoutError:
            pass
        if not feed.shared:
            return _ON_ITS_OWN  # a lone wait (or a listing that fails for good): poll on its own
        # A listing from within the last tenth of the interval is as fresh as this poll's own jitter.
        async with in_flight:
            snapshot = await feed.snapshot(fresh_since=time.time() - 0.1 * interval)
        if not snapshot.ok:
            return _ON_ITS_OWN
        return snapshot.statuses.get(message_id, _NOT_LISTED)

    def _next_interval(self, interval: float, status: DeliveryStatus) -> float:
        if status is DeliveryStatus.UNKNOWN:
            return unknown_recheck_after(self.poll_interval)
        return min(self.poll_interval, max(interval, 1.0) * 2)

    def _record(self, statuses: dict[int, MessageStatus], status: MessageStatus) -> None:
        """
        Keep the latest status; log a line when it changes, not on every poll.

        A first sight of a still-pending message is not logged: the sensor's line before deferring
        already named the pending ids, and a triggerer holding thousands of waits would otherwise
        log each of them once more to say nothing has happened yet.
        """
        previous = statuses.get(status.message_id)
        statuses[status.message_id] = status
        if previous is None and outcome_of(status.status, self.target_status) is Outcome.PENDING:
            return
        if previous is None or previous.status is not status.status:
            self.log.info(
                "%s message %s is %s%s",
                channel_name(self.channel),
                status.message_id,
                status.status.value,
                f" (was {previous.status.value})" if previous else "",
            )

    def _results(self, statuses: dict[int, MessageStatus]) -> list[dict[str, Any]]:
        return [statuses[message_id].to_dict() for message_id in self.message_ids if message_id in statuses]

    def _verdict_event(self, verdict: Verdict, statuses: dict[int, MessageStatus]) -> DeliveryEvent:
        if verdict.succeeded:
            tolerated = f" ({len(verdict.failed)} failed, within allowed_failures)" if verdict.failed else ""
            return DeliveryEvent(
                EventStatus.SUCCESS,
                f"{len(verdict.reached)} of {len(self.message_ids)} messages reached "
                f"{self.target_status.value}{tolerated}.",
                results=self._results(statuses),
            )
        return DeliveryEvent(
            EventStatus.FAILURE,
            verdict.failure_summary(),
            results=self._results(statuses),
            pending=verdict.pending,
        )

    def _timeout_event(self, statuses: dict[int, MessageStatus]) -> DeliveryEvent:
        verdict = judge(self.message_ids, statuses, self.target_status, self.allowed_failures)
        return DeliveryEvent(
            EventStatus.TIMEOUT,
            f"Timed out waiting for {len(verdict.pending)} of {len(self.message_ids)} messages to reach "
            f"{self.target_status.value}: {describe_pending(verdict.pending, statuses)}.",
            results=self._results(statuses),
            pending=verdict.pending,
        )

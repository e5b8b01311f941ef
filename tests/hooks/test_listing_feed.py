"""ListingFeed on its own: shared requests, their pace, freshness, early settlement, failures."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from airflow_provider_octopods.exceptions import (
    OctopodsApiError,
    OctopodsNotFoundError,
    OctopodsRateLimitError,
    OctopodsServerError,
)
from airflow_provider_octopods.hooks import listing_feed
from airflow_provider_octopods.hooks.listing_feed import ListingFeed
from airflow_provider_octopods.models import Channel, DeliveryStatus, SentMessage


def message(message_id: int, status: str, **fields: object) -> SentMessage:
    return SentMessage(
        message_id=message_id,
        channel=Channel.WHATSAPP,
        phone_number="+14155552671",
        created_at=dt.datetime(2026, 4, 24, tzinfo=dt.UTC),
        message_content=None,
        status=DeliveryStatus(status),
        **fields,  # type: ignore[arg-type]
    )


class FakeListing:
    """The listing endpoint: answers in turn, counts requests and how many were in flight at once."""

    def __init__(self, *answers: list[SentMessage] | Exception, delay: float = 0.05) -> None:
        self.answers = list(answers)
        self.delay = delay
        self.started: list[float] = []
        self.in_flight = self.max_in_flight = 0

    async def __call__(self) -> list[SentMessage]:
        self.started.append(time.time())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
            if isinstance(answer, Exception):
                raise answer
            return answer
        finally:
            self.in_flight -= 1


@pytest.mark.asyncio
async def test_concurrent_askers_share_one_request() -> None:
    fake = FakeListing([message(1, "DELIVERED"), message(2, "SENT")])
    feed = ListingFeed(fake)
    now = time.time()
    snapshots = await asyncio.gather(*(feed.snapshot(fresh_since=now) for _ in range(50)))
    assert len(fake.started) == 1
    assert all(snapshot is snapshots[0] for snapshot in snapshots)
    assert snapshots[0].ok
    assert snapshots[0].statuses[1].status is DeliveryStatus.DELIVERED


@pytest.mark.asyncio
async def test_a_fresh_enough_snapshot_is_reused_and_requests_are_a_second_apart() -> None:
    fake = FakeListing([message(1, "SENT")], delay=0.0)
    feed = ListingFeed(fake)
    first = await feed.snapshot(fresh_since=time.time())
    again = await feed.snapshot(fresh_since=time.time() - 5)  # the first one is fresh enough
    assert first is again
    assert len(fake.started) == 1
    await feed.snapshot(fresh_since=time.time())  # needs a newer one: waits out the second
    assert len(fake.started) == 2
    assert fake.started[1] - fake.started[0] >= listing_feed.MIN_FETCH_INTERVAL - 0.01
    assert fake.max_in_flight == 1


@pytest.mark.asyncio
async def test_a_failed_request_answers_none_and_passing_trouble_is_asked_again() -> None:
    limited = OctopodsRateLimitError("429", retry_at=dt.datetime.now(dt.UTC))
    fake = FakeListing(OctopodsServerError("503", status_code=503), limited, [message(1, "READ")], delay=0.0)
    feed = ListingFeed(fake)
    feed.register(1)
    feed.register(2)
    failed = await feed.snapshot(fresh_since=time.time())
    assert not failed.ok
    assert isinstance(failed.error, OctopodsServerError)
    assert failed.statuses == {}
    assert feed.shared  # a 5xx passes: the next poll asks again
    assert not (await feed.snapshot(fresh_since=time.time())).ok
    assert feed.shared  # so does a 429 (the key's throttle holds requests back)
    snapshot = await feed.snapshot(fresh_since=time.time())
    assert snapshot.ok
    assert snapshot.statuses[1].status is DeliveryStatus.READ


@pytest.mark.parametrize(
    "error", [OctopodsNotFoundError("404", status_code=404), OctopodsApiError("403", status_code=403)]
)
@pytest.mark.asyncio
async def test_a_listing_that_fails_for_good_is_not_asked_for_a_while(error: Exception) -> None:
    fake = FakeListing(error, delay=0.0)
    feed = ListingFeed(fake)
    feed.register(1)
    feed.register(2)
    assert feed.shared
    assert not (await feed.snapshot(fresh_since=time.time())).ok
    assert not feed.shared  # its waits poll each message meanwhile


@pytest.mark.asyncio
async def test_a_lone_wait_is_not_served_by_the_listing() -> None:
    feed = ListingFeed(FakeListing([]))
    feed.register(1)
    assert not feed.shared  # one id: a status request costs the same and says more
    feed.register(2)
    assert feed.shared
    feed.unregister(2)
    assert not feed.shared


@pytest.mark.asyncio
async def test_a_watch_is_settled_by_whichever_wait_fetched_the_listing() -> None:
    fake = FakeListing([message(1, "SENT"), message(2, "DELIVERED")], delay=0.0)
    feed = ListingFeed(fake)
    settled_only = feed.watch(2, lambda status: status.status is DeliveryStatus.DELIVERED)
    still_pending = feed.watch(1, lambda status: status.status is DeliveryStatus.DELIVERED)
    await feed.snapshot(fresh_since=time.time())  # another wait's poll
    assert settled_only.done()
    assert settled_only.result().status is DeliveryStatus.DELIVERED
    assert not still_pending.done()
    still_pending.cancel()
    await asyncio.sleep(0)
    assert feed.watching == 0  # a cancelled or settled watch is forgotten


@pytest.mark.asyncio
async def test_statuses_keep_the_listing_failure_fields() -> None:
    failed = message(5, "FAILED", failure_code=470, failure_reason="Re-engagement window expired")
    feed = ListingFeed(FakeListing([failed], delay=0.0))
    snapshot = await feed.snapshot(fresh_since=time.time())
    status = snapshot.statuses[5]
    assert (status.failure_code, status.failure_reason) == (470, "Re-engagement window expired")
    assert status.status_message is None  # the listing carries no status text

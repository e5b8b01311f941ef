"""1,000 triggers on one key against a simulator limited to 50 requests/s: no thundering herd."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_octopods.triggers.delivery import MessageDeliveryTrigger

if TYPE_CHECKING:
    from airflow_provider_octopods.testing import SimulatorHandle

LIMIT = 50  # requests per second the simulator accepts on a key
WAITS = 1000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.octopods_simulator(
        rate_limit=float(LIMIT), rate_burst=LIMIT, deliver_after=1.0, jitter=0.9, read_after=None
    ),
]


async def run_fleet(ids: list[int]) -> list[dict[str, Any]]:
    """Run one trigger per id in one event loop, as a triggerer does, each rebuilt from serialize()."""
    triggers = []
    for message_id in ids:
        trigger = MessageDeliveryTrigger(
            message_ids=[message_id], deadline=time.time() + 240, poll_interval=5.0, first_poll_after=3.0
        )
        _, kwargs = trigger.serialize()
        triggers.append(MessageDeliveryTrigger(**json.loads(json.dumps(kwargs))))

    async def first_event(trigger: MessageDeliveryTrigger) -> dict[str, Any]:
        return (await anext(trigger.run())).payload

    return await asyncio.gather(*(first_event(trigger) for trigger in triggers))


def test_a_thousand_waits_under_a_rate_limit(simulator: SimulatorHandle) -> None:
    # Numbers ending in 99: no recipient rule (0001, 0470, 0007, ...) applies to them.
    ids = simulator.add_messages([{"phone": f"+1415{n:05d}99"} for n in range(WAITS)])
    started = time.time()
    events = asyncio.run(run_fleet(ids))
    elapsed = time.time() - started

    # Every wait reached its right outcome.
    assert [event["status"] for event in events] == ["success"] * WAITS
    assert {event["results"][0]["status"] for event in events} == {"DELIVERED"}
    assert sorted(event["results"][0]["message_id"] for event in events) == sorted(ids)

    stats = simulator.stats(messages=False)
    timeline = stats["timeline"]
    first_429 = timeline["first_rate_limited_at"]
    assert first_429 is not None, "the fleet should have met the rate limit"
    per_second = {int(second): n for second, n in timeline["requests_per_second"].items()}
    limited = {int(second): n for second, n in timeline["rate_limited_per_second"].items()}
    # The second of the first 429 still carries the requests that were already in flight, and the
    # next one the pause; from then on the fleet must stay within the limit.
    settled = [second for second in per_second if second >= int(first_429) + 2]
    worst = max((per_second[second] for second in settled), default=0)
    later_429s = sum(n for second, n in limited.items() if second >= int(first_429) + 2)
    print(
        f"\n{WAITS} waits in {elapsed:.1f} s; {stats['requests_total']} requests, "
        f"{stats['rate_limited']} 429s "
        f"({later_429s} after the first two seconds); busiest later second: {worst} requests (limit {LIMIT})"
    )
    assert worst <= LIMIT, f"after the first 429 the fleet sent {worst} requests in one second"
    assert later_429s <= WAITS * 0.02, f"{later_429s} more 429s: the fleet kept hitting the limit"

"""1,000 concurrent keep-alive clients polling on loopback, the load benchmarks and DAG tests put on it."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from airflow_provider_octopods.simulator import OctopodsSimulator

CLIENTS = 1000
POLLS = 3


async def _poll_all(base_url: str, key: str, message_id: int) -> list[int]:
    connector = aiohttp.TCPConnector(limit=CLIENTS, force_close=False)
    statuses: list[int] = []
    async with aiohttp.ClientSession(connector=connector, headers={"X-Octopods-Auth": key}) as session:
        url = f"{base_url}/api/v1/whatsapp/messages/{message_id}"
        start = asyncio.Event()

        async def client() -> None:
            await start.wait()
            for _ in range(POLLS):
                async with session.get(url) as response:
                    await response.read()
                    statuses.append(response.status)

        tasks = [asyncio.create_task(client()) for _ in range(CLIENTS)]
        await asyncio.sleep(0)
        start.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    return statuses


@pytest.mark.timeout(90)
def test_thousand_concurrent_keep_alive_clients() -> None:
    with OctopodsSimulator(seed=1) as sim:
        message_id = sim.admin.add_message("+14155552671", status="DELIVERED")
        sim.admin.reset_stats()
        statuses = asyncio.run(_poll_all(sim.base_url, sim.whatsapp_api_key, message_id))
        stats = sim.admin.stats(messages=False)
    assert statuses == [200] * (CLIENTS * POLLS)
    assert stats["requests_by_route"] == {"whatsapp.status": CLIENTS * POLLS}
    # every client opened its own connection once and reused it (plus the stats call's connection)
    assert stats["connections"]["accepted"] == CLIENTS + 1

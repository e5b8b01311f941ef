"""
Where an event trigger keeps its record of what it reported: Airflow 3.3's asset state store when the
triggerer provides one, else memory (so a restart starts a new baseline).
"""

from __future__ import annotations

import asyncio
from typing import Any

#: The key of the record in the asset state store.
KEY = "octopods_reported"


class WatermarkStore:
    """
    The asset state store the triggerer injected (``asset_state_store``), or nothing.

    Its async methods exist from Airflow 3.3.2; 3.3.0 and 3.3.1 have only the blocking ones, which
    run in a thread here, as the amazon provider's Kinesis trigger does. A trigger that watches
    several assets (identical watchers on different assets share one trigger) cannot pick one store:
    it keeps its record in memory then, and says so once.
    """

    def __init__(self, store: Any, log: Any) -> None:
        self._store = store
        self._log = log

    async def load(self) -> Any:
        if self._store is None:
            return None
        try:
            if hasattr(self._store, "aget"):
                return await self._store.aget(KEY, default=None)
            return await asyncio.to_thread(self._store.get, KEY, None)
        except ValueError:  # several watched assets: no single store to read
            self._give_up()
            return None

    async def save(self, value: dict[str, Any]) -> None:
        if self._store is None:
            return
        try:
            if hasattr(self._store, "aset"):
                await self._store.aset(KEY, value)
            else:
                await asyncio.to_thread(self._store.set, KEY, value)
        except ValueError:
            self._give_up()

    def _give_up(self) -> None:
        self._log.warning(
            "This watcher's trigger is shared by several assets, so its record of reported messages is "
            "kept in memory: a triggerer restart starts a new baseline."
        )
        self._store = None

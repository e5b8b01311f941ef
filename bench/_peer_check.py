"""The response check of the peer benchmark (``HttpEventTrigger``): is the message delivered yet?

``HttpEventTrigger`` imports (and re-imports) this module by its dotted path on every poll, so it
is kept to the bare minimum.
"""

from __future__ import annotations

from typing import Any

REACHED = frozenset({"DELIVERED", "READ", "DELETED"})


async def delivered(response: Any) -> bool:
    """True once the Octopods status endpoint reports DELIVERED (or READ, or DELETED)."""
    return str(response.json().get("status", "")).upper() in REACHED


def delivered_sync(response: Any) -> bool:
    """The same check for ``HttpSensor`` (poke mode), which calls it synchronously."""
    return str(response.json().get("status", "")).upper() in REACHED

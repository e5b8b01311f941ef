"""How a seeded message moves: the progression fields shared by admin seeding and traffic.

``POST /_simulator/messages`` and ``POST /_simulator/traffic`` take the same fields for this, so
they are read in one place: at most one of ``script``, ``steps``, ``history`` or ``status``; with
none, ``progression`` picks the recipient rules (the default) or the channel's default path.
``failure_reason``/``failure_code`` give the failure of a failed status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .clock import parse_timestamp
from .rules import default_steps, steps_from
from .state import Entry, ScriptItem
from .statuses import Failure, Status

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .statuses import Channel

#: The fields :func:`progression_kwargs` reads.
PROGRESSION_FIELDS = frozenset(
    {"script", "steps", "history", "status", "progression", "failure_reason", "failure_code"}
)


def failure_from(data: Mapping[str, Any]) -> Failure | None:
    """``failure_reason`` (text or ``{code, title}``) and ``failure_code`` of an admin object."""
    return Failure.from_fields(data.get("failure_reason"), data.get("failure_code"))


def _history(values: object) -> list[Entry]:
    if not isinstance(values, list):
        raise ValueError("history is a list of {status, at} objects")
    entries = [
        Entry(Status.parse(str(item["status"])), parse_timestamp(item["at"]), failure_from(item))
        for item in values
    ]
    if not entries:
        raise ValueError("history needs at least one entry")
    return entries


def progression_kwargs(data: Mapping[str, Any], channel: Channel) -> dict[str, Any]:
    """Keyword arguments for :meth:`~.core.SimulatorCore.create_message` that set the progression.

    Raises ``ValueError`` (a 400 on the admin API) for conflicting or malformed fields.
    """
    chosen = [name for name in ("script", "steps", "history", "status") if data.get(name) is not None]
    if len(chosen) > 1:
        raise ValueError(f"give at most one of script, steps, history, status (got {', '.join(chosen)})")
    kwargs: dict[str, Any] = {"failure": failure_from(data)}
    if data.get("script") is not None:
        items = [ScriptItem.from_value(v) for v in data["script"]]
        if not items:
            raise ValueError("script needs at least one status")
        kwargs["script"] = items
    elif data.get("steps") is not None:
        kwargs["steps"] = steps_from(data["steps"])
    elif data.get("history") is not None:
        kwargs["history"] = _history(data["history"])
    elif data.get("status") is not None:
        kwargs["status"] = Status.parse(str(data["status"]))
    else:
        progression = str(data.get("progression", "rules"))
        if progression == "default":
            kwargs["steps"] = default_steps(channel)
        elif progression != "rules":
            raise ValueError("progression is 'rules' (recipient rules, the default) or 'default'")
    return kwargs

"""
The manifest beside each exported file: ``<destination>.manifest.json``, what the export saw.

A compaction cannot tell from the records alone which stretch of time a partition covers: an empty
file may mean "no messages" or "the listing did not reach back". The manifest says it: the window
asked for, whether the 100-message listing was cut (``truncated``), how far back it reached
(``oldest_listed``), and when it ran (``exported_at``), plus which connection and API host it came
from, so partitions of two accounts are never mixed. It never holds a key.

The manifest is written atomically *after* the data file, and the previous one is removed *before*
the data file is replaced, so a manifest always describes the file beside it: a crash in between
leaves a data file without a manifest, which a compaction refuses to use.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_octopods.models import format_timestamp, parse_timestamp
from airflow_provider_octopods.utils.destinations import FORMATS

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_SUFFIX",
    "Manifest",
    "ManifestError",
    "api_host",
    "manifest_path",
    "remove_manifest",
    "write_manifest",
]

FORMAT_VERSION = 1
MANIFEST_SUFFIX = ".manifest.json"


class ManifestError(ValueError):
    """A manifest that cannot be read (the caller names the object)."""


def api_host(base_url: str) -> str:
    """``host[:port]`` of a connection's base URL: which API a partition came from (never userinfo)."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def manifest_path(destination: ObjectStoragePath) -> ObjectStoragePath:
    """``<destination>.manifest.json``, beside the data file."""
    return destination.parent / f"{destination.name}{MANIFEST_SUFFIX}"


@dataclass(frozen=True)
class Manifest:
    """
    What one export saw. Times are ISO 8601 UTC strings (``None`` when unknown or unbounded).

    :param window_start: The export window's start, or None (unbounded).
    :param window_end: The export window's end (exclusive), or None (unbounded: up to the export).
    :param count: Records in the data file.
    :param truncated: Whether the 100-message listing may have cut older messages of the window.
    :param oldest_listed: ``created_at`` of the oldest record the listing returned (any window).
    :param newest_listed: ``created_at`` of the newest record the listing returned.
    :param exported_at: When the listing was read: nothing created later can be in the file.
    :param file_format: ``jsonl``, ``csv`` or ``parquet``.
    :param octopods_conn_id: The Airflow connection the listing was read through.
    :param api_host: ``host[:port]`` of that connection's base URL.
    """

    window_start: str | None
    window_end: str | None
    count: int
    truncated: bool
    oldest_listed: str | None
    newest_listed: str | None
    exported_at: str
    file_format: str
    octopods_conn_id: str
    api_host: str
    format_version: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        data = asdict(self)
        ordered = {"format_version": data.pop("format_version"), **data}
        return (json.dumps(ordered, indent=2) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """Read and check a manifest; any problem is a :class:`ManifestError` saying what is wrong."""
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise ManifestError(f"not JSON ({error})") from None
        if not isinstance(data, dict):
            raise ManifestError("not a JSON object")
        if data.get("format_version") != FORMAT_VERSION:
            raise ManifestError(
                f"format_version {data.get('format_version')!r} is not {FORMAT_VERSION}, the one this "
                "provider reads"
            )
        return cls(
            window_start=_time(data, "window_start"),
            window_end=_time(data, "window_end"),
            count=_typed(data, "count", int),
            truncated=_typed(data, "truncated", bool),
            oldest_listed=_time(data, "oldest_listed"),
            newest_listed=_time(data, "newest_listed"),
            exported_at=_time(data, "exported_at", required=True) or "",
            file_format=_choice(data, "file_format"),
            octopods_conn_id=_typed(data, "octopods_conn_id", str),
            api_host=_typed(data, "api_host", str),
        )

    def moment(self, name: str) -> dt.datetime | None:
        """A time field as an aware datetime."""
        return parse_timestamp(getattr(self, name))


def _typed(data: dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ManifestError(f"`{name}` is {value!r}, expected {kind.__name__}")
    return value


def _time(data: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    moment = parse_timestamp(value) if isinstance(value, str) else None
    if moment is None:
        expected = "an ISO 8601 time" if required else "an ISO 8601 time or null"
        raise ManifestError(f"`{name}` is {value!r}, expected {expected}")
    return format_timestamp(moment)


def _choice(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value not in FORMATS:
        raise ManifestError(f"`{name}` is {value!r}, expected one of {', '.join(FORMATS)}")
    return str(value)


def write_manifest(destination: ObjectStoragePath, manifest: Manifest) -> None:
    """Write the manifest of ``destination`` atomically (after the data file is in place)."""
    from airflow_provider_octopods.utils.atomic import write_atomically

    body = manifest.to_json()
    write_atomically(manifest_path(destination), lambda stream: stream.write(body))


def remove_manifest(destination: ObjectStoragePath) -> None:
    """
    Drop the manifest of the previous file at ``destination`` before that file is replaced, so no
    manifest ever describes a file it was not written for.
    """
    path = manifest_path(destination)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()

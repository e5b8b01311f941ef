"""
The capture partitions under a source: each data file paired with its manifest.

A source is a folder (walked recursively) or a prefix (every file and folder of the parent whose
name starts with it). Under it:

* ``<name>.manifest.json`` beside ``<name>`` makes a partition;
* a data file of a known format (``.jsonl``, ``.csv``, ``.parquet``, optionally ``.gz``) without a
  manifest, or a manifest without its data file, is *unpaired*: it covers nothing and is never used
  (an export killed between its two writes leaves such a file);
* temporary siblings of an interrupted write (``.<name>.octopods-tmp-*``) and any other file are
  ignored.

Partitions are listed in path order, so "the first partition" is the same on every run.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_octopods.exceptions import OctopodsPartitionError
from airflow_provider_octopods.utils.atomic import TEMP_MARKER
from airflow_provider_octopods.utils.destinations import format_of_name, uri_of
from airflow_provider_octopods.utils.manifest import MANIFEST_SUFFIX, Manifest, ManifestError
from airflow_provider_octopods.utils.windows import Window

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

__all__ = ["Discovery", "Partition", "check_same_origin", "discover"]


@dataclass(frozen=True)
class Partition:
    """
    One exported file and what its manifest says about it.

    :param uri: The data file's plain URI (what messages and logs name).
    :param location: The data file's path on its filesystem (as fsspec spells it).
    :param manifest: The manifest beside it.
    """

    uri: str
    location: str
    manifest: Manifest

    @property
    def window(self) -> Window:
        return Window(self.manifest.moment("window_start"), self.manifest.moment("window_end"))

    @property
    def gzipped(self) -> bool:
        return self.location.lower().endswith(".gz")


@dataclass
class Discovery:
    """What a source holds: whether it exists, its partitions, and the unpaired files (URIs)."""

    exists: bool
    partitions: list[Partition] = field(default_factory=list)
    unpaired_data: list[str] = field(default_factory=list)
    unpaired_manifests: list[str] = field(default_factory=list)


def _scheme(path: ObjectStoragePath) -> str:
    protocol = path.protocol
    return str(protocol[0] if isinstance(protocol, tuple | list) else protocol)


def _files(fs: Any, root: str) -> list[str] | None:
    """Every file under the folder ``root``, or of the entries of its parent it prefixes; None if none."""
    root = root.rstrip("/") or "/"
    try:
        if fs.isdir(root):
            return sorted(fs.find(root))
        parent, _, prefix = root.rpartition("/")
        entries = fs.ls(parent or "/", detail=True)
    except FileNotFoundError:
        return None
    matched = [entry for entry in entries if posixpath.basename(entry["name"]).startswith(prefix)]
    if not matched:
        return None
    files: list[str] = []
    for entry in matched:
        if entry.get("type") == "directory":
            files.extend(fs.find(entry["name"]))
        else:
            files.append(entry["name"])
    return sorted(files)


def _is_temporary(location: str) -> bool:
    name = posixpath.basename(location)
    return name.startswith(".") and TEMP_MARKER in name


def discover(source: ObjectStoragePath) -> Discovery:
    """The partitions and unpaired files under ``source``; an unreadable manifest fails, naming it."""
    fs, scheme = source.fs, _scheme(source)
    files = _files(fs, str(source.path))
    if files is None:
        return Discovery(exists=False)
    present = {location for location in files if not _is_temporary(location)}
    found = Discovery(exists=True)
    paired: set[str] = set()
    for location in sorted(present):
        if not location.endswith(MANIFEST_SUFFIX):
            continue
        data = location.removesuffix(MANIFEST_SUFFIX)
        if data not in present:
            found.unpaired_manifests.append(uri_of(scheme, location))
            continue
        manifest = _read_manifest(fs, location, uri_of(scheme, location))
        found.partitions.append(Partition(uri=uri_of(scheme, data), location=data, manifest=manifest))
        paired.add(data)
    found.unpaired_data = [
        uri_of(scheme, location)
        for location in sorted(present - paired)
        if not location.endswith(MANIFEST_SUFFIX) and format_of_name(posixpath.basename(location))
    ]
    return found


def _read_manifest(fs: Any, location: str, uri: str) -> Manifest:
    try:
        return Manifest.from_json(fs.cat_file(location))
    except ManifestError as error:
        problem = str(error)
    except OSError as error:
        problem = f"{type(error).__name__}: {error}"
    raise OctopodsPartitionError(
        f"Cannot read the manifest {uri}: {problem}. Remove or re-export that partition (re-running the "
        "export task of its interval rewrites both files).",
        partition=uri,
    )


def check_same_origin(partitions: list[Partition], own_host: str | None = None) -> None:
    """
    Refuse partitions read through another connection or API host than the first one, and, when
    ``own_host`` is given (statuses are read again), any partition of a host other than it.
    """
    if not partitions:
        return
    first = partitions[0]
    origin = (first.manifest.octopods_conn_id, first.manifest.api_host)
    for partition in partitions[1:]:
        theirs = (partition.manifest.octopods_conn_id, partition.manifest.api_host)
        if theirs != origin:
            raise OctopodsPartitionError(
                f"The capture partition {partition.uri} was exported through connection '{theirs[0]}' "
                f"to {theirs[1]}, but {first.uri} through connection '{origin[0]}' to {origin[1]}: one "
                "history holds the messages of one account. Give each connection its own capture folder.",
                partition=partition.uri,
            )
    if own_host is not None and first.manifest.api_host != own_host:
        raise OctopodsPartitionError(
            f"The capture partitions (such as {first.uri}) were exported from {first.manifest.api_host}, "
            f"but this compaction's connection points at {own_host}: their statuses cannot be read again "
            "there. Use the connection the captures used, or refresh_statuses=False.",
            partition=first.uri,
        )

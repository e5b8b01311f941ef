"""
Atomic writes to an ``ObjectStoragePath``: a temporary sibling object, then a move onto the target.

On a local filesystem the move is a rename (atomic); on object stores it is a server-side copy, and
an object appears whole or not at all. Either way the destination holds the previous complete file
or the new complete file, never a partial one, whatever happens mid-write (including SIGKILL).

The temporary object is written through the path's filesystem (``path.fs.open``), not through
``ObjectStoragePath.open``: Airflow wraps the latter to record each written file as a lineage
output, which would name the temporary sibling (a new random asset on every run) and never the file
readers use, since a rename records nothing. What a write produced is recorded by the caller, once
the file is in place (:mod:`airflow_provider_octopods.utils.lineage`).
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import IO, Any

log = logging.getLogger(__name__)

TEMP_MARKER = ".octopods-tmp-"


def temporary_sibling(destination: Any) -> Any:
    """``<dir>/.<name>.octopods-tmp-<random>``: hidden, unique, on the same store as the target."""
    return destination.parent / f".{destination.name}{TEMP_MARKER}{uuid.uuid4().hex[:12]}"


def _remove_stale_siblings(destination: Any) -> None:
    """Best effort: drop temporary siblings left by an earlier try that was killed mid-write."""
    with contextlib.suppress(Exception):
        for candidate in destination.parent.iterdir():
            if candidate.name.startswith(f".{destination.name}{TEMP_MARKER}"):
                log.info("Removing %s, left behind by an interrupted export.", candidate)
                candidate.unlink()


@contextlib.contextmanager
def _open_for_write(path: Any, *, compress: bool) -> Iterator[IO[bytes]]:
    # The filesystem's own file object: no lineage entry for a name that exists only for a moment.
    with path.fs.open(path.path, "wb") as raw:
        if compress:
            with gzip.GzipFile(fileobj=raw, mode="wb", filename="") as packed:
                yield packed  # type: ignore[misc]
        else:
            yield raw


def write_atomically(destination: Any, write: Callable[[IO[bytes]], int]) -> int:
    """
    Create or replace ``destination`` with what ``write`` puts in a binary stream; return its result.

    Compressed with gzip when the destination name ends in ``.gz``.
    """
    _remove_stale_siblings(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(destination)
    try:
        with _open_for_write(temporary, compress=destination.name.endswith(".gz")) as stream:
            result = write(stream)
        temporary.rename(destination)
    except BaseException:
        with contextlib.suppress(Exception):
            if temporary.exists():
                temporary.unlink()
        raise
    return result

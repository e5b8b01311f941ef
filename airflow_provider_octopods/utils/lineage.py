"""
The assets of this provider, and the hook lineage of the files it writes.

An export or a compaction reads the Octopods WhatsApp listing of one API host and writes one file.
Both are assets, named the same way wherever lineage is reported (hook lineage here, OpenLineage
facets in :mod:`.openlineage`, asset events in :mod:`.outlets`):

* the listing: ``octopods://<api host>/whatsapp/messages`` (:func:`listing_uri`); the send
  operators write to the same kind of asset, ``octopods://<api host>/<channel>/messages``, so a
  lineage graph joins the sends of a key to the exports of its listing;
* the file: its plain URI (``file:///data/x.jsonl``, ``s3://bucket/key``), without the
  ``conn_id@`` an ``ObjectStoragePath`` may carry.

What is never an asset: the temporary sibling a file is written to before it is moved into place
(it exists for a moment under a random name, so recording it would add a new asset on every run),
and the manifest beside an export. The manifest is a sidecar: it describes the data file next to it
(for the compaction, which finds it by name), holds no message, and nobody schedules on it, so it
gets no lineage entry of its own. Neither is written through ``ObjectStoragePath.open`` (which
would record it, see :mod:`.atomic`); the destination is recorded here instead, once it is in place.

Hook lineage goes through common-compat's collector, which is Airflow 2.11's dataset collector or
Airflow 3's asset collector; it records nothing unless a lineage reader (such as the OpenLineage
provider) is registered. Only ``uri`` is passed: Airflow 2.11's collector takes no ``name`` or
``group``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_octopods.utils.destinations import plain_uri

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

__all__ = [
    "SCHEME",
    "FileLineage",
    "channel_asset_name",
    "listing_uri",
    "octopods_namespace",
    "record_hook_lineage",
]

log = logging.getLogger(__name__)

#: The URI scheme of Octopods assets.
SCHEME = "octopods"


def octopods_namespace(api_host: str) -> str:
    """``octopods://<api host>``: the namespace of one Octopods API's assets (``host[:port]``)."""
    return f"{SCHEME}://{api_host}"


def channel_asset_name(channel: str) -> str:
    """``whatsapp/messages`` or ``sms/messages``: the messages of one channel, within a namespace."""
    return f"{channel}/messages"


def listing_uri(api_host: str) -> str:
    """``octopods://<api host>/whatsapp/messages``: the sent-message listing exports are read from."""
    return f"{octopods_namespace(api_host)}/{channel_asset_name('whatsapp')}"


@dataclass(frozen=True)
class FileLineage:
    """
    What one export or compaction read and wrote: kept on the operator after ``execute`` for its
    OpenLineage facets, which Airflow asks for once the task has finished.

    :param api_host: ``host[:port]`` of the API whose listing the records came from, or None when
        it could not be told (a compaction with no partition and no readable connection).
    :param destination_uri: The plain URI of the file written.
    :param columns: The file's columns, in order.
    """

    api_host: str | None
    destination_uri: str
    columns: tuple[str, ...]


def record_hook_lineage(*, hook: Any, destination: ObjectStoragePath, api_host: str | None) -> None:
    """
    Record the listing of ``api_host`` as the input (attributed to ``hook``) and ``destination`` as
    the output, with Airflow's hook lineage collector. Called once the file is in place.

    Lineage is a report about the work, not part of it: a collector that fails is logged, and the
    task, whose file is already written, goes on.
    """
    from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

    try:
        collector = get_hook_lineage_collector()
        if api_host:
            collector.add_input_asset(context=hook, uri=listing_uri(api_host))
        collector.add_output_asset(context=destination, uri=plain_uri(destination))
    except Exception:
        log.warning("Could not record the hook lineage of %s.", plain_uri(destination), exc_info=True)

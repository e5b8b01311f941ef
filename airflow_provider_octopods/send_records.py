"""
Leftover send records on Airflow < 3.3: find them and purge them by age.

Below Airflow 3.3 the send operators keep each task instance's send record in an Airflow Variable
``octopods_send_ledger__<dag>__<task>__<run>__<map index>`` until the task instance has succeeded (see
:mod:`airflow_provider_octopods.operators._send_ledger`). A record outlives its task only when its
removal failed, when the worker died between recording the success and removing it (Airflow 3.0 to
3.2), or when the task failed for good after sending (the record then keeps a cleared task from
sending again). Such a record is harmless, but nothing else removes it; this does, by age::

    python -m airflow_provider_octopods.send_records --older-than-days 30 --dry-run
    python -m airflow_provider_octopods.send_records --older-than-days 30

or, from Python, :func:`purge_send_records`. Both read the metadata database directly, so they run
where Airflow's own CLI does (on Airflow 2 also inside a task); Airflow 3 tasks cannot reach the
database. On Airflow >= 3.3 the task state store's retention removes the records instead.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_octopods.models import parse_timestamp
from airflow_provider_octopods.operators._send_ledger import VARIABLE_PREFIX, parse_record

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["SendRecord", "find_send_records", "purge_send_records"]


@dataclass(frozen=True)
class SendRecord:
    """One leftover record: its Variable, its state (``sending``/``sent``, None if unreadable), its time."""

    name: str
    state: str | None
    recorded_at: dt.datetime | None

    def older_than(self, cutoff: dt.datetime) -> bool:
        """Undated records (empty, unreadable, or written before records were dated) count as old."""
        return self.recorded_at is None or self.recorded_at < cutoff


@contextlib.contextmanager
def _metadata_session() -> Iterator[Any]:
    """A metadata-database session, or an error that says where to run this instead."""
    from airflow import settings
    from airflow.utils.session import create_session

    try:
        if settings.Session is not None:
            settings.Session()  # a task process of Airflow 3 blocks the ORM here
    except RuntimeError as error:
        raise RuntimeError(
            "The send records are Airflow Variables read straight from the metadata database, which "
            "this process cannot reach (Airflow 3 tasks never can). Run `python -m "
            "airflow_provider_octopods.send_records` where Airflow's own CLI runs."
        ) from error
    with create_session() as session:
        yield session


def _send_records(session: Any) -> list[SendRecord]:
    from airflow.models.variable import Variable
    from sqlalchemy import select

    records: list[SendRecord] = []
    query = select(Variable).where(Variable.key.like(f"{VARIABLE_PREFIX}%"))
    for variable in session.scalars(query):
        if not variable.key.startswith(f"{VARIABLE_PREFIX}__"):
            continue
        entry = parse_record(variable.val) or {}
        state = entry.get("state")
        # Records are dated when written; before that, a ``sending`` record carried only its start.
        when = parse_timestamp(entry.get("recorded_at")) or parse_timestamp(entry.get("started_at"))
        records.append(SendRecord(variable.key, state if isinstance(state, str) else None, when))
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(records, key=lambda record: (record.recorded_at or oldest, record.name))


def find_send_records() -> list[SendRecord]:
    """Every send record in the metadata database, oldest first."""
    with _metadata_session() as session:
        return _send_records(session)


def purge_send_records(
    *, older_than: dt.timedelta, dry_run: bool = False, now: dt.datetime | None = None
) -> list[SendRecord]:
    """
    Delete the send records written more than ``older_than`` ago.

    :param older_than: How old a record must be. Keep it longer than any task's retries can last: a
        purged ``sending`` record no longer stops a cleared SMS task from sending again.
    :param dry_run: Only report what would be deleted.
    :param now: The time to measure from (default: now, UTC).
    :return: The records deleted (or, with ``dry_run``, that would be).
    """
    if older_than < dt.timedelta(0):
        raise ValueError(f"older_than must not be negative, got {older_than}")
    cutoff = (now or dt.datetime.now(dt.UTC)) - older_than
    with _metadata_session() as session:
        doomed = [record for record in _send_records(session) if record.older_than(cutoff)]
        if doomed and not dry_run:
            from airflow.models.variable import Variable
            from sqlalchemy import delete

            session.execute(delete(Variable).where(Variable.key.in_([record.name for record in doomed])))
    return doomed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_octopods.send_records",
        description="Purge the Octopods send operators' leftover send records (Airflow < 3.3) by age.",
    )
    parser.add_argument("--older-than-days", type=float, required=True, help="purge records older than this")
    parser.add_argument("--dry-run", action="store_true", help="list what would be purged, delete nothing")
    args = parser.parse_args(argv)
    if args.older_than_days < 0:
        parser.error("--older-than-days must not be negative")
    records = purge_send_records(older_than=dt.timedelta(days=args.older_than_days), dry_run=args.dry_run)
    for record in records:
        when = record.recorded_at.isoformat() if record.recorded_at else "undated"
        print(f"{record.name}  {record.state or 'unreadable'}  {when}")
    verb = "would purge" if args.dry_run else "purged"
    print(f"{verb} {len(records)} send record(s) older than {args.older_than_days:g} days", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The send ledger's Variable on Airflow < 3.3: its name, its removal and the purge of leftovers."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from airflow_provider_octopods.operators._send_ledger import (
    VariableLedger,
    parse_record,
    release_after_success,
    variable_name,
)
from airflow_provider_octopods.send_records import SendRecord, find_send_records, main, purge_send_records
from airflow_provider_octopods.version_compat import SUCCESS_CALLBACKS_RUN_BEFORE_COMMIT

pytestmark = pytest.mark.usefixtures("airflow_db")

#: The Task SDK's Variables work only inside a task; on Airflow 3 the DAG runs of ``test_send_dag`` cover
#: writing and removing records.
outside_a_task = pytest.mark.skipif(
    not SUCCESS_CALLBACKS_RUN_BEFORE_COMMIT, reason="Airflow 3 reaches Variables from inside a task only"
)


def put(name: str, value: str) -> None:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        Variable.delete(name, session=session)
        session.add(Variable(key=name, val=value))


def stored(name: str) -> str | None:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        variable = session.scalars(select(Variable).where(Variable.key == name)).first()
        return None if variable is None else variable.val


def test_the_name_is_the_task_instance_and_safe_for_a_variable_key() -> None:
    assert variable_name("nightly", "send.alert", "manual__2026-01-01T00:00:00+00:00", 3) == (
        "octopods_send_ledger__nightly__send.alert__manual__2026-01-01T00:00:00+00:00__3"
    )
    assert variable_name("d", "t", "run with spaces/and#marks", -1) == (
        "octopods_send_ledger__d__t__run_with_spaces_and_marks__-1"
    )


def test_unreadable_records_mean_no_record() -> None:
    for unreadable in ("", "not json", "[1, 2]", None):
        assert parse_record(unreadable) is None
    assert parse_record('{"state": "sent"}') == {"state": "sent"}


@outside_a_task
def test_records_are_dated() -> None:
    name = variable_name("ledger_dates", "t", "r", -1)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    VariableLedger(name).write({"state": "sending", "recipient": "+14155552671"})
    entry = VariableLedger(name).read()
    assert entry is not None
    assert entry["state"] == "sending"
    assert dt.datetime.fromisoformat(entry["recorded_at"]) >= before


@outside_a_task  # and Airflow 3 runs success callbacks after the API server recorded the success
def test_on_airflow_2_the_removal_commits_with_the_success_or_not_at_all() -> None:
    from airflow import settings

    name = variable_name("ledger_atomic", "t", "r", -1)
    put(name, json.dumps({"state": "sent"}))
    session = settings.Session()  # the worker's own session, in which Airflow records the success
    VariableLedger(name).release()
    session.rollback()  # the worker died before committing the success
    assert parse_record(stored(name)) == {"state": "sent"}, "the record must survive an uncommitted success"
    VariableLedger(name).release()
    session.commit()  # Airflow commits the success
    assert stored(name) is None


class FakeTaskInstance:
    dag_id = "ledger_callback"
    task_id = "send"
    run_id = "manual__1"
    map_index = 2


@outside_a_task
def test_the_success_callback_removes_the_record(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow import settings

    from airflow_provider_octopods.operators import _send_ledger

    monkeypatch.setattr(_send_ledger, "HAS_TASK_STATE_STORE", False)
    name = variable_name("ledger_callback", "send", "manual__1", 2)
    put(name, json.dumps({"state": "sent"}))
    release_after_success({"ti": FakeTaskInstance()})  # type: ignore[typeddict-item]
    settings.Session().commit()  # what the worker does right after the callbacks
    assert stored(name) is None


def test_purge_by_age_keeps_recent_records_and_reports_them_in_a_dry_run() -> None:
    now = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)
    old = variable_name("ledger_purge", "old", "r", -1)
    recent = variable_name("ledger_purge", "recent", "r", -1)
    sending = variable_name("ledger_purge", "sending", "r", -1)
    empty = variable_name("ledger_purge", "empty", "r", -1)
    put(old, json.dumps({"state": "sent", "recorded_at": "2026-05-01T00:00:00+00:00"}))
    put(recent, json.dumps({"state": "sent", "recorded_at": "2026-06-29T00:00:00+00:00"}))
    put(sending, json.dumps({"state": "sending", "started_at": "2026-05-02T00:00:00Z"}))
    put(empty, "")
    put("octopods_send_ledgerless", "not ours")  # shares the prefix but is not a record

    mine = [record for record in find_send_records() if "__ledger_purge__" in record.name]
    assert [record.name for record in mine] == [empty, old, sending, recent]  # oldest first, undated first
    assert mine[1] == SendRecord(old, "sent", dt.datetime(2026, 5, 1, tzinfo=dt.UTC))

    dry = purge_send_records(older_than=dt.timedelta(days=30), dry_run=True, now=now)
    assert {old, sending, empty} <= {record.name for record in dry}
    assert recent not in {record.name for record in dry}
    assert stored(old) is not None

    purge_send_records(older_than=dt.timedelta(days=30), now=now)
    assert [stored(name) for name in (old, sending, empty)] == [None, None, None]
    assert stored(recent) is not None
    assert stored("octopods_send_ledgerless") == "not ours"
    with pytest.raises(ValueError, match="must not be negative"):
        purge_send_records(older_than=dt.timedelta(days=-1))


def test_the_command_line_purges_and_names_what_it_purged(capsys: pytest.CaptureFixture[str]) -> None:
    name = variable_name("ledger_cli", "t", "r", -1)
    record = {"state": "sent", "recipient": "+14155552671", "recorded_at": "2020-01-01T00:00:00+00:00"}
    put(name, json.dumps(record))
    assert main(["--older-than-days", "30", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert f"{name}  sent  2020-01-01T00:00:00+00:00" in out
    assert "+14155552671" not in out + err, "the record's recipient is never printed"
    assert "would purge" in err
    assert stored(name) is not None
    assert main(["--older-than-days", "30"]) == 0
    assert stored(name) is None
    assert "purged" in capsys.readouterr().err


def test_the_command_line_refuses_a_negative_age() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_octopods.send_records", "--older-than-days", "-1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--older-than-days must not be negative" in result.stderr

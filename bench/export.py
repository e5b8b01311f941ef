"""Export of 100 sent messages to local JSON Lines and CSV files, next to plain-Python references.

The simulator (its own process, on loopback) is seeded with 100 WhatsApp messages inside one data
interval. ``ExportSentMessagesOperator.execute(context)`` is timed (wall and CPU of this process),
a new operator per run as each task run gets, excluding Airflow's start-up (imports are done first;
the first, cold call is reported apart). Side by side, in the same run and interleaved with it:

* **plain pipeline**: ``requests.get`` of the same listing, ``json``, the same 9 fields, the window
  filter and sort, then plain ``json``/``csv`` into a temporary file and ``os.replace`` -- the same
  work without Airflow or the provider;
* **plain write**: only writing the same 100 records with ``json``/``csv`` to a local file.

    python bench/export.py            # 30 runs of each
    python bench/export.py --quick    # 5 runs of each
    python bench/export.py --profile  # plus a cProfile of the operator runs
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import (
    Simulator,
    airflow_env,
    airflow_logs_to_file,
    machine,
    median,
    remove_home,
    table,
    write_json,
)

from airflow_provider_octopods.utils.records import FIELDS  # the record schema the export writes

RECORDS = 100


def seed(sim: Simulator, start: dt.datetime, seconds: float, rng: random.Random) -> None:
    statuses = ["DELIVERED", "READ", "SENT", "FAILED"]
    messages = []
    for number in range(RECORDS):
        created = start + dt.timedelta(seconds=rng.uniform(0, seconds))
        status = rng.choice(statuses)
        message: dict[str, Any] = {
            "phone": f"+1415555{rng.randrange(10000):04d}".replace("0470", "0471"),
            "created_at": created.timestamp(),
            "content": f"Hi Alex, your order #{10000 + number} is on the way! Track it at https://shop.example.com/t/{number}",
            "status": status,
        }
        if status == "FAILED":
            message.update(failure_reason="Re-engagement window expired", failure_code=470)
        messages.append(message)
    sim.admin.add_messages(messages)


def plain_pipeline(
    base_url: str, key: str, start: dt.datetime, end: dt.datetime, target: Path, fmt: str
) -> int:
    """The same export without Airflow or the provider: requests, json, csv, os.replace."""
    import requests

    response = requests.get(
        f"{base_url}/api/v1/whatsapp/messages",
        params={"limit": "100"},
        headers={"X-Octopods-Auth": key, "Accept": "application/json"},
        timeout=30,
    )
    response.raise_for_status()
    exported_at = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    records = []
    for item in response.json():
        created = dt.datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
        if not start <= created < end:
            continue
        status = item["message_status"]
        reason = status.get("failure_reason") or None
        code = reason.get("code") if isinstance(reason, dict) else None
        records.append(
            {
                "message_id": status["channel_message_id"],
                "channel": "whatsapp",
                "phone_number": item["user_phone_number"],
                "created_at": item["created_at"],
                "message_content": item["message_content"],
                "status": str(status["message_status"]).upper(),
                "failure_code": code,
                "failure_reason": reason.get("title") if isinstance(reason, dict) else reason,
                "exported_at": exported_at,
            }
        )
    records.sort(key=lambda r: (r["created_at"], r["message_id"]))
    return plain_write(records, target, fmt)


def plain_write(records: list[dict[str, Any]], target: Path, fmt: str) -> int:
    """Write records with plain json/csv to a temporary sibling, then rename it onto ``target``."""
    temporary = target.with_name(f".{target.name}.tmp")
    with temporary.open("w", newline="", encoding="utf-8") as stream:
        if fmt == "jsonl":
            for record in records:
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(stream, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(records)
    os.replace(temporary, target)
    return len(records)


def timed(call: Callable[[], Any]) -> tuple[float, float, Any]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = call()
    return time.perf_counter() - wall0, time.process_time() - cpu0, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 runs of each")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the operator runs")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    runs = 5 if args.quick else args.runs

    env = airflow_env()  # this process: before Airflow is imported
    out_dir = Path(tempfile.mkdtemp(prefix="octopods-bench-export-"))
    sim = Simulator.start_with("--read-after", "none", seed=3)
    try:
        os.environ["AIRFLOW_CONN_OCTOPODS_DEFAULT"] = sim.connection_json()
        end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        start = end - dt.timedelta(hours=1)
        seed(sim, start + dt.timedelta(seconds=1), 3590.0, random.Random(3))

        t0 = time.perf_counter()
        from airflow_provider_octopods.operators.export import ExportSentMessagesOperator

        import_s = time.perf_counter() - t0
        airflow_logs_to_file(Path(env["AIRFLOW_HOME"]) / "task.log")
        context = {"data_interval_start": start, "data_interval_end": end}
        counter = iter(range(1_000_000))

        def operator(fmt: str) -> Callable[[], Any]:
            def call() -> Any:
                op = ExportSentMessagesOperator(
                    task_id=f"export_{fmt}_{next(counter)}",
                    destination=str(out_dir / f"operator.{fmt}"),
                    file_format=fmt,
                )
                return op.execute(context)  # type: ignore[arg-type]

            return call

        results: dict[str, dict[str, Any]] = {}
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
        for fmt in ("jsonl", "csv"):
            cold_wall, cold_cpu, first = timed(operator(fmt))
            assert first["count"] == RECORDS, first
            if fmt == "jsonl":
                records = [json.loads(line) for line in (out_dir / "operator.jsonl").read_text().splitlines()]
            else:
                with (out_dir / "operator.csv").open(newline="", encoding="utf-8") as stream:
                    records = list(csv.DictReader(stream))
            variants: dict[str, Callable[[], Any]] = {
                "operator": operator(fmt),
                "plain pipeline": lambda fmt=fmt: plain_pipeline(  # type: ignore[misc]
                    sim.base_url, sim.whatsapp_api_key, start, end, out_dir / f"pipeline.{fmt}", fmt
                ),
                "plain write": lambda fmt=fmt, records=records: plain_write(  # type: ignore[misc]
                    records, out_dir / f"write.{fmt}", fmt
                ),
            }
            for name in ("plain pipeline", "plain write"):  # warm-up (requests' first import, caches)
                variants[name]()
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
            for _ in range(runs):
                for name, call in variants.items():
                    if name == "operator" and profiler:
                        profiler.enable()
                    wall, cpu, result = timed(call)
                    if name == "operator" and profiler:
                        profiler.disable()
                    count = result["count"] if isinstance(result, dict) else result
                    assert count == RECORDS, (name, count)
                    samples[name].append((wall, cpu))
            results[fmt] = {
                "cold_wall_ms": cold_wall * 1000,
                "cold_cpu_ms": cold_cpu * 1000,
                **{
                    f"{name}_{kind}_ms": 1000 * median([s[index] for s in samples[name]])
                    for name in variants
                    for index, kind in enumerate(("wall", "cpu"))
                },
            }
    finally:
        sim.stop()
        shutil.rmtree(out_dir, ignore_errors=True)
        remove_home(env)

    print(
        f"Export of {RECORDS} records to a local file, median of {runs} runs each, interleaved "
        f"({machine()['cpus']} CPUs); the simulator serves the listing from its own process\n"
    )
    header = ["format", "what", "wall ms", "CPU ms", "operator / this (wall)", "operator / this (CPU)"]
    rows = []
    for fmt, r in results.items():
        for name in ("operator", "plain pipeline", "plain write"):
            wall, cpu = r[f"{name}_wall_ms"], r[f"{name}_cpu_ms"]
            rows.append(
                [
                    fmt,
                    {"operator": "ExportSentMessagesOperator.execute"}.get(name, name),
                    f"{wall:.2f}",
                    f"{cpu:.2f}",
                    "" if name == "operator" else f"{r['operator_wall_ms'] / wall:.1f}x",
                    "" if name == "operator" else f"{r['operator_cpu_ms'] / cpu:.1f}x",
                ]
            )
        rows.append(
            [
                fmt,
                "operator, first (cold) call",
                f"{r['cold_wall_ms']:.1f}",
                f"{r['cold_cpu_ms']:.1f}",
                "",
                "",
            ]
        )
    print(table(header, rows))
    print(f"\n(importing the operator module before the runs took {import_s * 1000:.0f} ms, not counted)")
    for fmt, r in results.items():
        print(
            f"{fmt}: operator = {r['operator_wall_ms'] / r['plain pipeline_wall_ms']:.1f}x the plain "
            "pipeline "
            f"(wall), {r['operator_wall_ms'] / r['plain write_wall_ms']:.0f}x the plain write"
        )
    if profiler:
        import pstats

        report = io.StringIO()
        pstats.Stats(profiler, stream=report).sort_stats("cumulative").print_stats(40)
        print(f"\n--- cProfile of {2 * runs} operator runs ---\n{report.getvalue()}")
    write_json(
        args.json, {"runs": runs, "machine": machine(), "results": results, "import_ms": import_s * 1000}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

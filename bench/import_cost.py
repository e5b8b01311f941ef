"""What importing the provider's sensor and operators adds to a DAG file's parse, next to HttpSensor.

DAG files pay their imports on every parse. Each measurement is a fresh interpreter that imports
``airflow.sdk`` (the baseline every Airflow 3 DAG file pays), then one of:

* nothing more (baseline);
* the provider: ``airflow_provider_octopods.sensors.delivery``, ``.operators.export``,
  ``.operators.send`` and ``.notifications.octopods``;
* the http provider's ``HttpSensor`` (``airflow.providers.http.sensors.http``).

It reports the median of 20 runs (interleaved, so noise hits every variant alike) of what each
import adds over ``airflow.sdk`` -- timed inside the interpreter right after ``import airflow.sdk``,
and, as a cross-check, as the difference of the whole-import medians -- and their ratio. It also
lists which heavy libraries each import loads and, from ``-X importtime``, the modules that cost most.

    python bench/import_cost.py             # 20 runs of each
    python bench/import_cost.py --quick     # 3 runs of each
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from _common import machine, median, remove_home, subprocess_env, table, verdict, write_json

PROVIDER_MODULES = [
    "airflow_provider_octopods.sensors.delivery",
    "airflow_provider_octopods.operators.export",
    "airflow_provider_octopods.operators.send",
    "airflow_provider_octopods.notifications.octopods",
]
HTTP_MODULES = ["airflow.providers.http.sensors.http"]
VARIANTS = {
    "airflow.sdk alone": [],
    "provider sensor + operators": PROVIDER_MODULES,
    "http HttpSensor": HTTP_MODULES,
}
#: Libraries a DAG parse should not pay for unless it uses them.
HEAVY = ("aiohttp", "requests", "tenacity", "fsspec", "upath", "pandas", "pyarrow", "asgiref", "yarl")

SNIPPET = r"""
import importlib, json, sys, time
modules = json.loads(sys.argv[1])
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
before = set(sys.modules)
for name in modules:
    importlib.import_module(name)
t2 = time.perf_counter()
added = sorted(set(sys.modules) - before)
print(json.dumps({"sdk": t1 - t0, "extra": t2 - t1, "added": added}))
"""

IMPORTTIME = r"""
import importlib, json, sys
import airflow.sdk
print("@@after-sdk", file=sys.stderr, flush=True)
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
"""


def run_once(modules: list[str], env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET, json.dumps(modules)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def import_profile(modules: list[str], env: dict[str, str], top: int = 12) -> list[tuple[str, float]]:
    """The modules with the largest cumulative import time after ``airflow.sdk`` (``-X importtime``)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", IMPORTTIME, json.dumps(modules)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = out.stderr.split("@@after-sdk", 1)[-1].splitlines()
    entries: list[tuple[str, float, int]] = []
    for line in lines:
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:") :].split("|")
        try:
            cumulative = int(parts[1].strip())
        except ValueError:
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        entries.append((name.strip(), cumulative / 1e6, depth))
    # Keep the shallow entries (what the import itself pulled in), largest first.
    shallow = [(name, seconds) for name, seconds, depth in entries if depth <= 2]
    return sorted(shallow, key=lambda item: -item[1])[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 runs of each")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    runs = 3 if args.quick else args.runs

    env = subprocess_env()  # one throwaway Airflow home for every run of this benchmark
    try:
        names = list(VARIANTS)
        for name in names:  # warm-up: page cache, bytecode, the home's first config write
            run_once(VARIANTS[name], env)
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for round_number in range(runs):
            order = names[round_number % len(names) :] + names[: round_number % len(names)]
            for name in order:
                samples[name].append(run_once(VARIANTS[name], env))
        profiles = {name: import_profile(VARIANTS[name], env) for name in names[1:]}
    finally:
        remove_home(env)

    base_total = median([s["sdk"] + s["extra"] for s in samples[names[0]]])
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        totals = [s["sdk"] + s["extra"] for s in samples[name]]
        added = samples[name][-1]["added"]
        results[name] = {
            "sdk_ms": 1000 * median([s["sdk"] for s in samples[name]]),
            "total_ms": 1000 * median(totals),
            "added_ms": 1000 * median([s["extra"] for s in samples[name]]),
            "added_by_difference_ms": 1000 * (median(totals) - base_total),
            "modules_added": len(added),
            "heavy": [m for m in HEAVY if m in added],
        }
    provider, http = results[names[1]], results[names[2]]
    ratio = provider["added_ms"] / http["added_ms"] if http["added_ms"] > 0 else float("nan")
    ratio_by_difference = (
        provider["added_by_difference_ms"] / http["added_by_difference_ms"]
        if http["added_by_difference_ms"] > 0
        else float("nan")
    )

    print(f"Import cost in a fresh interpreter, median of {runs} runs each ({machine()['cpus']} CPUs)\n")
    rows = [
        [
            name,
            f"{r['sdk_ms']:.0f}",
            f"{r['total_ms']:.0f}",
            f"{r['added_ms']:.1f}" if name != names[0] else "-",
            f"{r['added_by_difference_ms']:.1f}" if name != names[0] else "-",
            str(r["modules_added"]) if name != names[0] else "-",
            ", ".join(r["heavy"]) or "none",
        ]
        for name, r in results.items()
    ]
    header = [
        "import",
        "airflow.sdk ms",
        "total ms",
        "added ms",
        "added ms (diff. of medians, noisy)",
        "modules added",
        "heavy libs loaded",
    ]
    print(table(header, rows))
    for name, top in profiles.items():
        print(f"\n-X importtime, largest imports after airflow.sdk for {name}:")
        for module, seconds in top:
            print(f"  {seconds * 1000:8.1f} ms  {module}")
    print()
    print(
        f"provider sensor + operators add {provider['added_ms']:.1f} ms over airflow.sdk; HttpSensor adds "
        f"{http['added_ms']:.1f} ms: ratio {ratio:.2f} (by difference of totals: {ratio_by_difference:.2f})"
    )
    ok = ratio <= 1 / 3
    print(f"{verdict(ok)}  provider import adds {ratio:.2f}x what HttpSensor adds (target <= 0.33)")
    no_aiohttp = "aiohttp" not in provider["heavy"]
    print(
        f"{verdict(no_aiohttp)}  aiohttp is {'not ' if no_aiohttp else ''}imported by the provider's modules"
    )
    write_json(
        args.json,
        {
            "runs": runs,
            "machine": machine(),
            "results": results,
            "profiles": {name: [[m, s] for m, s in top] for name, top in profiles.items()},
            "ratio": ratio,
            "ratio_by_difference": ratio_by_difference,
            "targets": [
                {
                    "name": "import cost vs HttpSensor",
                    "value": ratio,
                    "limit": 1 / 3,
                    "target": "<= 0.33",
                    "ok": ok,
                    "text": f"provider import adds {provider['added_ms']:.0f} ms = {ratio:.2f}x what "
                    f"HttpSensor adds ({http['added_ms']:.0f} ms)",
                },
                {
                    "name": "no aiohttp at import",
                    "value": 0 if no_aiohttp else 1,
                    "limit": 0,
                    "target": "aiohttp not loaded",
                    "ok": no_aiohttp,
                    "text": "aiohttp not imported by the provider's sensor and operators"
                    if no_aiohttp
                    else "aiohttp imported by the provider's sensor and operators",
                },
            ],
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

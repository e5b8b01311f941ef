# Set-up commands on a fresh machine: `make test` (the whole suite) and `make demo`.
SHELL := /bin/bash
PYTHON ?= python3

# The newest release of each supported Airflow line is resolved when a venv is (re)built.
AIRFLOW3_REQ ?= apache-airflow>=3.0,<4
AIRFLOW2_REQ ?= apache-airflow>=2.11,<2.12
# The older Airflow 3 minors, each with what its own constraints pin where an unpinned install breaks:
# 3.0 needs FastAPI < 0.132 (its execution API breaks on newer) and universal-pathlib < 0.3 (its
# ObjectStoragePath); 3.2 needs FastAPI < 0.156.1 (pydantic rejects its TIStateUpdate discriminator
# from then on) and svcs < 26.2 (which drops the registry its in-process execution API needs).
AIRFLOW30_REQ ?= "apache-airflow==3.0.*" "fastapi<0.132" "universal-pathlib<0.3"
AIRFLOW31_REQ ?= "apache-airflow==3.1.*"
AIRFLOW32_REQ ?= "apache-airflow==3.2.*" "fastapi<0.156.1" "svcs<26.2"
# The older minors run everything but the real-engine and browser tests (which run on the newest of each
# line) and the one test that replays a day of 10-minute captures through dag.test(): on 3.0 to 3.2 each
# of its 146 runs waits about a second inside Airflow's in-process execution API (three minutes a minor);
# the capture and compaction DAGs still run there, in the other history tests.
MATRIX_PYTEST_ARGS ?= -m "not engine and not browser and not day_replay"

VENV3 := .venvs/airflow3
VENV2 := .venvs/airflow2
PYTEST_ARGS ?=

.PHONY: test test-airflow3 test-airflow2 suite-airflow3 suite-airflow2 engine-airflow3 engine-airflow2 \
	test-matrix test-airflow3.0 test-airflow3.1 test-airflow3.2 system-packages venvs lint demo bench \
	bench-quick clean

# The whole suite on both lines. First everything but the real-engine and browser tests, both lines at
# once (a suite keeps one core about half busy: much of it waits on loopback I/O); then the engine tests,
# one line at a time and alone on the machine, as their timings and per-second request counts want.
test: system-packages venvs
	$(MAKE) -j2 --output-sync=target suite-airflow3 suite-airflow2
	$(MAKE) engine-airflow3 engine-airflow2

suite-airflow3:
	scripts/check.sh $(VENV3) -m "not engine and not browser" $(PYTEST_ARGS)

suite-airflow2:
	scripts/check.sh $(VENV2) -m "not engine and not browser" $(PYTEST_ARGS)

engine-airflow3:
	$(VENV3)/bin/python -m pytest -m "engine or browser" $(PYTEST_ARGS)

engine-airflow2:
	$(VENV2)/bin/python -m pytest -m "engine or browser" $(PYTEST_ARGS)

venvs:
	PYTHON=$(PYTHON) scripts/ensure-venv.sh $(VENV3) "$(AIRFLOW3_REQ)"
	PYTHON=$(PYTHON) scripts/ensure-venv.sh $(VENV2) "$(AIRFLOW2_REQ)"

# One line alone, the whole suite in one run.
test-airflow3: system-packages
	PYTHON=$(PYTHON) scripts/ensure-venv.sh $(VENV3) "$(AIRFLOW3_REQ)"
	scripts/check.sh $(VENV3) $(PYTEST_ARGS)

test-airflow2: system-packages
	PYTHON=$(PYTHON) scripts/ensure-venv.sh $(VENV2) "$(AIRFLOW2_REQ)"
	scripts/check.sh $(VENV2) $(PYTEST_ARGS)

# Every older Airflow 3 minor (newest patch of each); CI runs it after `make test`.
test-matrix: test-airflow3.0 test-airflow3.1 test-airflow3.2

test-airflow3.0:
	PYTHON=$(PYTHON) scripts/ensure-venv.sh .venvs/airflow3.0 $(AIRFLOW30_REQ)
	scripts/check.sh .venvs/airflow3.0 $(MATRIX_PYTEST_ARGS) $(PYTEST_ARGS)

test-airflow3.1:
	PYTHON=$(PYTHON) scripts/ensure-venv.sh .venvs/airflow3.1 $(AIRFLOW31_REQ)
	scripts/check.sh .venvs/airflow3.1 $(MATRIX_PYTEST_ARGS) $(PYTEST_ARGS)

test-airflow3.2:
	PYTHON=$(PYTHON) scripts/ensure-venv.sh .venvs/airflow3.2 $(AIRFLOW32_REQ)
	scripts/check.sh .venvs/airflow3.2 $(MATRIX_PYTEST_ARGS) $(PYTEST_ARGS)

# PostgreSQL and Chromium (Debian packages) for the real-engine and browser tests, when missing.
system-packages:
	scripts/engine/ensure-system-packages.sh

demo:
	PYTHON=$(PYTHON) scripts/ensure-venv.sh $(VENV3) "$(AIRFLOW3_REQ)"
	$(VENV3)/bin/python scripts/demo.py

# Benchmarks (a few minutes; --quick is the smoke run). They print ratios measured side by side.
bench:
	PYTHON=$(PYTHON) scripts/ensure-venv.sh $(VENV3) "$(AIRFLOW3_REQ)"
	$(VENV3)/bin/python bench/run_all.py

bench-quick:
	PYTHON=$(PYTHON) scripts/ensure-venv.sh $(VENV3) "$(AIRFLOW3_REQ)"
	$(VENV3)/bin/python bench/run_all.py --quick

lint:
	PYTHON=$(PYTHON) scripts/ensure-venv.sh $(VENV3) "$(AIRFLOW3_REQ)"
	$(VENV3)/bin/ruff check . && $(VENV3)/bin/ruff format --check . && $(VENV3)/bin/mypy

clean:
	rm -rf .venvs artifacts .mypy_cache .ruff_cache .pytest_cache

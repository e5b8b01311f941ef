# Set-up commands on a fresh machine: `make test` (the whole suite) and `make demo`.
SHELL := /bin/bash
PYTHON ?= python3

# The newest release of each supported Airflow line is resolved when a venv is (re)built.
AIRFLOW3_REQ ?= apache-airflow>=3.0,<4
AIRFLOW2_REQ ?= apache-airflow>=2.11,<2.12

VENV3 := .venvs/airflow3
VENV2 := .venvs/airflow2
PYTEST_ARGS ?=

.PHONY: test test-airflow3 test-airflow2 system-packages venvs lint demo bench bench-quick clean

test: test-airflow3 test-airflow2

venvs:
	PYTHON=$(PYTHON) scripts/ensure-venv.sh $(VENV3) "$(AIRFLOW3_REQ)"
	PYTHON=$(PYTHON) scripts/ensure-venv.sh $(VENV2) "$(AIRFLOW2_REQ)"

test-airflow3: system-packages
	PYTHON=$(PYTHON) scripts/ensure-venv.sh $(VENV3) "$(AIRFLOW3_REQ)"
	scripts/check.sh $(VENV3) $(PYTEST_ARGS)

test-airflow2: system-packages
	PYTHON=$(PYTHON) scripts/ensure-venv.sh $(VENV2) "$(AIRFLOW2_REQ)"
	scripts/check.sh $(VENV2) $(PYTEST_ARGS)

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

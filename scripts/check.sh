#!/usr/bin/env bash
# Lint, type-check and test the project in one virtualenv: scripts/check.sh <venv-dir> [pytest args...]
set -euo pipefail
venv="$1"; shift
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
version="$("$venv/bin/python" -c 'import airflow; print(airflow.__version__)' 2>/dev/null)"
echo "==> Airflow $version: ruff" >&2
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
echo "==> Airflow $version: mypy" >&2
"$venv/bin/mypy"
echo "==> Airflow $version: pytest" >&2
"$venv/bin/python" -m pytest "$@"

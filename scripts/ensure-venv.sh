#!/usr/bin/env bash
# Create (or reuse, when nothing it depends on changed) a virtualenv with one Airflow line installed,
# plus this project with its test extras, editable.
#
#   scripts/ensure-venv.sh <venv-dir> "<airflow requirement>" [extra requirement ...]
#
# The venv is rebuilt when pyproject.toml, this script or the requirements change (a stamp file
# holds their hash). uv comes from a small bootstrap venv, so nothing is installed system-wide.
set -euo pipefail

venv="$1"; shift
airflow_req="$1"; shift
extra_reqs=("$@")

root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.venvs/tools"
python="${PYTHON:-python3}"

if [ ! -x "$tools/bin/uv" ]; then
    echo "==> bootstrapping uv into $tools" >&2
    "$python" -m venv "$tools"
    "$tools/bin/pip" install --quiet --disable-pip-version-check uv
fi
uv="$tools/bin/uv"

stamp_input="$(cat "$root/pyproject.toml" "$0"; echo "$airflow_req ${extra_reqs[*]:-}")"
stamp="$(printf '%s' "$stamp_input" | sha256sum | cut -c1-16)"
if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ] && [ -x "$venv/bin/python" ]; then
    exit 0
fi

echo "==> building $venv ($airflow_req)" >&2
rm -rf "$venv"
"$uv" venv --quiet --python "$python" "$venv"
VIRTUAL_ENV="$venv" "$uv" pip install --quiet "$airflow_req" -e "$root[test]" "${extra_reqs[@]}"
echo "$stamp" > "$venv/.stamp"

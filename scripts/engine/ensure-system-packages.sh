#!/usr/bin/env bash
# Install the Debian packages the real-engine and browser tests need, only when they are missing:
#   postgresql  the server binaries (/usr/lib/postgresql/<version>/bin); the tests run a private cluster
#   chromium    the browser Playwright drives (/usr/bin/chromium); Playwright's own download is never used
#
#   scripts/engine/ensure-system-packages.sh
#
# Idempotent and quiet: when both are present it only checks and exits. Installing needs root (or
# passwordless sudo). Nothing is configured or started here: no system cluster is touched.
set -euo pipefail

missing=()
if ! compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
    missing+=(postgresql)
fi
if ! command -v chromium >/dev/null 2>&1; then
    missing+=(chromium)
fi
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "==> missing system packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
fi

echo "==> installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >"$log" 2>&1; then
    cat "$log" >&2
    echo "==> apt-get failed to install: ${missing[*]}" >&2
    exit 1
fi

#!/usr/bin/env bash
# Installs what the web front's browser tests need, once: Debian's Chromium (npm's browser
# downloads cannot reach their host here, and a distribution's browser is what people run), and
# playwright-core and axe-core from npm into e2e/web/node_modules at the versions the lock file
# names. Quiet unless something fails; does nothing when all is there.
#
# usage: scripts/web-env.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if ! command -v chromium >/dev/null 2>&1; then
  install=(apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core)
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "web-env: Chromium is missing and this user cannot install it (apt-get install chromium)" >&2; exit 1; }
    install=(sudo -n "${install[@]}")
    update=(sudo -n apt-get update -q)
  else
    update=(apt-get update -q)
  fi
  log=$(mktemp)
  if ! { DEBIAN_FRONTEND=noninteractive "${update[@]}" && DEBIAN_FRONTEND=noninteractive "${install[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "web-env: Chromium could not be installed from Debian's packages" >&2
    exit 1
  fi
  rm -f "$log"
fi

cd e2e/web
stamp=node_modules/.package-lock.json
if [ -f "$stamp" ] && cmp -s package-lock.json node_modules/.installed-lock; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error >/dev/null
cp package-lock.json node_modules/.installed-lock

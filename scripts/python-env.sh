#!/usr/bin/env bash
# Creates .venv with the Python packages of e2e/requirements.txt; does nothing when they are
# already installed at those versions.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
stamp=.venv/.requirements
if [ -f "$stamp" ] && cmp -s "$stamp" e2e/requirements.txt; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r e2e/requirements.txt
cp e2e/requirements.txt "$stamp"

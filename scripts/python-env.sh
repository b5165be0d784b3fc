#!/usr/bin/env bash
# Creates a virtual environment with the Python packages of a requirements file; does nothing
# when they are already installed at those versions.
#
# usage: scripts/python-env.sh [REQUIREMENTS [VENV]]   (default: e2e/requirements.txt .venv)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
requirements=${1:-e2e/requirements.txt}
venv=${2:-.venv}
stamp=$venv/.requirements
if [ -f "$stamp" ] && cmp -s "$stamp" "$requirements"; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"

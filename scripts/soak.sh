#!/usr/bin/env bash
# A soak of `passerelle up` (release build) under a steady mixed load: RSS every 30 s, then
# per RPC the calls, errors, p50 and p99, and whether memory stayed flat. Not part of the tests.
#
# usage: scripts/soak.sh [minutes, default 10]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SOAK_MINUTES="${1:-10}" cargo bench --quiet -p passerelle --bench soak

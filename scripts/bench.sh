#!/usr/bin/env bash
# Runs the benchmarks against real servers, each side by side with its baseline in the same
# run: store put/get (SQLite vs Cassandra), bus append/consume (SQLite log vs Kafka), token
# checks (kit vs bare RS256), sign-ins (service vs bare Argon2id), document streaming (vault vs
# plain disk copy), the web front's document list (the page vs the gRPC call alone, and every
# page's weight against 100 KB), nearest-place search over 100,000 places (R-tree via gRPC vs linear scan) and
# survey processing, 10 million rows to pathways and dashboards (Polars vs pandas, installed here
# into .venv-bench).
# PASSERELLE_BENCH_SECONDS sets how long each measurement runs (default 5).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
mkdir -p .servers
scripts/servers.sh start >.servers/start.log 2>&1 || { cat .servers/start.log >&2; exit 1; }
while IFS= read -r setting; do export "$setting"; done < <(scripts/servers.sh env)
cargo bench -p passerelle-store --bench store --quiet
cargo bench -p passerelle-bus --bench bus --quiet
cargo bench -p passerelle-identity --bench identity --quiet
cargo bench -p passerelle-vault --bench vault --quiet
cargo bench -p passerelle-directory --bench directory --quiet
cargo bench -p passerelle-gateway --bench gateway --quiet
scripts/python-env.sh analytics/benches/requirements.txt .venv-bench
PASSERELLE_BENCH_PYTHON="$ROOT/.venv-bench/bin/python" cargo bench -p passerelle-analytics --bench survey --quiet

#!/usr/bin/env bash
# Runs every test of Passerelle, against real servers:
#   - Rust unit and integration tests of every crate (cargo test --workspace), with the store
#     suite on SQLite and on a real Apache Cassandra node, the bus suite on the SQLite log and
#     on a real Apache Kafka broker, the identity suite on the built-in issuer and on a real
#     Keycloak, and the vault on local disk and on S3 (S3Proxy);
#   - the end-to-end checks in e2e/ with stock Python gRPC tooling, and the README's grpcurl
#     examples run by the real grpcurl (built once from the Go module proxy into .tools/go);
#   - the web front's journeys in e2e/web/ in a real headless Chromium (Debian's), with
#     axe-core on every page and the Keycloak sign-in through Keycloak's own login page; and the
#     directory's files read and written by the national reference library for places
#     (@gouvfr-anct/lieux-de-mediation-numerique, npm).
# Servers come from Maven Central through scripts/servers.sh (cached; started once, reused
# when already running). Python packages go into .venv, npm packages into e2e/web/node_modules
# (both cached).
#
# usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
mkdir -p .servers

step() { printf '==> %s\n' "$*"; }

# Servers boot (JVM start-up, downloads on first run) while Rust compiles.
step "starting Kafka, Cassandra, Keycloak and S3Proxy; building the workspace"
scripts/servers.sh start >.servers/start.log 2>&1 &
servers=$!
scripts/python-env.sh >.servers/python.log 2>&1 &
python=$!
scripts/web-env.sh >.servers/web-env.log 2>&1 &
webenv=$!
scripts/go-tools.sh >.servers/go-tools.log 2>&1 &
gotools=$!
cargo build --workspace --all-targets --quiet
if ! wait "$servers"; then
  cat .servers/start.log >&2
  echo "test.sh: a test server did not come up; nothing was tested" >&2
  exit 1
fi
sed 's/^/    /' .servers/start.log
if ! wait "$python"; then
  cat .servers/python.log >&2
  echo "test.sh: the Python test environment could not be installed" >&2
  exit 1
fi
while IFS= read -r setting; do export "$setting"; done < <(scripts/servers.sh env)
# In CI a missing server must fail its suite, never skip it.
export CI="${CI:-}"

step "cargo test --workspace"
cargo test --workspace --quiet "$@"

step "end-to-end checks with stock gRPC tooling (e2e/)"
if ! wait "$gotools"; then
  cat .servers/go-tools.log >&2
  echo "test.sh: grpcurl could not be built from the Go module proxy" >&2
  exit 1
fi
PASSERELLE_GRPCURL=$(scripts/go-tools.sh path grpcurl)
export PASSERELLE_GRPCURL
.venv/bin/python -m pytest -q e2e

step "the web front's journeys in Chromium, and the directory against the national reference library (e2e/web)"
if ! wait "$webenv"; then
  cat .servers/web-env.log >&2
  echo "test.sh: Chromium or the npm packages of e2e/web could not be installed" >&2
  exit 1
fi
export PASSERELLE_BIN="${PASSERELLE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/passerelle}"
if ! node --test --test-reporter=spec e2e/web/journeys.test.mjs e2e/web/schema.test.mjs >.servers/web-journeys.log 2>&1; then
  cat .servers/web-journeys.log >&2
  echo "test.sh: the web front's journeys or the reference-library check failed (screenshots in e2e/web/screenshots/)" >&2
  exit 1
fi
grep -E "^ *✔|axe-core ran" .servers/web-journeys.log | sed 's/^ */    /'

cat <<SUMMARY
==> all tests passed
    store engines: sqlite, cql ($(scripts/servers.sh env cassandra | cut -d= -f2), Apache Cassandra)
    bus engines:   sqlite, kafka ($(scripts/servers.sh env kafka | cut -d= -f2), Apache Kafka)
    identity:      built-in issuer, keycloak ($(scripts/servers.sh env keycloak | head -n 1 | cut -d= -f2), Keycloak)
    documents:     local disk, s3 (S3Proxy)
    web front:     $(chromium --version 2>/dev/null | head -n 1), screenshots in e2e/web/screenshots/
SUMMARY

#!/usr/bin/env bash
# Runs the property tests over every importer and decoder that takes outside bytes (places
# files, survey CSV and Parquet, typed values, signatures, vault framing and parsers, event
# records, SMPP answers) with many more cases than the test suite does.
#
# usage: scripts/fuzz.sh [cases, default 10000]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cases="${1:-10000}"
export PROPTEST_CASES="$cases"
echo "==> property tests, $cases cases each"
cargo test --release --quiet -p passerelle-directory --test inputs
cargo test --release --quiet -p passerelle-identity --test inputs
cargo test --release --quiet -p passerelle-vault --test inputs
cargo test --release --quiet -p passerelle-bus --test inputs
cargo test --release --quiet -p passerelle-analytics --test inputs
# Each case here is a real upload or a real gateway session: a tenth as many.
PROPTEST_CASES=$(( cases / 10 > 0 ? cases / 10 : 1 )) cargo test --release --quiet -p passerelle-vault --test api framing
PROPTEST_CASES=$(( cases / 100 > 0 ? cases / 100 : 1 )) cargo test --release --quiet -p passerelle-sms --test inputs
echo "==> no input made anything panic"

#!/usr/bin/env bash
# Builds the Go tools the tests use, once, from the Go module proxy, into .tools/go (ignored,
# kept between runs: the module and build caches, and one binary per tool and version).
# Quiet unless a build fails.
#
# usage: scripts/go-tools.sh              build every tool that is missing
#        scripts/go-tools.sh path NAME    print where the tool NAME is (after building it)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO_DIR=$ROOT/.tools/go
BIN=$GO_DIR/bin

# name  package  version
TOOLS=(
  "grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl v1.9.4"
)

build() {
  local name=$1 package=$2 version=$3
  local target=$BIN/$name-$version
  [ -x "$target" ] && return 0
  mkdir -p "$BIN"
  local staging
  staging=$(mktemp -d "$GO_DIR/build.XXXXXX")
  if ! GOPATH=$GO_DIR/path GOCACHE=$GO_DIR/cache GOFLAGS=-modcacherw GOBIN=$staging \
    go install "$package@$version" >"$staging.log" 2>&1; then
    cat "$staging.log" >&2
    echo "go-tools.sh: $name $version could not be built from the Go module proxy" >&2
    rm -rf "$staging" "$staging.log"
    return 1
  fi
  mv "$staging/$name" "$target"
  rm -rf "$staging" "$staging.log"
}

find_tool() {
  local wanted=$1
  for tool in "${TOOLS[@]}"; do
    read -r name package version <<<"$tool"
    if [ "$name" = "$wanted" ]; then
      build "$name" "$package" "$version"
      echo "$BIN/$name-$version"
      return 0
    fi
  done
  echo "go-tools.sh: no tool named $wanted (known: ${TOOLS[*]%% *})" >&2
  return 1
}

case "${1:-}" in
  "")
    for tool in "${TOOLS[@]}"; do
      read -r name package version <<<"$tool"
      build "$name" "$package" "$version"
    done
    ;;
  path) find_tool "${2:?usage: scripts/go-tools.sh path NAME}" ;;
  *)
    echo "usage: scripts/go-tools.sh [path NAME]" >&2
    exit 2
    ;;
esac

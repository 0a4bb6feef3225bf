#!/usr/bin/env bash
# Builds SeaweedFS's weed (the engine the S3 tests and `make demo-cluster`
# run) once into a cache directory and prints the binary's path on stdout;
# the build's own output goes to stderr. A binary already there is reused.
#
# SeaweedFS cannot be installed with `go install` (its go.mod has replace
# directives): the module is downloaded at one pinned version, copied out
# of the read-only module cache and built there. A cold build takes over
# ten minutes on two cores.
#
#   FERRY_WEED=$(scripts/seaweedfs.sh)
#
# FERRY_CACHE (default ~/.cache/ferry) is where it is kept.
set -euo pipefail

module=github.com/seaweedfs/seaweedfs
# One version, pinned: the one the tests were written against.
version=v0.0.0-20261109003541-7506e5f91cd6

cache=${FERRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry}/seaweedfs/$version
bin=$cache/weed
if [ -x "$bin" ]; then
  echo "seaweedfs: using $bin" >&2
  echo "$bin"
  exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
start=$(date +%s)
# Outside any module, so that ferry's go.mod and go.sum are left alone.
json=$(cd "$work" && GOFLAGS= go mod download -json "$module@$version")
dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
  echo "seaweedfs: go mod download gave no source directory:" >&2
  printf '%s\n' "$json" >&2
  exit 1
fi
cp -R "$dir" "$work/src"
chmod -R u+w "$work/src"
echo "seaweedfs: building weed $version into $bin (a cold build takes over ten minutes)" >&2
(cd "$work/src" && GOFLAGS=-mod=mod nice go build -o "$bin.tmp" ./weed) >&2
mv "$bin.tmp" "$bin"
echo "seaweedfs: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"

#!/usr/bin/env bash
# Compatibility check against the REAL Jetstream: builds Bluesky's classic
# Jetstream (github.com/bluesky-social/jetstream, ./cmd/jetstream, at the
# version below: the one that reads one firehose directly) and runs
# tests/jetstream, which points it (JETSTREAM_WS_URL) at a live Hearth's
# subscribeRepos, runs a workload, and compares what the real Jetstream
# sends with Hearth's own /subscribe, message by message.
#
#   make test-jetstream
#   bash scripts/test-jetstream.sh
#
# Idempotent: the binary goes to .cache/bin/jetstream and is rebuilt only when
# .cache/bin/jetstream.stamp does not record the same Jetstream and Go
# versions. `go install` of the module is refused (its go.mod has replace
# directives), so the script takes the module with `go mod download`, copies
# it somewhere writable and builds it there with cgo (gcc: its zstd library).
# The test runs with JETSTREAM_REQUIRED=1 (a reason to skip is a failure),
# and the script also fails on any "--- SKIP".
# Env: GO (default go).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO="${GO:-go}"
GOBIN_DIR="$ROOT/.cache/bin"
JS_BIN="$GOBIN_DIR/jetstream"
STAMP="$GOBIN_DIR/jetstream.stamp"
JS_MODULE="github.com/bluesky-social/jetstream"
JS_VERSION="v0.0.0-20251009222037-7d7efa58d7f1"

log() { echo "test-jetstream: $*" >&2; }

want_stamp="jetstream $JS_VERSION $("$GO" env GOVERSION)"

if [ -x "$JS_BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ]; then
	log "jetstream already built ($want_stamp)"
else
	if ! command -v gcc >/dev/null 2>&1 && ! command -v cc >/dev/null 2>&1; then
		log "Jetstream needs cgo (its zstd library): install gcc (make apt-deps)"
		exit 1
	fi
	log "building $JS_MODULE@$JS_VERSION ./cmd/jetstream into $GOBIN_DIR (a few minutes)"
	mkdir -p "$GOBIN_DIR"
	rm -f "$STAMP"
	t0=$SECONDS
	dl="$(mktemp -d)"
	src="$(mktemp -d)"
	trap 'chmod -R u+w "$dl" "$src" 2>/dev/null; rm -rf "$dl" "$src"' EXIT
	dir="$(cd "$dl" && GOFLAGS=-mod=mod GOWORK=off "$GO" mod download -json "$JS_MODULE@$JS_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	if [ -z "$dir" ] || [ ! -d "$dir" ]; then
		log "go mod download of $JS_MODULE@$JS_VERSION gave no directory"
		exit 1
	fi
	cp -r "$dir/." "$src/"
	chmod -R u+w "$src"
	(cd "$src" && CGO_ENABLED=1 GOFLAGS=-mod=mod GOWORK=off "$GO" build -o "$JS_BIN" ./cmd/jetstream)
	chmod -R u+w "$dl" "$src" 2>/dev/null || true
	rm -rf "$dl" "$src"
	trap - EXIT
	echo "$want_stamp" >"$STAMP"
	log "jetstream built in $((SECONDS - t0))s"
fi

# Jetstream's zstd dictionary, from the module (Hearth does not ship it).
JS_DIR="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod GOWORK=off "$GO" mod download -json "$JS_MODULE@$JS_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
JS_DICT="$JS_DIR/pkg/models/zstd_dictionary"
if [ ! -f "$JS_DICT" ]; then
	log "Jetstream's zstd dictionary is not at $JS_DICT"
	exit 1
fi

log "running tests/jetstream with JETSTREAM_BIN=$JS_BIN"
t0=$SECONDS
cd "$ROOT"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
if ! JETSTREAM_BIN="$JS_BIN" JETSTREAM_ZSTD_DICT="$JS_DICT" JETSTREAM_REQUIRED=1 "$GO" test -count=1 -v -timeout 10m ./tests/jetstream/ 2>&1 | tee "$out"; then
	log "tests/jetstream FAILED after $((SECONDS - t0))s"
	exit 1
fi
if grep -q -- '--- SKIP' "$out"; then
	log "tests/jetstream skipped a test (see the reason above): the Jetstream compatibility check did not fully run"
	exit 1
fi
log "tests/jetstream passed in $((SECONDS - t0))s"

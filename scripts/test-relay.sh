#!/usr/bin/env bash
# Interop check against a REAL relay: builds indigo's relay (cmd/relay, at the
# indigo version pinned in go.mod) and runs tests/relay, which subscribes it
# to a live Hearth on loopback and checks, through the relay's own API and
# firehose, that it accepted every event (see tests/relay/relay_test.go).
#
#   make test-relay
#   bash scripts/test-relay.sh
#
# Idempotent: the relay binary goes to .cache/bin/relay and is rebuilt only
# when .cache/bin/relay.stamp does not record the same indigo and Go versions
# (the first build needs cgo — gcc — and takes a few minutes).
# The test runs with RELAY_REQUIRED=1 (a reason to skip is a failure) and -v,
# and the script also fails if the output has a "--- SKIP": here a skipped
# interop check must never look like a pass.
# Env: RELAY_LOG_LEVEL (default debug; any other level cannot show the
# relay's MST inversions, so that check cannot run and the script fails),
# RELAY_TEST_VERBOSE=1 prints the whole relay log, GO (default go).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO="${GO:-go}"
GOBIN_DIR="$ROOT/.cache/bin"
RELAY_BIN="$GOBIN_DIR/relay"
STAMP="$GOBIN_DIR/relay.stamp"

log() { echo "test-relay: $*" >&2; }

INDIGO_VERSION="$(awk '$1 == "github.com/bluesky-social/indigo" { print $2; exit }' "$ROOT/go.mod")"
if [ -z "$INDIGO_VERSION" ]; then
	log "cannot find github.com/bluesky-social/indigo in go.mod"
	exit 1
fi
want_stamp="indigo $INDIGO_VERSION $("$GO" env GOVERSION)"

# --- the relay binary ---------------------------------------------------------
if [ -x "$RELAY_BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ]; then
	log "relay already built ($want_stamp)"
else
	if ! command -v gcc >/dev/null 2>&1 && ! command -v cc >/dev/null 2>&1; then
		log "the relay needs cgo (its SQLite driver): install gcc (make apt-deps)"
		exit 1
	fi
	log "building github.com/bluesky-social/indigo/cmd/relay@$INDIGO_VERSION into $GOBIN_DIR (a few minutes)"
	mkdir -p "$GOBIN_DIR"
	rm -f "$STAMP"
	t0=$SECONDS
	(cd "$ROOT" && GOBIN="$GOBIN_DIR" CGO_ENABLED=1 GOFLAGS= GOWORK=off \
		"$GO" install "github.com/bluesky-social/indigo/cmd/relay@$INDIGO_VERSION")
	echo "$want_stamp" >"$STAMP"
	log "relay built in $((SECONDS - t0))s"
fi

# --- the test-only loopback variant (tests/relay/reach_test.go) ---------------
bash "$ROOT/scripts/ensure-relay-loopback.sh"
RELAY_LOOPBACK_BIN="$GOBIN_DIR/relay-loopback"

# --- the test -----------------------------------------------------------------
log "running tests/relay with RELAY_BIN=$RELAY_BIN"
t0=$SECONDS
cd "$ROOT"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
if ! RELAY_BIN="$RELAY_BIN" RELAY_LOOPBACK_BIN="$RELAY_LOOPBACK_BIN" RELAY_REQUIRED=1 "$GO" test -count=1 -v -timeout 10m ./tests/relay/ 2>&1 | tee "$out"; then
	log "tests/relay FAILED after $((SECONDS - t0))s"
	exit 1
fi
if grep -q -- '--- SKIP' "$out"; then
	log "tests/relay skipped a test (see the reason above): the relay interop check did not fully run"
	exit 1
fi
log "tests/relay passed in $((SECONDS - t0))s"

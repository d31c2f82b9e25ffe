#!/usr/bin/env bash
# Account migration end to end with real peers: an account moves from the
# reference PDS (@atproto/pds, pinned in tests/refpds/package-lock.json) into
# hearthd and out again to a second reference PDS, with goat, against a local
# did:plc directory (see tests/migrate/migrate_test.go).
#
#   make test-migrate
#   bash scripts/test-migrate.sh
#
# Idempotent, cached under .cache/ (gitignored):
#   - goat (indigo cmd/goat at GOAT_VERSION) into .cache/bin/goat, rebuilt
#     only when .cache/bin/goat.stamp records another version or Go;
#   - Node 22 (scripts/ensure-node22.sh);
#   - the reference PDS in .cache/refpds: `npm ci --ignore-scripts` from the
#     committed lock, then better-sqlite3's native module compiled with
#     node-gyp against Node 22's own headers (the system npm's default
#     nodedir is the system Node 20's, whose module ABI Node 22 refuses);
#     redone only when the lock, index.js or the Node version changed.
# The test runs with MIGRATE_REQUIRED=1 (a reason to skip is a failure) and
# the script also fails on any "--- SKIP".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO="${GO:-go}"
GOAT_VERSION="${GOAT_VERSION:-v0.0.0-20251003000214-3259b215110e}"
BIN_DIR="$ROOT/.cache/bin"
GOAT="$BIN_DIR/goat"
REFPDS_SRC="$ROOT/tests/refpds"
REFPDS="$ROOT/.cache/refpds"
HEARTHD="$ROOT/.cache/bin/hearthd-migrate"
T0=$SECONDS

log() { echo "test-migrate: $*" >&2; }

# --- goat -----------------------------------------------------------------------
want="goat $GOAT_VERSION $("$GO" env GOVERSION)"
if [ -x "$GOAT" ] && [ -f "$GOAT.stamp" ] && [ "$(cat "$GOAT.stamp")" = "$want" ]; then
	log "goat already built ($want)"
else
	log "building github.com/bluesky-social/indigo/cmd/goat@$GOAT_VERSION into $BIN_DIR"
	mkdir -p "$BIN_DIR"
	rm -f "$GOAT.stamp"
	(cd "$ROOT" && GOBIN="$BIN_DIR" GOFLAGS= GOWORK=off \
		"$GO" install "github.com/bluesky-social/indigo/cmd/goat@$GOAT_VERSION")
	echo "$want" >"$GOAT.stamp"
fi

# --- Node 22 and the reference PDS ---------------------------------------------
NODE="$(bash "$ROOT/scripts/ensure-node22.sh")"
NODE_DIR="$(cd "$(dirname "$NODE")/.." && pwd)"
export PATH="$(dirname "$NODE"):$PATH"
NPM_CLI="$(readlink -f "$(command -v npm)")"
npm22() {
	case "$NPM_CLI" in
	*.js) "$NODE" "$NPM_CLI" "$@" ;;
	*) npm "$@" ;;
	esac
}
GYP="$(dirname "$NPM_CLI")/../node_modules/node-gyp/bin/node-gyp.js"
[ -f "$GYP" ] || GYP="$(dirname "$(dirname "$NPM_CLI")")/node_modules/node-gyp/bin/node-gyp.js"

sum="$(cat "$REFPDS_SRC/package.json" "$REFPDS_SRC/package-lock.json" "$REFPDS_SRC/index.js" | sha256sum | cut -d' ' -f1)-$("$NODE" --version)"
stamp="$REFPDS/.hearth-installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
	log "reference PDS already installed in $REFPDS"
else
	mkdir -p "$REFPDS"
	rm -f "$stamp"
	cp "$REFPDS_SRC/package.json" "$REFPDS_SRC/package-lock.json" "$REFPDS_SRC/index.js" "$REFPDS/"
	if [ ! -f "$REFPDS/node_modules/.package-lock.json" ] || ! cmp -s "$REFPDS_SRC/package-lock.json" "$REFPDS/.lock-installed"; then
		log "npm ci --ignore-scripts in $REFPDS (a few minutes the first time)"
		(cd "$REFPDS" && npm22 ci --ignore-scripts --no-audit --no-fund --loglevel=error)
		cp "$REFPDS_SRC/package-lock.json" "$REFPDS/.lock-installed"
	fi
	SQLITE_DIR="$REFPDS/node_modules/better-sqlite3"
	if ! (cd "$REFPDS" && "$NODE" -e 'new (require("better-sqlite3"))(":memory:").close()') 2>/dev/null; then
		log "compiling better-sqlite3 against Node $("$NODE" --version) headers (several minutes the first time)"
		[ -f "$GYP" ] || { log "node-gyp not found next to $NPM_CLI"; exit 1; }
		(cd "$SQLITE_DIR" && "$NODE" "$GYP" rebuild --release --nodedir="$NODE_DIR" -j 2 >"$REFPDS/node-gyp.log" 2>&1) ||
			{ tail -n 40 "$REFPDS/node-gyp.log" >&2; log "node-gyp failed (needs build-essential and python3: make apt-deps)"; exit 1; }
		(cd "$REFPDS" && "$NODE" -e 'new (require("better-sqlite3"))(":memory:").close()')
	fi
	echo "$sum" >"$stamp"
fi

# --- hearthd --------------------------------------------------------------------
log "building hearthd"
(cd "$ROOT" && "$GO" build -o "$HEARTHD" ./cmd/hearthd)
log "tools ready after $((SECONDS - T0))s"

# --- the test -------------------------------------------------------------------
t1=$SECONDS
cd "$ROOT"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
if ! GOAT_BIN="$GOAT" NODE22_BIN="$NODE" REFPDS_DIR="$REFPDS" HEARTHD_BIN="$HEARTHD" MIGRATE_REQUIRED=1 \
	"$GO" test -count=1 -v -timeout 8m ./tests/migrate/ 2>&1 | tee "$out"; then
	log "tests/migrate FAILED after $((SECONDS - t1))s"
	exit 1
fi
if grep -q -- '--- SKIP' "$out"; then
	log "tests/migrate skipped a test (see the reason above): the migration check did not fully run"
	exit 1
fi
log "tests/migrate passed in $((SECONDS - t1))s (total $((SECONDS - T0))s)"

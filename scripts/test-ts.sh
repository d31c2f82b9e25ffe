#!/usr/bin/env bash
# Cross-implementation check: runs the official TypeScript client
# (@atproto/api, pinned in tests/ts-client/package-lock.json) against a live
# hearthd on a free loopback port with a throwaway data directory.
#
#   make test-ts            (builds bin/hearthd first)
#   bash scripts/test-ts.sh
#
# Idempotent: Node 22 is fetched once into .cache/ (scripts/ensure-node22.sh)
# and `npm ci` runs only when node_modules is missing or the lock changed.
# Exits non-zero on failure, after printing the tail of the server's log.
# HEARTH_TS_KEEP=1 keeps the temporary data dir and log for inspection.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLIENT="$ROOT/tests/ts-client"
HEARTHD="$ROOT/bin/hearthd"

log() { echo "test-ts: $*" >&2; }

# --- Node 22 and the client's packages ---------------------------------------
NODE="$(bash "$ROOT/scripts/ensure-node22.sh")"
export PATH="$(dirname "$NODE"):$PATH"
# Run the system npm under Node 22 even if its launcher names another node
# (some distributions' npm starts with #!/usr/bin/node).
NPM_CLI="$(readlink -f "$(command -v npm)")"
npm22() {
	case "$NPM_CLI" in
	*.js) "$NODE" "$NPM_CLI" "$@" ;;
	*) npm "$@" ;;
	esac
}
log "node $(node --version), npm $(npm22 --version 2>/dev/null)"

lock_sum="$(cat "$CLIENT/package.json" "$CLIENT/package-lock.json" | sha256sum | cut -d' ' -f1)-$(node --version)"
stamp="$CLIENT/node_modules/.hearth-installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
	log "npm ci in tests/ts-client"
	(cd "$CLIENT" && npm22 ci --no-audit --no-fund --loglevel=error)
	echo "$lock_sum" >"$stamp"
fi

# --- the server ------------------------------------------------------------
# Always (go build is incremental): a stale bin/hearthd would test old code.
log "building bin/hearthd"
make -C "$ROOT" --no-print-directory build

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hearth-ts.XXXXXX")"
SERVER_LOG="$WORK/hearthd.log"
SERVER_PID=""
status=1

show_log() {
	if [ -s "$SERVER_LOG" ]; then
		echo "---- last 60 lines of the hearthd log ($SERVER_LOG) ----" >&2
		tail -n 60 "$SERVER_LOG" >&2
		echo "---- end of hearthd log ----" >&2
	fi
}

cleanup() {
	local rc=$?
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	if [ "$rc" != 0 ]; then
		show_log
	fi
	if [ "${HEARTH_TS_KEEP:-}" = 1 ] || [ "$rc" != 0 ]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
	node -e '
		const s = require("net").createServer()
		s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })'
}

healthy() {
	node -e '
		fetch(process.argv[1], { signal: AbortSignal.timeout(2000) })
			.then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "$1"
}

HANDLE="alice.test"
PASSWORD="hearth-ts-$(date +%s)-$$"
# The PLC directory is an unreachable loopback port: the genesis op stays
# pending, which does not matter to this test (nothing resolves the DID).
PLC_URL="http://127.0.0.1:9"

# The test runs a fake AppView on this port; hearthd proxies app.bsky.* to it.
APPVIEW_PORT="$(free_port)"
APPVIEW_DID="did:web:appview.test#bsky_appview"

# A freshly picked port can be taken before hearthd binds it: retry a few times.
started=""
for attempt in 1 2 3; do
	PORT="$(free_port)"
	URL="http://localhost:$PORT"
	DATA="$WORK/data-$attempt"
	mkdir -p "$DATA"
	DID="$("$HEARTHD" account create --data-dir "$DATA" --handle "$HANDLE" --password "$PASSWORD" \
		--public-url "$URL" --plc-url "$PLC_URL" 2>>"$SERVER_LOG")"
	log "created $HANDLE = $DID"
	"$HEARTHD" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --public-url "$URL" \
		--plc-url "$PLC_URL" --appview-url "http://127.0.0.1:$APPVIEW_PORT" --appview-did "$APPVIEW_DID" \
		--relays "" 2>>"$SERVER_LOG" &
	SERVER_PID=$!
	for _ in $(seq 150); do
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			break
		fi
		if healthy "http://127.0.0.1:$PORT/xrpc/_health"; then
			started=1
			break
		fi
		sleep 0.2
	done
	[ -n "$started" ] && break
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		log "hearthd did not answer /xrpc/_health within 30s"
		exit 1
	fi
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
	log "hearthd exited before it was ready (attempt $attempt)"
done
if [ -z "$started" ]; then
	log "could not start hearthd"
	exit 1
fi
log "hearthd (pid $SERVER_PID) ready on $URL"

# --- the client test -------------------------------------------------------
# Node's test runner summary (ℹ tests/pass/fail/duration_ms) is the last output.
set +e
(cd "$CLIENT" && HEARTH_URL="$URL" HEARTH_HANDLE="$HANDLE" HEARTH_PASSWORD="$PASSWORD" HEARTH_DID="$DID" \
	HEARTH_APPVIEW_PORT="$APPVIEW_PORT" HEARTH_APPVIEW_DID="$APPVIEW_DID" \
	timeout 300 node --test --test-reporter=spec --test-timeout=60000 client.test.mjs)
status=$?
set -e
exit "$status"

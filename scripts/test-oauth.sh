#!/usr/bin/env bash
# End-to-end OAuth sign-in with the real @atproto/oauth-client-node (pinned in
# tests/oauth-client/package-lock.json) as a loopback client against a live
# `hearthd serve` on a free loopback port, with a local PLC directory
# (internal/cmd/localplc) the client resolves the account's DID through. The
# consent page is driven by Playwright (playwright-core) in Debian's chromium.
#
#   make test-oauth            (builds bin/hearthd first)
#   bash scripts/test-oauth.sh
#
# Idempotent like scripts/test-ts.sh: Node 22 is fetched once into .cache/,
# `npm ci` runs only when node_modules is missing or the lock changed.
# HEARTH_OAUTH_KEEP=1 keeps the temporary data dir and logs;
# HEARTH_OAUTH_SCREENSHOTS=DIR saves the sign-in page as DIR/oauth-sign-in.png.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLIENT="$ROOT/tests/oauth-client"
HEARTHD="$ROOT/bin/hearthd"
LOCALPLC="$ROOT/bin/localplc"
GO="${GO:-go}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

log() { echo "test-oauth: $*" >&2; }

if [ ! -x "$CHROMIUM" ]; then
	log "chromium is needed ($CHROMIUM; apt-get install chromium, or make apt-deps)"
	exit 1
fi

# --- Node 22 and the client's packages ---------------------------------------
# with-node22.sh npm-ci runs npm ci only when the lock or Node changed.
bash "$ROOT/frontend/tools/with-node22.sh" npm-ci "$CLIENT"
NODE="$(bash "$ROOT/scripts/ensure-node22.sh")"
export PATH="$(dirname "$NODE"):$PATH"
log "node $(node --version)"

# --- the binaries ------------------------------------------------------------
# Always (go build is incremental): a stale bin/hearthd would test old code.
log "building bin/hearthd"
make -C "$ROOT" --no-print-directory build
log "building bin/localplc"
(cd "$ROOT" && "$GO" build -o "$LOCALPLC" ./internal/cmd/localplc)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hearth-oauth.XXXXXX")"
SERVER_LOG="$WORK/hearthd.log"
PLC_LOG="$WORK/localplc.log"
SERVER_PID=""
PLC_PID=""

stop() {
	local pid="$1"
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	stop "$SERVER_PID"
	stop "$PLC_PID"
	if [ "$rc" != 0 ] && [ -s "$SERVER_LOG" ]; then
		echo "---- last 60 lines of the hearthd log ($SERVER_LOG) ----" >&2
		tail -n 60 "$SERVER_LOG" >&2
		echo "---- end of hearthd log ----" >&2
	fi
	if [ "${HEARTH_OAUTH_KEEP:-}" = 1 ] || [ "$rc" != 0 ]; then
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

# --- the local PLC directory (it picks its own port and prints it) ---------
"$LOCALPLC" -listen 127.0.0.1:0 >"$PLC_LOG" 2>&1 &
PLC_PID=$!
PLC_URL=""
for _ in $(seq 100); do
	PLC_URL="$(sed -n 's/^listening on //p' "$PLC_LOG" | head -n1)"
	[ -n "$PLC_URL" ] && break
	kill -0 "$PLC_PID" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$PLC_URL" ]; then
	log "localplc did not start: $(cat "$PLC_LOG")"
	exit 1
fi
log "local PLC on $PLC_URL"

# --- the server ------------------------------------------------------------
HANDLE="alice.test"
PASSWORD="hearth-oauth-$(date +%s)-$$"
started=""
for attempt in 1 2 3; do
	PORT="$(free_port)"
	URL="http://localhost:$PORT"
	DATA="$WORK/data-$attempt"
	mkdir -p "$DATA"
	DID="$("$HEARTHD" account create --data-dir "$DATA" --handle "$HANDLE" --email "alice@example.com" --password "$PASSWORD" \
		--public-url "$URL" --plc-url "$PLC_URL" 2>>"$SERVER_LOG")"
	log "created $HANDLE = $DID"
	# No --allow-private-network: loopback clients need no metadata fetch.
	"$HEARTHD" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --public-url "$URL" \
		--plc-url "$PLC_URL" --relays "" 2>>"$SERVER_LOG" &
	SERVER_PID=$!
	for _ in $(seq 150); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
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
SHOTS=""
if [ -n "${HEARTH_OAUTH_SCREENSHOTS:-}" ]; then
	mkdir -p "$HEARTH_OAUTH_SCREENSHOTS"
	SHOTS="$(cd "$HEARTH_OAUTH_SCREENSHOTS" && pwd)"
fi
set +e
(cd "$CLIENT" && HEARTH_URL="$URL" HEARTH_HANDLE="$HANDLE" HEARTH_PASSWORD="$PASSWORD" HEARTH_DID="$DID" \
	HEARTH_PLC_URL="$PLC_URL" CHROMIUM="$CHROMIUM" HEARTH_OAUTH_SCREENSHOTS="$SHOTS" \
	timeout 300 node --test --test-reporter=spec --test-timeout=120000 oauth.test.mjs)
status=$?
set -e
exit "$status"

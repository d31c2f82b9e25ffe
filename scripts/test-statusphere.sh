#!/usr/bin/env bash
# "Statusphere runs on Hearth": a Statusphere-style app (tests/statusphere/app.mjs:
# the real @atproto/oauth-client-node as a loopback client, records written
# through the OAuth session, a Jetstream consumer) against a live
# `hearthd devnet` on free loopback ports, fully offline. Playwright
# (playwright-core) drives the app and the PDS's consent page in Debian's
# chromium: sign up, log in, Allow, set a status, see it on /subscribe.
#
#   make test-statusphere      (builds bin/hearthd first)
#   bash scripts/test-statusphere.sh
#
# Idempotent like scripts/test-oauth.sh: Node 22 is fetched once into .cache/,
# `npm ci` runs only when node_modules is missing or the lock changed.
# HEARTH_STATUSPHERE_KEEP=1 keeps the devnet's data dir and log;
# HEARTH_STATUSPHERE_SCREENSHOTS=DIR saves the consent page and the app's home page.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APP="$ROOT/tests/statusphere"
HEARTHD="$ROOT/bin/hearthd"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

log() { echo "test-statusphere: $*" >&2; }

if [ ! -x "$CHROMIUM" ]; then
	log "chromium is needed ($CHROMIUM; apt-get install chromium, or make apt-deps)"
	exit 1
fi

# --- Node 22 and the app's packages ------------------------------------------
# with-node22.sh npm-ci runs npm ci only when the lock or Node changed.
bash "$ROOT/frontend/tools/with-node22.sh" npm-ci "$APP"
NODE="$(bash "$ROOT/scripts/ensure-node22.sh")"
export PATH="$(dirname "$NODE"):$PATH"
log "node $(node --version)"

# Always (go build is incremental): a stale bin/hearthd would test old code.
log "building bin/hearthd"
make -C "$ROOT" --no-print-directory build

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hearth-statusphere.XXXXXX")"
DEVNET_LOG="$WORK/devnet.log"
DEVNET_OUT="$WORK/devnet.json"
DEVNET_PID=""

cleanup() {
	local rc=$?
	if [ -n "$DEVNET_PID" ] && kill -0 "$DEVNET_PID" 2>/dev/null; then
		kill -TERM "$DEVNET_PID" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$DEVNET_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$DEVNET_PID" 2>/dev/null || true
	fi
	[ -n "$DEVNET_PID" ] && wait "$DEVNET_PID" 2>/dev/null || true
	if [ "$rc" != 0 ] && [ -s "$DEVNET_LOG" ]; then
		echo "---- last 60 lines of the devnet log ($DEVNET_LOG) ----" >&2
		tail -n 60 "$DEVNET_LOG" >&2
		echo "---- end of devnet log ----" >&2
	fi
	if [ "${HEARTH_STATUSPHERE_KEEP:-}" = 1 ] || [ "$rc" != 0 ]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Two free ports: the PDS's and, next to it, the PLC directory's.
free_ports() {
	node -e '
		const net = require("net")
		const take = (port) => new Promise((ok, no) => {
			const s = net.createServer().once("error", no)
			s.listen(port, "127.0.0.1", () => { const p = s.address().port; s.close(() => ok(p)) })
		})
		;(async () => {
			for (;;) {
				const a = await take(0)
				const b = await take(a + 1).catch(() => 0)
				if (b) { console.log(a, b); return }
			}
		})()'
}

# --- the devnet ------------------------------------------------------------
INFO=""
for attempt in 1 2 3; do
	read -r PORT PLC_PORT < <(free_ports)
	"$HEARTHD" devnet --data-dir "$WORK/devnet-$attempt" --listen "127.0.0.1:$PORT" \
		--plc-listen "127.0.0.1:$PLC_PORT" >"$DEVNET_OUT" 2>>"$DEVNET_LOG" &
	DEVNET_PID=$!
	for _ in $(seq 300); do
		INFO="$(head -n1 "$DEVNET_OUT")"
		[ -n "$INFO" ] && break
		kill -0 "$DEVNET_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$INFO" ] && break
	if kill -0 "$DEVNET_PID" 2>/dev/null; then
		log "hearthd devnet printed nothing within 30s"
		exit 1
	fi
	wait "$DEVNET_PID" 2>/dev/null || true
	DEVNET_PID=""
	log "hearthd devnet exited before it was ready (attempt $attempt)"
done
if [ -z "$INFO" ]; then
	log "could not start hearthd devnet"
	exit 1
fi
log "devnet (pid $DEVNET_PID): $INFO"
field() { node -e 'console.log(JSON.parse(process.argv[1])[process.argv[2]])' "$INFO" "$1"; }

# --- the app and the browser -----------------------------------------------
SHOTS=""
if [ -n "${HEARTH_STATUSPHERE_SCREENSHOTS:-}" ]; then
	mkdir -p "$HEARTH_STATUSPHERE_SCREENSHOTS"
	SHOTS="$(cd "$HEARTH_STATUSPHERE_SCREENSHOTS" && pwd)"
fi
set +e
(cd "$APP" && PDS_URL="$(field pds)" PLC_URL="$(field plc)" JETSTREAM_URL="$(field jetstream)" \
	CHROMIUM="$CHROMIUM" HEARTH_STATUSPHERE_SCREENSHOTS="$SHOTS" \
	timeout 300 node --test --test-reporter=spec --test-timeout=120000 statusphere.test.mjs)
status=$?
set -e
exit "$status"

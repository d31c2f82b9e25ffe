#!/usr/bin/env bash
# End-to-end test of the desktop window: runs `wails dev` (the real UI served
# by Vite, with live Go bindings, on http://localhost:34115, or another free
# port if that one is taken) under Xvfb with
# a throwaway data folder, a PLC directory that is unreachable at first and
# the native file dialogs preset to a temporary .car path, then drives it
# with Playwright (playwright-core + Debian's chromium): tests/e2e/gui.test.mjs.
#
# The PLC directory is a real one on loopback (internal/cmd/localplc, an
# in-memory directory that verifies every operation) on a port chosen up
# front. It starts only when the test creates $HEARTH_E2E_PLC_START, so the
# first steps see an unpublished DID and the Publish steps see its genesis
# and its move to the tunnel's URL really published.
#
#   make test-gui
#   bash scripts/test-gui.sh
#
# Idempotent set-up: Node 22 (frontend/tools/with-node22.sh), the Wails CLI
# (scripts/ensure-wails.sh), `npm ci` in frontend/ and tests/e2e/ only when
# their lock files changed. Every process started here is stopped on exit.
# HEARTH_GUI_KEEP=1 keeps the temporary folder (logs, data, CAR, failure
# screenshots); it is always kept when the test fails.
# HEARTH_GUI_BOOT_TIMEOUT (seconds, default 900) bounds the first start of
# wails dev, which compiles the app with cgo (GTK/WebKit).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E="$ROOT/tests/e2e"
FRONTEND="$ROOT/frontend"
BOOT_TIMEOUT="${HEARTH_GUI_BOOT_TIMEOUT:-900}"

log() { echo "test-gui: $*" >&2; }
t0=$SECONDS
elapsed() { echo "$((SECONDS - t0))s"; }

for cmd in xvfb-run chromium curl setsid; do
	if ! command -v "$cmd" >/dev/null 2>&1; then
		log "$cmd is missing: run make deps"
		exit 1
	fi
done

# --- tools ------------------------------------------------------------------
# Node 22 first on PATH (for npm, Vite, the test, and the npm that wails runs).
N22=(bash "$ROOT/frontend/tools/with-node22.sh")
WAILS="$(bash "$ROOT/scripts/ensure-wails.sh")"
"${N22[@]}" npm-ci "$FRONTEND"
"${N22[@]}" npm-ci "$E2E"

# The dev server's usual port, or a free one when it is taken (another wails
# dev on this machine).
PORT="$("${N22[@]}" node -e '
	const net = require("net")
	const tryPort = (p, host) => new Promise((ok) => {
		const s = net.createServer().once("error", (e) => ok(host === "::1" && e.code === "EADDRNOTAVAIL" ? p : 0))
		s.listen(p, host, () => { const a = s.address().port; s.close(() => ok(a)) })
	})
	// free on IPv4 AND IPv6 loopback: "localhost" may resolve to either, and
	// another wails dev on ::1 would otherwise answer this test
	const both = async (p) => { const a = await tryPort(p, "127.0.0.1"); return a && (await tryPort(a, "::1")) ? a : 0 }
	;(async () => { let p = await both(34115); for (let i = 0; !p && i < 20; i++) p = await both(0); console.log(p) })()')"
DEV_URL="http://localhost:$PORT"
# The local PLC directory's port (free now; the directory starts later).
PLC_PORT="$("${N22[@]}" node -e '
	const s = require("net").createServer()
	s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => console.log(p)) })')"
PLC_URL="http://127.0.0.1:$PLC_PORT"

# --- wails dev ----------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hearth-gui.XXXXXX")"
WAILS_LOG="$WORK/wails-dev.log"
WAILS_PID=""
PLC_PID=""
PLC_START="$WORK/plc-start"

# wails dev v2.9.2 runs `go mod tidy` before every compile even with -m (the
# flag does not reach its build options); that would rewrite go.mod/go.sum
# and needs test-only modules. This compiler wrapper makes it a no-op.
cat >"$WORK/go-no-tidy" <<SH
#!/bin/sh
if [ "\$1" = mod ] && [ "\$2" = tidy ]; then exit 0; fi
exec "$(command -v go)" "\$@"
SH
chmod +x "$WORK/go-no-tidy"

descendants() { # pid: all live descendants, children first
	local kids k
	kids="$(ps -o pid= --ppid "$1" 2>/dev/null || true)"
	for k in $kids; do
		descendants "$k"
		echo "$k"
	done
}

stop_wails() {
	[ -n "$WAILS_PID" ] || return 0
	local pids p
	# Collected before anything stops: vite runs in its own process group.
	pids="$(descendants "$WAILS_PID") $WAILS_PID"
	kill -TERM "$WAILS_PID" 2>/dev/null || true
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for _ in $(seq 50); do
		local alive=""
		for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ -z "$alive" ] && break
		sleep 0.1
	done
	for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
	wait "$WAILS_PID" 2>/dev/null || true
	WAILS_PID=""
}

stop_plc() {
	[ -n "$PLC_PID" ] || return 0
	kill -TERM "$PLC_PID" 2>/dev/null || true
	for _ in $(seq 30); do
		kill -0 "$PLC_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$PLC_PID" 2>/dev/null || true
	wait "$PLC_PID" 2>/dev/null || true
	PLC_PID=""
}

cleanup() {
	local rc=$?
	stop_wails
	stop_plc
	if [ "$rc" != 0 ] && [ -s "$WORK/localplc.log" ]; then
		echo "---- local PLC directory log ($WORK/localplc.log) ----" >&2
		tail -n 20 "$WORK/localplc.log" >&2 || true
	fi
	if [ "$rc" != 0 ] && [ -s "$WAILS_LOG" ]; then
		echo "---- last 40 lines of the wails dev log ($WAILS_LOG), asset requests left out ----" >&2
		grep -v -e 'AssetHandler\]' -e 'ExternalAssetHandler\]' "$WAILS_LOG" | tail -n 40 >&2 || true
		echo "---- end of wails dev log ----" >&2
	fi
	if [ "${HEARTH_GUI_KEEP:-}" = 1 ] || [ "$rc" != 0 ]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	log "finished in $(elapsed) (exit $rc)"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORK/data" "$WORK/artifacts"
CAR="$WORK/exported.car"

# The local PLC directory: built now, started when the test asks for it.
(cd "$ROOT" && go build -o "$WORK/localplc" ./internal/cmd/localplc)
(
	while [ ! -e "$PLC_START" ]; do sleep 0.2; done
	exec "$WORK/localplc" -listen "127.0.0.1:$PLC_PORT"
) >"$WORK/localplc.log" 2>&1 </dev/null &
PLC_PID=$!

log "starting wails dev under Xvfb (data in $WORK/data)"
(
	cd "$ROOT"
	export HEARTH_DATA_DIR="$WORK/data"
	export HEARTH_PLC_URL="$PLC_URL" # unreachable until the test starts it
	export HEARTH_E2E_SAVE_PATH="$CAR" HEARTH_E2E_OPEN_PATH="$CAR"
	# Handles under .test are this PDS's to give (the Account screen's handle change).
	export HEARTH_USER_DOMAINS=.test
	# "Start at login" writes its autostart entry here, not in your ~/.config.
	export XDG_CONFIG_HOME="$WORK/config"
	# No ngrok account here: an ngrok tunnel must fail for want of a token.
	unset NGROK_AUTHTOKEN
	# -s: Vite serves the frontend (no production build needed); -skipbindings:
	# the frontend does not use the generated wailsjs/ (saves one cgo build);
	# no reloads or rebuilds while the test runs.
	exec setsid xvfb-run -a -s "-screen 0 1280x900x24" \
		"${N22[@]}" "$WAILS" dev -m -nosyncgomod -s -skipbindings -noreload -nogorebuild -nocolour \
		-compiler "$WORK/go-no-tidy" -devserver "localhost:$PORT" -loglevel Info
) >"$WAILS_LOG" 2>&1 </dev/null &
WAILS_PID=$!

# Ready when the dev server serves the app's page and the app (with its
# engine) runs: wails dev starts the dev server only after the first build.
ready=""
deadline=$((SECONDS + BOOT_TIMEOUT))
while [ "$SECONDS" -lt "$deadline" ]; do
	if ! kill -0 "$WAILS_PID" 2>/dev/null; then
		log "wails dev exited before the window was ready"
		exit 1
	fi
	if grep -q 'Build error' "$WAILS_LOG"; then
		log "the app did not compile"
		exit 1
	fi
	if curl -sf --max-time 5 "$DEV_URL/" 2>/dev/null | grep -q '/src/main.ts' &&
		grep -q '"engine started"' "$WAILS_LOG"; then
		ready=1
		break
	fi
	sleep 1
done
if [ -z "$ready" ]; then
	log "wails dev was not ready within ${BOOT_TIMEOUT}s"
	exit 1
fi
log "wails dev ready after $(elapsed)"

# --- the test -----------------------------------------------------------------
set +e
(cd "$E2E" && HEARTH_GUI_URL="$DEV_URL/" HEARTH_E2E_CAR="$CAR" HEARTH_E2E_ARTIFACTS="$WORK/artifacts" CHROMIUM="$(command -v chromium)" \
	HEARTH_E2E_PLC_URL="$PLC_URL" HEARTH_E2E_PLC_START="$PLC_START" HEARTH_E2E_DATA_DIR="$WORK/data" \
	timeout 300 "${N22[@]}" node --test --test-reporter=spec --test-timeout=240000 gui.test.mjs)
status=$?
set -e
log "GUI test done after $(elapsed)"
exit "$status"

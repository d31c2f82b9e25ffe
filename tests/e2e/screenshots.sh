#!/usr/bin/env bash
# Takes the README's screenshots (docs/screenshots/*.png) of the real desktop
# binary (build/bin/hearth, from `make app`) running under Xvfb: it is driven
# with the keyboard through xdotool (Tab, typing, the window's Ctrl+1…5 /
# Ctrl+I shortcuts) and captured with ImageMagick's `import`. Records for the
# timeline are added through the app's own local XRPC API (seed.mjs). A local
# PLC directory (internal/cmd/localplc) starts before the Publish screen, so
# the identity is unpublished at first and published there.
#
#   make screenshots          (builds the app and installs imagemagick/xdotool)
#   bash tests/e2e/screenshots.sh
#
# Not part of `make test`. HEARTH_SHOTS_KEEP=1 keeps the temporary folder.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
E2E="$ROOT/tests/e2e"
BIN="$ROOT/build/bin/hearth"
OUT="$ROOT/docs/screenshots"
N22=(bash "$ROOT/frontend/tools/with-node22.sh")

log() { echo "screenshots: $*" >&2; }

if [ "${1:-}" != --inner ]; then
	for cmd in xvfb-run xdotool import identify; do
		command -v "$cmd" >/dev/null 2>&1 || {
			log "$cmd is missing (make screenshots installs imagemagick and xdotool)"
			exit 1
		}
	done
	[ -x "$BIN" ] || {
		log "$BIN is missing: run make app"
		exit 1
	}
	"${N22[@]}" npm-ci "$E2E"
	WORK="$(mktemp -d "${TMPDIR:-/tmp}/hearth-shots.XXXXXX")"
	export HEARTH_SHOTS_WORK="$WORK"
	status=0
	xvfb-run -a -s "-screen 0 1280x860x24" bash "${BASH_SOURCE[0]}" --inner || status=$?
	if [ "${HEARTH_SHOTS_KEEP:-}" = 1 ] || [ "$status" != 0 ]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$status"
fi

# --- inside Xvfb ----------------------------------------------------------------
WORK="$HEARTH_SHOTS_WORK"
DATA="$WORK/data"
CAR="$WORK/alex-example-com.car"
HANDLE="alex.example.com"
PASSWORD="a long and memorable passphrase"
mkdir -p "$OUT" "$DATA"
APP_PID=""
WID=""
PLC_PID=""
PLC_PORT="$("${N22[@]}" node -e '
	const s = require("net").createServer()
	s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => console.log(p)) })')"
(cd "$ROOT" && go build -o "$WORK/localplc" ./internal/cmd/localplc)

stop_app() {
	[ -n "$APP_PID" ] || return 0
	kill -TERM "$APP_PID" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$APP_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$APP_PID" 2>/dev/null || true
	wait "$APP_PID" 2>/dev/null || true
	APP_PID=""
}
stop_plc() {
	[ -n "$PLC_PID" ] || return 0
	kill -TERM "$PLC_PID" 2>/dev/null || true
	wait "$PLC_PID" 2>/dev/null || true
	PLC_PID=""
}
trap 'stop_app; stop_plc' EXIT

start_app() { # extra env assignments…
	env "$@" HEARTH_DATA_DIR="$DATA" HEARTH_PLC_URL="http://127.0.0.1:$PLC_PORT" \
		HEARTH_E2E_OPEN_PATH="$CAR" HEARTH_E2E_SAVE_PATH="$WORK/export.car" \
		"$BIN" >>"$WORK/app.log" 2>&1 &
	APP_PID=$!
	WID=""
	for _ in $(seq 120); do
		WID="$(xdotool search --onlyvisible --name '^Hearth$' 2>/dev/null | head -n 1 || true)"
		[ -n "$WID" ] && break
		kill -0 "$APP_PID" 2>/dev/null || {
			log "the app exited; its log:"
			tail -n 30 "$WORK/app.log" >&2
			exit 1
		}
		sleep 0.5
	done
	[ -n "$WID" ] || {
		log "no Hearth window appeared"
		exit 1
	}
	sleep 4 # the page loads and the engine answers
	# Keyboard focus: the window (no window manager here), then the page.
	xdotool windowfocus --sync "$WID"
	xdotool mousemove --window "$WID" 1200 800 click 1
	sleep 0.5
}

keys() {
	xdotool key --delay 120 "$@"
	sleep 0.3
}
typing() {
	xdotool type --delay 30 "$1"
	sleep 1
}

shot() { # name
	sleep "${2:-1.5}"
	xdotool mousemove 1279 859 # the pointer out of the way
	import -window "$WID" "$OUT/$1.png"
	local sd
	sd="$(identify -format '%[fx:standard_deviation]' "$OUT/$1.png")"
	if awk "BEGIN { exit !($sd < 0.02) }"; then
		log "$1.png looks blank (standard deviation $sd)"
		exit 1
	fi
	log "docs/screenshots/$1.png"
}

# 1. First run, filled in.
start_app
keys Tab
typing "$HANDLE"
keys Tab
typing "$PASSWORD"
keys Tab Tab
typing "alex@example.com"
shot first-run 0.5
keys Return
shot first-run-did 2.5

# 2. Records, made through the local PDS, then the timeline with a post being written.
keys Return # "Start posting"
PORT="$(sed -n 's/.*"port": *\([0-9]*\).*/\1/p' "$DATA/desktop.json")"
"${N22[@]}" node "$E2E/seed.mjs" "http://localhost:$PORT" "$HANDLE" "$PASSWORD" "$CAR" >/dev/null
keys ctrl+2 ctrl+1 # back to Posts: the timeline reloads
keys Tab
typing "Writing here finds links like https://bsky.app and tags like #hearth as you type."
shot compose-timeline 4

keys ctrl+2
shot blobs 2
keys ctrl+3
shot repo-browser 2
keys ctrl+i # import: inspect the CAR, then the dialog asks to confirm
shot car-import 2.5
keys Escape
keys ctrl+5
shot status 2

# 3. Publish: the PLC directory comes up; "My own URL" set to the PDS's own
# local address (the test-only loopback tunnel is not offered here), then the
# self-check.
"$WORK/localplc" -listen "127.0.0.1:$PLC_PORT" >>"$WORK/localplc.log" 2>&1 &
PLC_PID=$!
keys ctrl+6
keys Tab Down Tab # the tunnel kinds: "My own URL", then its Public URL field
typing "http://localhost:$PORT"
keys Return
sleep 2
keys Tab Return # Run self-check
shot publish 3
keys Tab # on to the handle field: the page scrolls to the self-check's results
shot publish-checks 1.5
stop_app

# 3. The same in dark mode (WebKitGTK follows the GTK theme).
start_app GTK_THEME=Adwaita:dark
keys ctrl+1
shot compose-timeline-dark 2
stop_app
log "done"

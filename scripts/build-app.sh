#!/usr/bin/env bash
# `make app` (and so `make run`): everything a fresh clone needs to build
# build/bin/hearth, with the slow independent steps in parallel, and
# progress messages that say how long each step takes.
#
# In the background from the start: the Wails CLI build (Go only; the
# slowest single step on a fresh machine) and `go mod download`. In the
# foreground meanwhile: the system packages (apt; it may ask for sudo) and
# the frontend (npm ci, vite build). Then one `wails build`, which compiles
# the app once. Every step is cached: a second run takes seconds.
#
# The estimates below were measured on a 2-core Debian 12 machine (see the
# README, "First run"); each step prints how long it really took.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MAKE="${MAKE:-make}"
GO="${GO:-go}"
LOG="$ROOT/.cache/first-run"
mkdir -p "$LOG"
t0=$SECONDS
clock() { printf '%dm%02ds' $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60)); }
say() { echo "hearth: [$(clock)] $*" >&2; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Is the Wails CLI already built? (ensure-wails.sh answers at once then.)
wails_cached=0
for d in "$ROOT"/.cache/wails-*/; do [ -x "$d/wails" ] && wails_cached=1; done
if [ "$wails_cached" = 1 ]; then
	say "1/4 Wails CLI: checking the cached one"
else
	say "1/4 Wails CLI: building it in the background (about 5-8 minutes the first time on 2 cores; cached in .cache/ afterwards); log: .cache/first-run/wails.log"
fi
(bash scripts/ensure-wails.sh >"$LOG/wails.path" 2>"$LOG/wails.log") &
wails_pid=$!
pids+=("$wails_pid")
("$GO" mod download >"$LOG/go-mod.log" 2>&1) &
gomod_pid=$!
pids+=("$gomod_pid")

s=$SECONDS
say "2/4 system packages (GTK, WebKitGTK, build tools): installing what is missing (up to a few minutes the first time, depending on your network)"
"$MAKE" --no-print-directory -s apt-deps
say "    system packages ready ($((SECONDS - s))s)"

s=$SECONDS
say "3/4 frontend: npm ci and vite build (about 1 minute the first time — measured 65s —, seconds afterwards)"
"$MAKE" --no-print-directory -s frontend >"$LOG/frontend.log" 2>&1 || {
	tail -n 40 "$LOG/frontend.log" >&2
	say "the frontend build failed (full log: .cache/first-run/frontend.log)"
	exit 1
}
say "    frontend ready ($((SECONDS - s))s)"

if ! wait "$gomod_pid"; then
	tail -n 20 "$LOG/go-mod.log" >&2
	say "go mod download failed"
	exit 1
fi
s=$SECONDS
if ! kill -0 "$wails_pid" 2>/dev/null; then :; else say "    waiting for the Wails CLI build to finish…"; fi
if ! wait "$wails_pid"; then
	tail -n 40 "$LOG/wails.log" >&2
	say "building the Wails CLI failed (full log: .cache/first-run/wails.log)"
	exit 1
fi
pids=()
WAILS="$(cat "$LOG/wails.path")"
[ "$((SECONDS - s))" -gt 1 ] && say "    Wails CLI ready (waited $((SECONDS - s))s more)"

s=$SECONDS
say "4/4 building the app, once (about 3-5 minutes the first time on 2 cores: it compiles the whole app and its WebKitGTK bindings with cgo; measured 4m45s on a busy 2-core machine)"
bash frontend/tools/with-node22.sh "$WAILS" build -s -m -nosyncgomod -skipbindings
say "built $ROOT/build/bin/hearth (this step $((SECONDS - s))s; all steps $(clock))"

#!/usr/bin/env bash
# Benchmarks hearthd (`make bench`): builds cmd/hearthbench, which starts
# fresh hearthd processes on free 127.0.0.1 ports with data dirs in a temp
# dir, drives them over HTTP and prints ONE JSON object on stdout. Progress
# and server-log excerpts go to stderr.
#
# Environment:
#   HEARTHD          hearthd binary (default: bin/hearthd, built if missing)
#   BENCH_TMPDIR     where the temp work dir goes (default: $TMPDIR or /tmp);
#                    it is the filesystem whose fsync floor is measured
#   KEEP_BENCH_DIR=1 keep the work dir (server logs, databases) afterwards
#   HEARTHBENCH_ARGS extra flags for hearthbench (e.g. "--import-records 20000")
# Arguments, if any, come first on hearthbench's command line (scripts/
# bench-scale.sh passes "scale --records …").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
GO=${GO:-go}
HEARTHD=${HEARTHD:-$ROOT/bin/hearthd}
if [[ ! -x $HEARTHD ]]; then
	"$GO" build -o "$ROOT/bin/hearthd" ./cmd/hearthd
	HEARTHD=$ROOT/bin/hearthd
fi

WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/hearthbench.XXXXXX")
PIDS=$WORK/pids

cleanup() {
	# Kill only the hearthd processes this run started (hearthbench stops
	# them itself; this covers a crash or Ctrl-C), checking each PID still
	# runs our binary before signalling it.
	if [[ -f $PIDS ]]; then
		while read -r pid; do
			[[ $pid =~ ^[0-9]+$ ]] || continue
			if [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$(readlink -f "$HEARTHD")" ]]; then
				kill -KILL "$pid" 2>/dev/null || true
			fi
		done <"$PIDS"
	fi
	if [[ ${KEEP_BENCH_DIR:-} == 1 ]]; then
		echo "${BENCH_NAME:-bench}: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$GO" build -o "$WORK/hearthbench" ./cmd/hearthbench
REV=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)

# shellcheck disable=SC2086 # HEARTHBENCH_ARGS is split on purpose
"$WORK/hearthbench" "$@" --hearthd "$HEARTHD" --work-dir "$WORK" --pid-file "$PIDS" --revision "$REV" ${HEARTHBENCH_ARGS:-} >"$WORK/result.json"
cat "$WORK/result.json"

#!/usr/bin/env bash
# Scale benchmark (`make bench-scale`): builds cmd/hearthbench and runs
# `hearthbench scale`, which for each repo size generates a signed CAR of
# realistic records, imports it into a fresh hearthd on a free 127.0.0.1
# port, restarts it and measures the first write, writes, getRepo and
# memory. Prints ONE JSON object on stdout; progress goes to stderr.
#
# Environment:
#   HEARTHD          hearthd binary (default: bin/hearthd, built if missing)
#   SCALE_RECORDS    repo sizes (default: 10000,100000,1000000)
#   BENCH_TMPDIR     where the temp work dir goes (default: $TMPDIR or /tmp)
#   KEEP_BENCH_DIR=1 keep the work dir afterwards
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
GO=${GO:-go}
HEARTHD=${HEARTHD:-$ROOT/bin/hearthd}
if [[ ! -x $HEARTHD ]]; then
	"$GO" build -o "$ROOT/bin/hearthd" ./cmd/hearthd
	HEARTHD=$ROOT/bin/hearthd
fi

WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/hearthscale.XXXXXX")
PIDS=$WORK/pids

cleanup() {
	# Kill only the hearthd processes this run started.
	if [[ -f $PIDS ]]; then
		while read -r pid; do
			[[ $pid =~ ^[0-9]+$ ]] || continue
			if [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$(readlink -f "$HEARTHD")" ]]; then
				kill -KILL "$pid" 2>/dev/null || true
			fi
		done <"$PIDS"
	fi
	if [[ ${KEEP_BENCH_DIR:-} == 1 ]]; then
		echo "bench-scale: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$GO" build -o "$WORK/hearthbench" ./cmd/hearthbench
REV=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
"$WORK/hearthbench" scale --hearthd "$HEARTHD" --work-dir "$WORK" --pid-file "$PIDS" --revision "$REV" \
	--records "${SCALE_RECORDS:-10000,100000,1000000}" >"$WORK/result.json"
cat "$WORK/result.json"

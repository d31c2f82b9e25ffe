#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a short while (FUZZTIME:
# default 20000 inputs each, after the committed corpus), one at a time, and
# fails if any finds a failure. The default is a count, not a duration: a
# duration's deadline can end a run with "context deadline exceeded" when a
# busy machine is slow to stop its fuzz workers, which is no finding.
# Targets are discovered with `go test -list`, so new Fuzz* functions are
# picked up without editing this script. A failing input is written by Go to
# the package's testdata/fuzz/<Target>/ directory: commit it as a regression.
#
#   FUZZTIME=2m scripts/fuzz-short.sh            # longer runs (a duration)
#   FUZZPKGS=./pds/repos/ scripts/fuzz-short.sh  # only some packages
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-20000x}
pkgs=${FUZZPKGS:-./...}
failed=()
count=0

# `go test -list` prints the matching names of each package, then
# "ok <import path> <time>" (or "? ..." with no test files).
while read -r pkg; do
	names=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
	for name in $names; do
		count=$((count + 1))
		echo "== $pkg $name (fuzztime $fuzztime)"
		if ! go test "$pkg" -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime"; then
			failed+=("$pkg $name")
		fi
	done
done < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' $pkgs | grep -v '^$')

echo "== ran $count fuzz targets"
if ((${#failed[@]} > 0)); then
	printf 'FAILED: %s\n' "${failed[@]}" >&2
	exit 1
fi

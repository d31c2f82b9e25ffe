#!/usr/bin/env bash
# Makes golangci-lint (v2; GOLANGCI_LINT_VERSION overrides the pin) available
# in .cache/bin and prints the path of the executable on stdout (everything
# else goes to stderr).
#
#   LINT="$(bash scripts/ensure-golangci-lint.sh)"
#
# It is built from source with the local Go through the Go module proxy
# (`go install …@version`, checked against the checksum database), so it is
# compiled by the same Go as this module and can read its export data.
# Idempotent: later runs only check that the binary runs and is the right
# version (about a minute and a half on two cores the first time).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${GOLANGCI_LINT_VERSION:-v2.15.0}"
BINDIR="$ROOT/.cache/bin"
LINT="$BINDIR/golangci-lint"

log() { echo "ensure-golangci-lint: $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
	for d in /usr/local/go/bin "$HOME/go/bin"; do
		if [ -x "$d/go" ]; then PATH="$d:$PATH"; fi
	done
fi
if ! command -v go >/dev/null 2>&1; then
	log "Go is needed to build golangci-lint"
	exit 1
fi

works() {
	[ -x "$LINT" ] || return 1
	local v
	v="$("$LINT" version --short 2>/dev/null)" || return 1
	v="${v%%$'\n'*}"
	# `version --short` prints 2.15.0 (no v); built by a different Go than
	# the current one it may not load this module's packages: rebuild.
	[ "v${v//[[:space:]]/}" = "$VERSION" ] || return 1
	local built
	built="$("$LINT" version 2>/dev/null)" || return 1
	[[ "$built" == *"built with $(go env GOVERSION) "* ]]
}

if works; then
	echo "$LINT"
	exit 0
fi

mkdir -p "$BINDIR"
# Serialise concurrent runs; the loser finds the finished binary.
exec 9>"$ROOT/.cache/.golangci-lint.lock"
if command -v flock >/dev/null 2>&1; then
	flock 9
fi
if works; then
	echo "$LINT"
	exit 0
fi

log "building golangci-lint $VERSION into $BINDIR; this takes a minute or two once"
(
	cd "$ROOT"
	GOBIN="$BINDIR" GOWORK=off \
		go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$VERSION"
) >&2 || {
	log "building golangci-lint $VERSION failed"
	exit 1
}
if ! works; then
	log "$LINT does not run or is not $VERSION"
	exit 1
fi
log "installed $LINT"
echo "$LINT"

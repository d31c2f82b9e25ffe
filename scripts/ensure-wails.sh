#!/usr/bin/env bash
# Makes the Wails CLI v2.9.2 (the version in go.mod) available and prints the
# path of its `wails` executable on stdout (everything else goes to stderr).
#
#   WAILS="$(bash scripts/ensure-wails.sh)"
#
# Why not `go install github.com/wailsapp/wails/v2/cmd/wails@v2.9.2`: that CLI
# pins golang.org/x/tools v0.17.0, which does not compile with Go >= 1.26 and,
# built with Go 1.24, cannot read the Go 1.26 export data of this module:
# `wails dev` and `wails build` then stop with `internal error: package
# "context" without types`. So the CLI is built here, unchanged, in a small
# throwaway module that only raises golang.org/x/tools (the CLI uses just
# go/packages.Load from it). Everything comes through the Go module proxy and
# is checked against go.sum / the checksum database.
#
# Idempotent: the binary lives in .cache/ (gitignored); later runs only check
# that it runs and is the right version. WAILS_VERSION / WAILS_X_TOOLS
# override the pins.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${WAILS_VERSION:-v2.9.2}"
XTOOLS="${WAILS_X_TOOLS:-v0.52.0}"
DEST="$ROOT/.cache/wails-$VERSION-xtools-$XTOOLS"
WAILS="$DEST/wails"

log() { echo "ensure-wails: $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
	for d in /usr/local/go/bin "$HOME/go/bin"; do
		if [ -x "$d/go" ]; then PATH="$d:$PATH"; fi
	done
fi
if ! command -v go >/dev/null 2>&1; then
	log "Go is needed to build the Wails CLI"
	exit 1
fi

works() {
	[ -x "$WAILS" ] || return 1
	local v
	v="$("$WAILS" version 2>/dev/null)" || return 1
	v="${v%%$'\n'*}" # first line (not `| head`: SIGPIPE under pipefail)
	[ "${v//[[:space:]]/}" = "$VERSION" ]
}

if works; then
	echo "$WAILS"
	exit 0
fi

mkdir -p "$ROOT/.cache"
# Serialise concurrent runs; the loser finds the finished binary.
exec 9>"$ROOT/.cache/.wails.lock"
if command -v flock >/dev/null 2>&1; then
	flock 9
fi
if works; then
	echo "$WAILS"
	exit 0
fi

log "building the wails CLI $VERSION (golang.org/x/tools $XTOOLS) into $DEST; this takes about 5-8 minutes once on 2 cores (measured 7m21s with an empty Go build cache)"
TMP="$(mktemp -d "$ROOT/.cache/.wails-build.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
(
	cd "$TMP"
	export GOFLAGS=-mod=mod GOWORK=off
	go mod init hearth.local/wails-cli >/dev/null 2>&1
	cat >tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/wailsapp/wails/v2/cmd/wails"
GO
	go get "github.com/wailsapp/wails/v2@$VERSION" "github.com/wailsapp/wails/v2/cmd/wails@$VERSION" "golang.org/x/tools@$XTOOLS"
	go mod tidy
	go build -trimpath -o "$TMP/wails" github.com/wailsapp/wails/v2/cmd/wails
) >"$TMP/build.log" 2>&1 || {
	tail -n 40 "$TMP/build.log" >&2
	log "building the wails CLI failed"
	exit 1
}
mkdir -p "$DEST"
mv "$TMP/wails" "$WAILS"
cp "$TMP/go.mod" "$TMP/go.sum" "$DEST/"
if ! works; then
	log "$WAILS does not run or is not $VERSION"
	exit 1
fi
log "installed $WAILS"
echo "$WAILS"

#!/usr/bin/env bash
# Builds a TEST-ONLY variant of indigo's relay (cmd/relay at the indigo
# version pinned in go.mod) into .cache/bin/relay-loopback, for the
# reachability tests in tests/relay (reach_test.go).
#
# Why a variant: the stock relay refuses com.atproto.sync.requestCrawl for a
# "localhost:PORT" host on its public endpoint, and even its admin endpoint
# first checks the host through an SSRF-guarded client that refuses loopback
# addresses. The tests need Hearth's reachability supervisor to announce
# itself exactly as it does to a real relay (the public requestCrawl, then
# getHostStatus), so this build changes two lines and nothing else:
#   1. handlers.go: the public endpoint no longer rejects "localhost:PORT" hosts
#      (the admin path, which skips the domain-ban check for them, is taken);
#   2. relay/host_checker.go: the describeServer check before subscribing
#      uses a plain transport instead of the public-only (SSRF) one.
# The relay is then run with --allow-insecure-hosts (http for localhost).
#
# Idempotent: rebuilt only when .cache/bin/relay-loopback.stamp does not
# record the same indigo and Go versions. Needs cgo (gcc).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO="${GO:-go}"
BIN_DIR="$ROOT/.cache/bin"
BIN="$BIN_DIR/relay-loopback"
STAMP="$BIN_DIR/relay-loopback.stamp"
log() { echo "ensure-relay-loopback: $*" >&2; }

INDIGO_VERSION="$(awk '$1 == "github.com/bluesky-social/indigo" { print $2; exit }' "$ROOT/go.mod")"
want_stamp="indigo $INDIGO_VERSION $("$GO" env GOVERSION) patch 2"
if [ -x "$BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ]; then
	log "already built ($want_stamp)"
	exit 0
fi
command -v gcc >/dev/null 2>&1 || { log "the relay needs cgo (its SQLite driver): install gcc (make apt-deps)"; exit 1; }

(cd "$ROOT" && GOFLAGS=-mod=mod "$GO" mod download github.com/bluesky-social/indigo)
SRC_MOD="$(cd "$ROOT" && "$GO" list -m -f '{{.Dir}}' github.com/bluesky-social/indigo)"
WORK="$ROOT/.cache/relay-loopback-src"
rm -rf "$WORK"
mkdir -p "$WORK"
cp -r "$SRC_MOD"/. "$WORK"/
chmod -R u+w "$WORK"

h="$WORK/cmd/relay/handlers.go"
c="$WORK/cmd/relay/relay/host_checker.go"
grep -q 'if strings.HasPrefix(hostname, "localhost:") {' "$h" || { log "handlers.go changed upstream: update this patch"; exit 1; }
grep -q 'Transport: ssrf.PublicOnlyTransport(),' "$c" || { log "host_checker.go changed upstream: update this patch"; exit 1; }
perl -0pi -e 's|(if strings.HasPrefix\(hostname, "localhost:"\) \{\n\t\tif !admin)( \{)|$1 \&\& false$2 // hearth test-only patch|' "$h"
grep -q 'if !admin && false { // hearth test-only patch' "$h" || { log "patching handlers.go failed"; exit 1; }
sed -i 's|Transport: ssrf.PublicOnlyTransport(),|Transport: loopbackOK(ssrf.PublicOnlyTransport()), // hearth test-only patch|' "$c"
cat >"$WORK/cmd/relay/relay/hearth_test_patch.go" <<'GO'
package relay

import "net/http"

// loopbackOK is Hearth's test-only patch: the host check may reach loopback.
func loopbackOK(http.RoundTripper) http.RoundTripper { return http.DefaultTransport }
GO

log "building the test-only relay variant into $BIN (a few minutes the first time)"
t0=$SECONDS
mkdir -p "$BIN_DIR"
rm -f "$STAMP"
(cd "$WORK" && CGO_ENABLED=1 GOFLAGS=-mod=mod GOWORK=off "$GO" build -o "$BIN" ./cmd/relay)
echo "$want_stamp" >"$STAMP"
log "built in $((SECONDS - t0))s"

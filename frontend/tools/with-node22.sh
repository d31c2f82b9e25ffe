#!/usr/bin/env bash
# Runs a command with Node 22 (scripts/ensure-node22.sh, fetched once into
# .cache/) first on PATH, so npm, Vite and `wails dev/build` (which call npm)
# all use it whatever Node the system has. Current @atproto/* packages need
# Node 22; Vite 7 needs Node >= 20.19.
#
#   bash frontend/tools/with-node22.sh npm run build      (any command)
#   bash frontend/tools/with-node22.sh npm-ci DIR         (npm ci in DIR, only
#                                     when its package.json/lock or Node changed)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NODE="$(bash "$ROOT/scripts/ensure-node22.sh")"
export PATH="$(dirname "$NODE"):$PATH"

# Run the system npm under Node 22 even if its launcher names another node
# (some distributions' npm starts with #!/usr/bin/node): a shim `npm` first
# on PATH, for this script and for what it runs (wails calls npm).
if ! command -v npm >/dev/null 2>&1; then
	echo "with-node22: npm is needed (it comes with Node.js)" >&2
	exit 1
fi
NPM_CLI="$(readlink -f "$(command -v npm)")"
case "$NPM_CLI" in
*.js)
	SHIMS="$ROOT/.cache/node22-shims"
	mkdir -p "$SHIMS"
	shim="$(mktemp "$SHIMS/.npm.XXXXXX")"
	printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$NODE" "$NPM_CLI" >"$shim"
	chmod +x "$shim"
	mv -f "$shim" "$SHIMS/npm"
	export PATH="$SHIMS:$PATH"
	;;
esac
npm22() { npm "$@"; }

if [ "${1:-}" = npm-ci ]; then
	dir="$(cd "${2:?usage: with-node22.sh npm-ci DIR}" && pwd)"
	sum="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)-$(node --version)"
	stamp="$dir/node_modules/.hearth-installed"
	if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
		echo "npm ci in ${dir#"$ROOT"/} (node $(node --version))" >&2
		(cd "$dir" && npm22 ci --no-audit --no-fund --loglevel=error)
		echo "$sum" >"$stamp"
	fi
	exit 0
fi

exec "$@"

# Hearth — make targets. `make deps` installs everything a fresh Debian 12
# machine needs (idempotent); `make test` and `make run` call it first.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
CACHE := $(CURDIR)/.cache
PORT ?= 2583
DATA_DIR ?= $(HOME)/.local/share/hearth/hearthd
APT_PACKAGES := build-essential python3 pkg-config ca-certificates curl git libgtk-3-dev libwebkit2gtk-4.0-dev xvfb xauth chromium

.PHONY: deps apt-deps go-deps build run test test-go test-race test-fuzz lint test-ts test-oauth test-statusphere test-relay test-jetstream test-migrate bench bench-scale clean \
	frontend-deps frontend app run-headless test-ui test-gui screenshots

deps: apt-deps go-deps

apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

go-deps:
	$(GO) mod download

build:
	$(GO) build -o $(BIN)/hearthd ./cmd/hearthd

# Builds the desktop app (build/bin/hearth) and opens it. Its data folder is
# ~/.local/share/hearth (HEARTH_DATA_DIR=… to change it).
run: app
	$(CURDIR)/build/bin/hearth

# Runs the PDS without a window on http://localhost:$(PORT).
run-headless: deps build
	@mkdir -p "$(DATA_DIR)"
	$(BIN)/hearthd serve --data-dir "$(DATA_DIR)" --listen 127.0.0.1:$(PORT) --public-url http://localhost:$(PORT)

test: deps test-go test-race test-fuzz test-ts test-oauth test-statusphere test-relay test-jetstream test-migrate test-ui test-gui

test-go: lint
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# The engine's packages under the race detector (about a minute on 2 cores).
test-race:
	$(GO) test -race -count=1 ./pds/...

# Every Go fuzz target (found with go test -list) for FUZZTIME each (a
# count of inputs, or a duration such as 2m), after its committed corpus:
# CAR import, record decoding, tokens, XRPC params.
FUZZTIME ?= 20000x
test-fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz-short.sh

# golangci-lint v2 (.golangci.yml), built once into .cache/bin.
lint:
	LINT="$$(bash scripts/ensure-golangci-lint.sh)" && "$$LINT" run ./...

test-ts: build
	bash scripts/test-ts.sh

# An OAuth sign-in with the real @atproto/oauth-client-node (a loopback
# client) against hearthd and a local PLC, the consent page in chromium.
test-oauth: build
	GO="$(GO)" bash scripts/test-oauth.sh

# A Statusphere-style app (the real @atproto/oauth-client-node and a
# Jetstream consumer) against `hearthd devnet`, offline, driven in chromium.
test-statusphere: build
	bash scripts/test-statusphere.sh

# A real indigo relay (built once into .cache/bin) must accept Hearth's firehose.
test-relay:
	GO="$(GO)" bash scripts/test-relay.sh

# The real Jetstream (built once into .cache/bin) fed by Hearth's firehose
# must send what Hearth's own /subscribe sends.
test-jetstream:
	GO="$(GO)" bash scripts/test-jetstream.sh

# An account moves from the reference PDS (@atproto/pds on Node 22) into
# hearthd and out to a second reference PDS with goat, against a local PLC
# (goat, the reference PDS and its native module are built once into .cache).
test-migrate:
	GO="$(GO)" bash scripts/test-migrate.sh

# --- the desktop app (Wails v2 + Svelte; Node 22 via frontend/tools/with-node22.sh)
N22 := bash $(CURDIR)/frontend/tools/with-node22.sh

frontend-deps:
	$(N22) npm-ci frontend

# frontend/dist, which the Go binary embeds (only dist/index.html is committed).
frontend: frontend-deps
	cd frontend && $(N22) npm run build

# build/bin/hearth: wails build of the Go app with the frontend embedded (-s:
# built before it; -m: no `go mod tidy`; the frontend needs no wailsjs/).
# scripts/build-app.sh builds the Wails CLI and downloads Go modules in the
# background while apt-deps and the frontend run, then builds once, saying
# how long each step takes.
app:
	MAKE="$(MAKE)" GO="$(GO)" bash scripts/build-app.sh

# Unit tests of the window's logic (Vitest) and a type check of the Svelte code.
test-ui: frontend-deps
	cd frontend && $(N22) npm run check && $(N22) npm test

# The window end to end: Playwright + chromium against `wails dev` under Xvfb.
test-gui: deps
	bash scripts/test-gui.sh

# docs/screenshots/*.png from the real binary under Xvfb (not part of `make test`).
screenshots: app
	$(MAKE) --no-print-directory apt-deps APT_PACKAGES="imagemagick xdotool"
	bash tests/e2e/screenshots.sh

bench: deps build
	bash scripts/bench.sh

# Repos of 10k, 100k and 1M records (SCALE_RECORDS=10000,100000 to choose):
# import, restart, first write, writes, getRepo, memory, database size.
bench-scale: deps build
	bash scripts/bench-scale.sh

clean:
	rm -rf $(BIN) $(CACHE)

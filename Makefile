# Hearth — make targets. `make deps` installs everything a fresh Debian 12
# machine needs (idempotent); `make test` and `make run` call it first.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
CACHE := $(CURDIR)/.cache
PORT ?= 2583
DATA_DIR ?= $(HOME)/.local/share/hearth/hearthd
APT_PACKAGES := build-essential pkg-config ca-certificates curl git libgtk-3-dev libwebkit2gtk-4.0-dev xvfb xauth chromium

.PHONY: deps apt-deps go-deps build run test test-go test-ts test-relay bench clean

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

# Runs the PDS headless on http://localhost:$(PORT) (the desktop app replaces this once it exists).
run: deps build
	@mkdir -p "$(DATA_DIR)"
	$(BIN)/hearthd serve --data-dir "$(DATA_DIR)" --listen 127.0.0.1:$(PORT) --public-url http://localhost:$(PORT)

test: deps test-go test-ts test-relay

test-go:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

test-ts: build
	bash scripts/test-ts.sh

# A real indigo relay (built once into .cache/bin) must accept Hearth's firehose.
test-relay:
	GO="$(GO)" bash scripts/test-relay.sh

bench: deps build
	bash scripts/bench.sh

clean:
	rm -rf $(BIN) $(CACHE)

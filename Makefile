# ARouter: `make run` starts the gateway with the built-in mock provider, `make test` is what CI
# runs. Only Go is needed.
GO      ?= go
BIN     := bin/arouter
CONFIG  ?= configs/arouter.yaml
PKGS    := ./...

.PHONY: all build run test test-race test-alloc fmt-check vet bench bench-quick bench-micro fuzz test-browser test-sdk clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/arouter

## run: build and start the gateway on 127.0.0.1:8080 (SQLite under ./data, built-in mock provider)
run: build
	./$(BIN) serve --config $(CONFIG)

## test: formatting, vet, the allocation tests (built without -race, since the race detector
## allocates), then every test under the race detector
test: fmt-check vet test-alloc test-race

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

test-race:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

test-alloc:
	$(GO) test -count=1 -run 'Allocat' -timeout 5m $(PKGS)

## test-browser: the dashboard's end-to-end tests in Debian's Chromium, driven by playwright-core
## (pinned in dashboard/e2e/package-lock.json) against a gateway the tests start on loopback.
## Installs chromium (apt) and the npm packages when they are missing; writes docs/dashboard/*.png
CHROMIUM ?= /usr/bin/chromium
E2E      := dashboard/e2e
test-browser: build
	@[ -x $(CHROMIUM) ] || { echo "installing Debian's chromium"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }
	@command -v npm >/dev/null || { echo "test-browser needs Node.js and npm (apt-get install nodejs npm)"; exit 1; }
	@[ -f $(E2E)/node_modules/playwright-core/package.json ] || (cd $(E2E) && npm ci --no-audit --no-fund)
	cd $(E2E) && AROUTER_BIN=$(CURDIR)/$(BIN) CHROMIUM=$(CHROMIUM) npm test

## test-sdk: OpenAI's official Node.js SDK (the openai package, pinned in
## compat/openai-node/package-lock.json) against a gateway the tests start on loopback: completions,
## streams, usage, tool calls through every wire format, and each refusal as the SDK's error class.
## Installs the npm package when it is missing. (The Go SDK's test is part of `make test`.)
SDK_NODE := compat/openai-node
test-sdk: build
	@command -v npm >/dev/null || { echo "test-sdk needs Node.js and npm (apt-get install nodejs npm)"; exit 1; }
	@[ -f $(SDK_NODE)/node_modules/openai/package.json ] || (cd $(SDK_NODE) && npm ci --no-audit --no-fund)
	cd $(SDK_NODE) && AROUTER_BIN=$(CURDIR)/$(BIN) npm test

## bench: the benchmark suite (about 10 minutes): mock, bare passthrough, ARouter and nginx (when
## installed) as processes on loopback, every scenario interleaved; writes bench/results.json,
## bench/RESULTS.md, bench/*.png and bench/profiles/, and ends with a RESULT line
bench:
	$(GO) run ./bench/cmd/arbench

## bench-quick: a short run of the suite (under a minute), written to bench/quick/
bench-quick:
	$(GO) run ./bench/cmd/arbench -quick

## bench-micro: Go microbenchmarks of every hot-path step, with allocations
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $(PKGS)

## fuzz: run the request/response scanner fuzzer for a minute
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzRequestAndResponseScanning -fuzztime 60s ./proxy/

clean:
	rm -rf bin

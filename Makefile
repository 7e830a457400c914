# cssc: the two commands a newcomer runs are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
FUZZTIME ?= 30s
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/cssc-project/cssc/internal/version.Version=$(VERSION)

.PHONY: all build demo demo-deps test deps lint unit conformance fuzz bench bench-auth bench-scan bench-malware bench-verify bench-acquire clients tools clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/cssc ./cmd/cssc

## demo: start cssc on a temporary data directory, push, pull, attach, collect.
demo: build demo-deps
	$(GO) run ./cmd/cssc-demo --cssc bin/cssc

## demo-deps: clamd for the demo's malware scan (installed when missing; needs root and the package registry).
demo-deps:
	@{ command -v clamd >/dev/null || [ -x /usr/sbin/clamd ]; } || { echo "make: installing clamav-daemon (the demo's malware scan runs a real clamd)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q clamav-daemon; }

## test: everything CI runs. Builds the pinned tools it needs (once, into .tools/).
test: deps tools lint unit fuzz

## deps: Debian packages the tests use (installed when missing; needs root and the package registry).
deps:
	@missing=""; \
	command -v rpmbuild >/dev/null || missing="$$missing rpm"; \
	{ command -v clamd >/dev/null || [ -x /usr/sbin/clamd ]; } && command -v clamdscan >/dev/null || missing="$$missing clamav-daemon"; \
	if [ -n "$$missing" ]; then \
		echo "make: installing$$missing (rpm: the RPM inventory test builds a real rpm database; clamav-daemon: the malware tests start a real clamd)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

tools:
	scripts/tools.sh conformance staticcheck notation cosign

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$$(scripts/tools.sh --path staticcheck) ./...

## unit: every Go test, the conformance suite and the crash tests included.
unit:
	$(GO) test -race -count=1 ./...

## fuzz: each fuzz target for a bounded time (FUZZTIME).
fuzz:
	$(GO) test ./internal/registry -run '^$$' -fuzz '^FuzzParseManifest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/registry -run '^$$' -fuzz '^FuzzUploadChunks$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/imagefs -run '^$$' -fuzz '^FuzzWalkLayer$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/sbom -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/clamd -run '^$$' -fuzz '^FuzzParseVersion$$' -fuzztime $(FUZZTIME)

conformance:
	$(GO) test -count=1 -v -run TestDistributionSpecConformance ./test/conformance

## bench: registry throughput side by side with the CNCF distribution registry.
bench: build
	bench/registry/run.sh

## bench-auth: manifest GET rate with authentication and audit on versus off.
bench-auth: build
	bench/auth/run.sh

## bench-scan: SBOM and scan of a Debian image beside osv-scanner and syft; rescan rate of stored SBOMs.
## The first run makes the image with debootstrap (root, network to deb.debian.org); cached in .bench-cache/.
bench-scan: build
	bench/scan/run.sh

## bench-malware: cssc's layer-by-layer malware scan beside clamdscan --stream on the extracted tree, same clamd.
## Uses bench-scan's Debian image (made first when missing); needs clamav-daemon and clamdscan.
bench-malware: build
	bench/malware/run.sh

## bench-verify: cssc verify beside notation verify and cosign verify on one image signed three ways, cold and warm.
bench-verify: build
	bench/verify/run.sh

## bench-acquire: cssc acquire of a ~100 MB image beside crane copy of the same shape; 100 small images acquired at once.
## Needs clamav-daemon (the malware scan); crane is built pinned by scripts/tools.sh.
bench-acquire: build
	bench/acquire/run.sh

## clients: the real crane, oras, cosign (and skopeo, ctr if installed) CLIs against cssc.
clients: build
	scripts/clients-smoke.sh

clean:
	rm -rf bin

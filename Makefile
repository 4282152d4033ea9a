# countersign — the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
BIN     := bin
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/countersign/countersign/cli.Version=$(VERSION)

.PHONY: all build test test-short demo vet lint fuzz bench man clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/countersign ./cmd/countersign
	$(GO) build -o $(BIN)/countersign-emulator ./cmd/countersign-emulator

vet:
	$(GO) vet ./...

# The whole suite, regtest end-to-end tests included. The first run builds the
# pinned btcd node into the user cache (about a minute).
test: vet
	$(GO) test -count=1 -timeout 60m ./...

# Everything but the regtest end-to-end tests (files *_regtest_test.go,
# which start btcd nodes and skip under -short): under a minute.
test-short: vet
	$(GO) test -count=1 -short -timeout 10m ./...

# staticcheck, pinned; installed into the Go bin directory on first use.
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
lint: vet
	test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(STATICCHECK) ./...

demo: build
	$(GO) build -o $(BIN)/countersign-demo ./examples/demo && $(BIN)/countersign-demo

# Short fuzz runs of every target (go test -fuzz runs one target at a time).
fuzz:
	bash bench/fuzz-all.sh 20s

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

man: build
	$(BIN)/countersign gen-man --dir man

clean:
	rm -rf $(BIN) man

# countersign — the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
BIN     := bin
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/countersign/countersign/cli.Version=$(VERSION)
# Signatures are verified with libsecp256k1 (Debian: libsecp256k1-dev,
# 0.2.0 or later) through cgo when the C compiler finds it, several times
# faster than btcec; without it the build is pure Go. `make TAGS=` forces
# the pure-Go build.
TAGS    ?= $(shell printf '\043include <secp256k1.h>\nint main(void) { return secp256k1_context_static == 0; }\n' | $${CC:-cc} -x c - -lsecp256k1 -o /dev/null 2>/dev/null && echo libsecp256k1)
GOTAGS  := $(if $(TAGS),-tags "$(TAGS)")

.PHONY: all build test test-short demo vet lint fuzz bench man clean print-tags

all: build

build:
	$(GO) build $(GOTAGS) -ldflags "$(LDFLAGS)" -o $(BIN)/countersign ./cmd/countersign
	$(GO) build -o $(BIN)/countersign-emulator ./cmd/countersign-emulator

vet:
	$(GO) vet $(GOTAGS) ./...

# The whole suite, regtest end-to-end tests included. The first run builds the
# pinned btcd node into the user cache (about a minute).
test: vet
	$(GO) test $(GOTAGS) -count=1 -timeout 60m ./...
ifneq ($(TAGS),)
	# The pure-Go verifier too: a machine without libsecp256k1 runs it.
	$(GO) test -count=1 -short ./internal/secp ./psbt ./coordinator
endif

# Everything but the regtest end-to-end tests (files *_regtest_test.go,
# which start btcd nodes and skip under -short): under a minute.
test-short: vet
	$(GO) test $(GOTAGS) -count=1 -short -timeout 10m ./...

# staticcheck, pinned; installed into the Go bin directory on first use.
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
lint: vet
	test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(STATICCHECK) $(GOTAGS) ./...

demo: build
	$(GO) build $(GOTAGS) -o $(BIN)/countersign-demo ./examples/demo && $(BIN)/countersign-demo

# Short fuzz runs of every target (go test -fuzz runs one target at a time).
fuzz:
	bash bench/fuzz-all.sh 20s

bench:
	$(GO) test $(GOTAGS) -run '^$$' -bench . -benchtime 3x ./...

# The build tags the build uses (bench/psbt.sh asks).
print-tags:
	@echo $(TAGS)

man:
	go run ./cmd/countersign-man --dir man

clean:
	rm -rf $(BIN) man

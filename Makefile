# ferry — see README.md.
GO        ?= go
BIN       ?= bin/ferry
PREFIX    ?= $(HOME)/.local
TESTFLAGS ?= -race -count=1 -timeout 45m

.PHONY: all build cross man test demo demo-cluster bench bench-scan bench-wan bench-fair bench-delta bench-connect bench-cluster lint install clean

all: build

# -buildvcs=auto: `ferry --version` names the commit (GOFLAGS may turn stamping off).
build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/ferry

# ferry for every platform the agent runs on, into bin/ferry-OS-ARCH[.exe], each
# platform's packages vetted too (tests included; see README, Platforms).
CROSS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

cross:
	@set -e; for p in $(CROSS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "cross: $$os/$$arch"; \
		GOOS=$$os GOARCH=$$arch $(GO) build -buildvcs=auto -o bin/ferry-$$os-$$arch$$ext ./cmd/ferry; \
		GOOS=$$os GOARCH=$$arch $(GO) vet ./...; \
	done

# Man pages for ferry and each of its commands, generated into ./man (read with man ./man/ferry.1).
man:
	$(GO) run ./cmd/ferry gen-man man

# Every test, with the race detector.
test:
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) ./...

# A real `ferry serve` on loopback and an agent syncing sample folders through it.
demo:
	@echo "building ferry (the first build fetches and compiles its dependencies: a few minutes)..."
	$(GO) run ./cmd/ferry demo

# Three `ferry serve` nodes over one SeaweedFS bucket on loopback and three agents syncing
# overlapping folders into it at once (builds SeaweedFS first if needed: over ten minutes cold).
demo-cluster: build
	FERRY_WEED=$${FERRY_WEED:-$$(./scripts/seaweedfs.sh)} $(GO) run ./internal/democluster -ferry $(BIN)

# One node against three over one SeaweedFS, three agents uploading small and tree at once:
# aggregate goodput, each node's CPU per GB, and SeaweedFS's own ceiling with plain minio-go uploads.
bench-cluster: build
	FERRY_WEED=$${FERRY_WEED:-$$(./scripts/seaweedfs.sh)} $(GO) run ./internal/democluster -ferry $(BIN) -bench $(BENCHFLAGS)

# In-process benchmarks (scan, reconcile, codecs, pacer, data path).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x ./...

# Scan benchmarks on generated trees of 10k, 100k and 1M files: first sync and no-change
# pass beside rsync and Unison, and over a ferry:// remote on loopback (SIZES=, FERRY_FIRST=, FIRST=0).
bench-scan: build
	./scripts/bench-scan.sh

# ferry against rsync over the emulated WAN (needs root; see ../shared/BENCH.md).
bench-wan: build
	./scripts/bench-wan.sh

# ferry's rate policies beside one iperf3 TCP flow on wan-100 without loss (needs root).
bench-fair: build
	./scripts/bench-fair.sh

# ferry beside rsync syncing six edits of the tree workload on wan-100, bytes counted at the link (needs root).
bench-delta: build
	./scripts/bench-delta.sh

# The time to connect to ferry serve and finish a no-change pass on wan-0 (no loss), wan-100 and wan-lossy (needs root).
bench-connect: build
	./scripts/bench-connect.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

install: build
	install -D -m 0755 $(BIN) $(PREFIX)/bin/ferry

clean:
	rm -rf bin man

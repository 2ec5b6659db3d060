# icelab: reproduce WebRTC connectivity failures inside go test.

GO      ?= go
PKGS    ?= ./...
REPORTS ?= reports/out

.PHONY: all test vet lint fmt run bench tools compat compat-livekit fuzz-short fidelity

all: lint test

## test: vet, a short fuzz of the relay, every test with the race detector,
## then the catalog's real-clock files without it (their verdicts depend on
## the machine keeping up with the clock, which a race build beside other
## packages does not: they skip under -race) and its heavy ones (the large
## room and the hour-long call: some 45 s of CPU each under -race), then the
## compatibility module (icelab imported beside current pion, and pion on
## transport/v3 and v4 over vnet through the adapters).
test: vet fuzz-short
	$(GO) test -race -count=1 -timeout 8m $(PKGS)
	$(GO) test -count=1 -timeout 5m -run '^TestScenarios$$' ./scenarios -ginkgo.label-filter='real-clock || heavy'
	$(MAKE) compat

compat:
	cd testdata/compat && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 5m ./...

## compat-livekit: icelab beside LiveKit's Go SDK (server-sdk-go v2.19.0).
## Not part of test: on a fresh machine it downloads ~90 MB more and its
## cold race build takes minutes on 2 cores.
compat-livekit:
	cd testdata/compat-livekit && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 20m ./...

vet:
	$(GO) vet $(PKGS)

## lint: formatting and vet.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

## run: run the scenario catalog and write a report to $(REPORTS);
## CLOCK=real runs every scenario on the machine's clock. The exit status
## is icelab's (0 met, 1 not met, 2 bad input, 130 interrupted).
CLOCK   ?= fake
run:
	$(GO) build -o icelab ./cmd/icelab
	./icelab run --clock $(CLOCK) --out $(REPORTS) scenarios/catalog

## bench: every benchmark, each side by side with its baseline.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $(PKGS)

## fuzz-short: the relay's input fuzz target for FUZZTIME (seeds: the stream
## lengths that once made the relay spin).
FUZZTIME ?= 10s
fuzz-short:
	$(GO) test -run '^$$' -fuzz '^FuzzRelayInput$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./relay/

## fidelity: the namespace lab (internal/fidelity): each case as Linux
## network namespaces with nftables, headless Chromium or pion peers calling
## a pion peer through icelab's relay, and as an icelab scenario file; prints
## a table, real against icelab. Needs root, iproute2, nftables, chromium and
## /dev/net/tun (the Chromium cases' servers are 10 ms away on a TAP link)
## (says why and skips without). Not part of test: about 4 minutes.
## CASES=REGEXP runs some; COUNT=N runs each real side N times.
CASES ?=
COUNT ?= 1
fidelity:
	$(GO) build -o icelab ./cmd/icelab
	$(GO) build -o fidelity.bin ./cmd/fidelity
	./fidelity.bin -icelab ./icelab -run '$(CASES)' -count $(COUNT)

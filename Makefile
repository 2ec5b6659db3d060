# icelab: reproduce WebRTC connectivity failures inside go test.

GO      ?= go
PKGS    ?= ./...
REPORTS ?= reports/out

.PHONY: all test vet lint fmt run bench tools fuzz-short

all: lint test

## test: vet, then every test with the race detector.
test: vet fuzz-short
	$(GO) test -race -count=1 -timeout 8m $(PKGS)

vet:
	$(GO) vet $(PKGS)

## lint: formatting and vet.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

## run: run the scenario catalog and write a report to $(REPORTS).
run:
	$(GO) run ./cmd/icelab run --out $(REPORTS) scenarios/catalog

## bench: every benchmark, each side by side with its baseline.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $(PKGS)

## fuzz-short: the relay's input fuzz target for FUZZTIME (seeds: the stream
## lengths that once made the relay spin).
FUZZTIME ?= 10s
fuzz-short:
	$(GO) test -run '^$$' -fuzz '^FuzzRelayInput$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./relay/

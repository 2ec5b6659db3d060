# icelab: reproduce WebRTC connectivity failures inside go test.

GO      ?= go
PKGS    ?= ./...
REPORTS ?= reports/out

.PHONY: all test vet lint fmt run bench tools

all: lint test

## test: vet, then every test with the race detector.
test: vet
	$(GO) test -race -count=1 -timeout 8m $(PKGS)

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

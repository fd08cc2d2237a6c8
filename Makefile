# nomad-pot-driver — see README.md. `make demo` and `make test` are the two
# commands a fresh machine needs.
GO      ?= go
BIN     := bin
DRIVER  := $(BIN)/nomad-pot-driver
POTSIM  := $(BIN)/potsim
PKGS    := ./...

.PHONY: all build freebsd potsim test test-unit test-race lint fuzz clean demo e2e agents bench

all: build

build: $(DRIVER) potsim

$(DRIVER): FORCE
	$(GO) build -trimpath -o $(DRIVER) .

potsim:
	$(GO) build -trimpath -o $(POTSIM) ./cmd/potsim

# The driver as it ships: FreeBSD on amd64.
freebsd:
	GOOS=freebsd GOARCH=amd64 $(GO) build -trimpath -o $(BIN)/freebsd-amd64/nomad-pot-driver .

# Unit, contract (pot client against potsim) and driver tests, with the race detector.
test-unit: build
	$(GO) test -race -count=1 $(PKGS)

test: lint test-unit

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	GOOS=freebsd GOARCH=amd64 $(GO) vet $(PKGS)
	GOOS=freebsd GOARCH=amd64 $(GO) build -o /dev/null $(PKGS)

# Bounded fuzzing of config validation and quoting.
FUZZTIME ?= 60s
fuzz:
	$(GO) test ./pot -run='^$$' -fuzz=FuzzCommandLine -fuzztime=$(FUZZTIME)
	$(GO) test ./pot -run='^$$' -fuzz=FuzzEnvLiteral -fuzztime=$(FUZZTIME)
	$(GO) test ./hclspec -run='^$$' -fuzz=FuzzTaskConfigValidate -fuzztime=$(FUZZTIME)

clean:
	rm -rf $(BIN)

FORCE:

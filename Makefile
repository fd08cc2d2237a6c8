# nomad-pot-driver — see README.md. `make demo` and `make test` are the two
# commands a fresh machine needs.
GO      ?= go
BIN     := bin
DRIVER  := $(BIN)/nomad-pot-driver
POTSIM  := $(BIN)/potsim
PKGS    := ./...

.PHONY: all build freebsd potsim test test-unit test-race lint fuzz clean demo demo-cluster e2e e2e-cluster agents bench test-realpot

all: build

build: $(DRIVER) potsim

$(DRIVER): FORCE
	$(GO) build -trimpath -o $(DRIVER) .

potsim:
	$(GO) build -trimpath -o $(POTSIM) ./cmd/potsim

# The driver as it ships: FreeBSD on amd64.
freebsd:
	GOOS=freebsd GOARCH=amd64 $(GO) build -trimpath -o $(BIN)/freebsd-amd64/nomad-pot-driver .

# Unit, contract (pot client against potsim) and driver tests, with the race
# detector; the Consul tests run a real Consul, so the agents come first.
test-unit: build agents
	$(GO) test -race -count=1 $(PKGS)

test: lint test-unit fuzz-ci e2e

# The pinned Nomad and Consul agents the e2e tests and the demo run: built
# once per machine (~10 min the first time, progress every 30 s), then reused.
agents:
	$(GO) run ./e2e/demo -agents-only >/dev/null

# End-to-end: real Nomad and Consul, the driver on potsim, haproxy; runs
# every job of example-jobs/ (e2e/, build tag e2e). Needs haproxy, dig, curl.
E2E_TIMEOUT ?= 30m
e2e: agents
	$(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) ./e2e/...

# The multi-node scenarios alone (one Nomad server, three clients: spread,
# drain and rolling update under load, a lost client; a volume moved
# between two clients), writing their figures to docs/cluster.md. make e2e
# (so make test) runs them too, writing nowhere.
e2e-cluster: agents
	CLUSTER_REPORT=$(CURDIR)/docs/cluster.md $(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -run '^(TestCluster|TestVolumeMigration)$$' -v ./e2e/

# The same suites against pot's own shell scripts (POT_SCRIPTS: a checkout
# of bsdpot/pot 0.16, never part of this repository) on the FreeBSD
# emulation cmd/fbsdemu; as root, needs busybox-static, nftables and signify-openbsd. Without POT_SCRIPTS
# it says how to get one and skips. REALPOT_SUITES picks the suites,
# REALPOT_RUN a -run pattern, REALPOT_VERBOSE=1 -v.
REALPOT_SUITES ?= contract
test-realpot:
	$(GO) run ./e2e/realpot -suites $(REALPOT_SUITES) $(if $(REALPOT_RUN),-run '$(REALPOT_RUN)')

# Consul, Nomad with the driver (pot on FreeBSD, potsim elsewhere), haproxy
# and example-jobs/web.nomad.hcl on loopback, until Ctrl-C.
demo: build agents
	$(GO) build -o $(BIN)/pot-demo ./e2e/demo
	$(BIN)/pot-demo

# The demo on a multi-node cluster: one Nomad server and three clients,
# six web instances spread over them, until Ctrl-C (potsim, as root: each
# client gets an interface of its own).
demo-cluster: build agents
	$(GO) build -o $(BIN)/pot-demo ./e2e/demo
	$(BIN)/pot-demo -clients 3

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
	$(GO) test ./hclspec -run='^$$' -fuzz=FuzzSplitPairs -fuzztime=$(FUZZTIME)
	$(GO) test ./hclspec -run='^$$' -fuzz=FuzzPathUnder -fuzztime=$(FUZZTIME)
	$(GO) test ./hclspec -run='^$$' -fuzz=FuzzCheckHostPath -fuzztime=$(FUZZTIME)
	$(GO) test ./pot -run='^$$' -fuzz=FuzzQuoteCommandLine -fuzztime=$(FUZZTIME)
	$(GO) test ./pot -run='^$$' -fuzz=FuzzQuoteEnv -fuzztime=$(FUZZTIME)
	$(GO) test ./hostvolume -run='^$$' -fuzz=FuzzParseParams -fuzztime=$(FUZZTIME)

# The same, bounded for CI: FUZZ_CI_TIME per target (9 targets). A count, not
# a duration: with -fuzztime=5s Go 1.26's fuzz coordinator can fail a target
# that found nothing ("context deadline exceeded" at the deadline, no input
# written: golang/go#75804, fixed in Go 1.27); a count has no deadline.
FUZZ_CI_TIME ?= 20000x
.PHONY: fuzz-ci
fuzz-ci:
	$(MAKE) fuzz FUZZTIME=$(FUZZ_CI_TIME)

# What the driver costs (P1..P4 at 1, 50 and 200 tasks, on potsim here, on
# real pot on FreeBSD): go test benchmarks, then docs/benchmarks.md. A few
# minutes on 2 CPUs; BENCH_TASKS, BENCH_STARTS, BENCH_EXITS, BENCH_WINDOW and
# BENCH_INTERVAL (environment) change the sizes, see driver/bench_test.go.
bench:
	@mkdir -p $(BIN)
	$(GO) test ./driver -run='^$$' -bench=Driver -benchtime=1x -count=1 -timeout=30m 2>&1 | tee $(BIN)/bench.txt
	$(GO) run ./cmd/benchreport -in $(BIN)/bench.txt -out docs/benchmarks.md

clean:
	rm -rf $(BIN)

FORCE:

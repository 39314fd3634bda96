# The two commands a new user needs are `make run` and `make test`.
# Everything else here is for developers and operators.

GO        ?= go
BIN       := bin
SERVICES  := intake batcher reconciler
TOOLS     := pipeline partnersim auditverify

.PHONY: run test test-tools alerts-test lint bench bench-smoke build migrate vet assets clean

## run: start the whole pipeline on this machine and print the URLs
# Built, then run: `go run` exits 1 when the terminal's Ctrl-C reaches it,
# even after the launcher stopped everything cleanly and exited 0.
run: node_modules
	$(GO) build -o $(BIN)/pipeline ./services/tools/pipeline
	$(BIN)/pipeline

## test: every test (unit, integration against PostgreSQL, NATS and sshd, browser); where no
## PostgreSQL or NATS answers, services/tools/testenv starts private ones for the run
test: node_modules test-tools alerts-test
	$(GO) vet ./...
	$(BIN)/testenv $(GO) test -race -count=1 -timeout 25m ./...

## test-tools: say in one line which Debian packages the tests need and are missing
test-tools:
	@$(GO) build -o $(BIN)/testenv ./services/tools/testenv
	@$(BIN)/testenv -check

## alerts-test: check the Prometheus configuration and alerting rules and run their unit tests (promtool: Debian package prometheus)
alerts-test:
	promtool check config deploy/prometheus/prometheus.yml
	promtool test rules deploy/prometheus/alerts_test.yml

## lint: staticcheck at a pinned version (CI runs it and fails on any finding); the layout
## rules (which package may import which) are a test: pkg/testkit/layout
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	$(GO) run $(STATICCHECK) ./...

## bench: the benchmark suite against its baselines (not part of `make test`)
bench:
	$(GO) run ./services/tools/bench

## build: the service binaries into ./bin
build:
	@mkdir -p $(BIN)
	for s in $(SERVICES); do $(GO) build -o $(BIN)/$$s ./services/$$s || exit 1; done
	for s in $(TOOLS); do $(GO) build -o $(BIN)/$$s ./services/tools/$$s || exit 1; done

## migrate: apply the database migrations to DATABASE_URL
migrate:
	$(GO) run ./services/batcher migrate

## vet: static checks
vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

## assets: refresh the vendored GOV.UK Frontend files from node_modules
assets: node_modules
	./scripts/vendor-govuk.sh

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

clean:
	rm -rf $(BIN)

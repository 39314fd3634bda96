# The two commands a new user needs are `make run` and `make test`.
# Everything else here is for developers and operators.

GO        ?= go
BIN       := bin
SERVICES  := intake batcher reconciler pipeline partnersim

.PHONY: run test bench bench-smoke build migrate vet assets clean

## run: start the whole pipeline on this machine and print the URLs
run: node_modules
	$(GO) run ./services/pipeline

## test: every test (unit, integration against the local PostgreSQL, NATS and sshd, browser)
test: node_modules
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...

## bench: the benchmark suite against its baselines (not part of `make test`)
bench:
	$(GO) run ./services/bench

## build: the service binaries into ./bin
build:
	@mkdir -p $(BIN)
	for s in $(SERVICES); do $(GO) build -o $(BIN)/$$s ./services/$$s || exit 1; done

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

# Violet. `make run` starts it on http://localhost:8080; `make test` checks
# everything CI checks. See README.md.

GO      ?= go
BIN     := bin/violet
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# Browser tests run whenever Chromium is present; VIOLET_BROWSER_REQUIRED=1
# (set by .ci/run) makes a missing browser a failure instead of a skip.
TESTFLAGS ?= -race -count=1 -timeout 20m

.PHONY: run build test test-go generate check-generated migrate-diff lint tools-chromium tools-postgres

## run: start Violet (project-local PostgreSQL unless DATABASE_URL is set)
run: build
	@test -n "$$DATABASE_URL" || scripts/ensure-postgres
	@scripts/run

## build: compile bin/violet
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/violet

## test: lint, generated code up to date, every Go test including the browser tests
test: tools-postgres tools-chromium lint check-generated test-go

test-go:
	$(GO) test $(TESTFLAGS) ./...

## generate: regenerate ent, templ and the API's code (from handlers/api/openapi.yaml)
generate:
	$(GO) generate ./ent
	$(GO) tool templ generate
	$(GO) generate ./handlers/api

## check-generated: fail when regenerating ent/templ code would change it, or when
## the migrations and the ent schema disagree (a migrate diff would write a file)
check-generated:
	@scripts/check-generated

## migrate-diff NAME=…: write a migration for the ent schema changes
migrate-diff:
	@test -n "$(NAME)" || { echo "usage: make migrate-diff NAME=add_something"; exit 2; }
	DEV_DATABASE_URL="$$(scripts/devdb fresh-dev)" $(GO) run ./cmd/violet migrate diff $(NAME)

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' ; git ls-files -o --exclude-standard '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# tools-postgres makes sure PostgreSQL's server programs are there (apt when
# missing and root).
tools-postgres:
	@test -n "$$TEST_DATABASE_URL" || scripts/ensure-postgres

# tools-chromium installs Debian's chromium for the browser tests when it is
# missing and apt is usable (root); otherwise the browser tests say why they skip.
tools-chromium:
	@scripts/ensure-chromium

.PHONY: demo

## demo: create the demo mission and its accounts on the local database
## (project-local PostgreSQL unless DATABASE_URL is set); a second run changes nothing
demo: build
	@test -n "$$DATABASE_URL" || scripts/ensure-postgres
	@if [ -z "$$DATABASE_URL" ]; then DATABASE_URL=$$(scripts/devdb start) || exit 1; export DATABASE_URL; fi; \
	  export BASE_URL="$${BASE_URL:-http://localhost:8080}"; \
	  bin/violet migrate apply && bin/violet demo

.PHONY: bench

# BENCHFLAGS passes options to the benchmark program (go run ./cmd/violet-bench -h
# lists them), e.g. BENCHFLAGS='-duration 5s -pages "template list"'.
BENCHFLAGS ?=

## bench: measure every page against its SQL and HTTP floors at concurrency 1, 16
## and 64 on a throwaway PostgreSQL, each number the median of 3 runs, every
## statement from pg_stat_statements (budgets: docs/ARCHITECTURE.md): a table on
## stdout and docs/bench/DATE.md and .json, to commit with the code they measured
bench: tools-postgres build
	@mkdir -p docs/bench
	$(GO) run ./cmd/violet-bench -version '$(VERSION)' -binary $(BIN) -json docs/bench/$$(date -u +%F).json \
	  -markdown docs/bench/$$(date -u +%F).md $(BENCHFLAGS)

.PHONY: bench-compare

## bench-compare REF=…: every page of this tree against commit REF (e.g. main),
## both served in the same run, alternately: ratios new/ref in
## docs/bench/DATE-compare.md and .json
bench-compare: tools-postgres
	@test -n "$(REF)" || { echo "usage: make bench-compare REF=main"; exit 2; }
	@mkdir -p docs/bench
	$(GO) run ./cmd/violet-bench -version '$(VERSION)' -compare '$(REF)' -json docs/bench/$$(date -u +%F)-compare.json \
	  -markdown docs/bench/$$(date -u +%F)-compare.md $(BENCHFLAGS)

.PHONY: screenshots

## screenshots: regenerate docs/screenshots/ (home per role, the overview with a bulk
## selection, the matrix with coverage, the report's heatmap and its page count
## for 100 tests) from the browser tests that check those pages
screenshots: tools-postgres tools-chromium
	VIOLET_SCREENSHOTS=$(CURDIR)/docs/screenshots VIOLET_BROWSER_REQUIRED=1 $(GO) test -count=1 \
	  -run '^(TestBrowserHomePage|TestBrowserHomeQueues|TestBrowserBulkSkipCompletes|TestBrowserMatrixFitsAndCovers|TestBrowserMissionReport100Tests)$$' ./handlers/

.PHONY: fuzz

# FUZZTIME is how long `make fuzz` runs each fuzz target.
FUZZTIME ?= 30s

## fuzz: run every Go fuzz target (func FuzzX in a _test.go file) for FUZZTIME
## each, one after the other (e.g. make fuzz FUZZTIME=5m); their seed corpora
## already run in `make test`
fuzz:
	@FUZZTIME='$(FUZZTIME)' GO='$(GO)' scripts/fuzz

.PHONY: image-test deploy-test image-standins

## image-standins: make sure the Dockerfile's base images exist in the local Docker
## engine, building local stand-ins (named as such) where they cannot be pulled
image-standins:
	@scripts/image-dockerd >/dev/null
	@scripts/image-standins

## image-test: build the Docker image and check it for real against the local
## PostgreSQL: non-root, read-only root, /readyz, sign-in by invitation, evidence
## kept in the /data volume across containers, SIGTERM drain (starts dockerd as
## root when none runs; run by .ci/run)
image-test:
	@scripts/image-test

## deploy-test: run deploy/compose.yaml for real (two instances behind Caddy,
## PostgreSQL, S3): evidence and live updates across instances, one instance
## stopped without a failed request (stand-in images where none can be pulled)
deploy-test:
	@scripts/deploy-test

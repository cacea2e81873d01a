# tenantkit — set-up and checks. `make dev` and `make test` install what is missing.
GO       ?= go
BIN      := bin/tenantkit
SQLC_VER := v1.31.1
GOBIN    := $(shell $(GO) env GOPATH)/bin
SQLC     := $(GOBIN)/sqlc

.PHONY: dev test build deps-dev deps-test generate check-generated bench vet release-check install-check lint-openapi

build:
	$(GO) build -o $(BIN) ./cmd/tenantkit

deps-dev:
	@scripts/deps.sh dev

deps-test:
	@scripts/deps.sh test

dev: deps-dev build
	$(BIN) dev $(ARGS)

test: deps-test vet check-generated release-check lint-openapi
	$(GO) test -race -count=1 -timeout 15m ./...

# .goreleaser.yaml passes goreleaser check, with GoReleaser pinned in its own
# tools module (tools/goreleaser) so that the main module's dependencies stay
# as they are. The first run builds GoReleaser (~3.5 min on 2 cores).
release-check:
	./scripts/release-check.sh

# api/openapi.yaml passes Redocly's lint (recommended rules, strict), with the
# CLI pinned in tools/redocly; the Go tests validate every admin-API exchange
# against the same document.
lint-openapi:
	./scripts/lint-openapi.sh

# go install …/cmd/tenantkit@VERSION from a clean module cache, HEAD served
# as VERSION by a local module proxy (needs the Go module proxy; ~2 min).
install-check:
	./scripts/install-check.sh

vet:
	$(GO) vet ./...

$(SQLC):
	$(GO) install github.com/sqlc-dev/sqlc/cmd/sqlc@$(SQLC_VER)

generate: $(SQLC)
	$(SQLC) generate

# Fails when generated code or go.mod/go.sum are stale.
check-generated: $(SQLC)
	@$(SQLC) diff || (echo "sqlc generate would change files: run make generate" >&2; exit 1)
	@cp go.mod /tmp/tenantkit-go.mod.bak; cp go.sum /tmp/tenantkit-go.sum.bak
	@$(GO) mod tidy
	@if ! cmp -s go.mod /tmp/tenantkit-go.mod.bak || ! cmp -s go.sum /tmp/tenantkit-go.sum.bak; then \
		cp /tmp/tenantkit-go.mod.bak go.mod; cp /tmp/tenantkit-go.sum.bak go.sum; \
		echo "go mod tidy would change go.mod/go.sum: run go mod tidy" >&2; exit 1; fi

bench: deps-test
	$(GO) run ./internal/benchreport $(BENCH_ARGS)

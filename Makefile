# timon — make run starts the hub, make test runs every test.
GO      ?= go
BIN     := bin/timon
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# A static binary without debug information, built the same way on every
# machine (the Dockerfile builds it so too).
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build run test vet lint fmt-check bench loadtest clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/timon

# The hub on its embedded default: SQLite file under ./data, the example
# configuration, the model at TIMON_PROVIDER_URL (default: a local Ollama).
run: build
	./$(BIN) serve --config timon.example.yaml

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# tools/gitleaks is a module of its own (the gitleaks rule generator and the
# comparisons with gitleaks, kept out of the main go.mod): vet, lint, test
# and bench cover it too.
TOOLS := tools/gitleaks

vet:
	$(GO) vet ./...
	cd $(TOOLS) && $(GO) vet ./...

# staticcheck at a pinned version, fetched by the go command (from the
# module proxy, then its cache): any finding fails the build. A finding
# that is deliberate says why with //lint:ignore CHECK reason.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint:
	$(STATICCHECK) ./...
	cd $(TOOLS) && $(STATICCHECK) ./...

# Every test, PostgreSQL ones included (they skip without a server unless
# CI=true, where they must run).
test: fmt-check vet lint
	$(GO) test -race -count=1 -timeout 20m ./...
	cd $(TOOLS) && $(GO) test -race -count=1 -timeout 20m ./...

# Benchmarks print figures and ratios; they assert nothing. The package
# benchmarks run the usual way; the end-to-end ones (a real timon serve) run
# once each, as they size their own load and print percentiles.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 30m ./core/...
	cd $(TOOLS) && $(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 30m ./...
	$(GO) test -run '^$$' -bench . -skip BenchmarkLoad -benchtime 1x -count 1 -timeout 30m ./integration-tests

# Mixed traffic with injected faults against the real binary, on loopback,
# TIMON_LOAD_DURATION (default 60s) on SQLite then on PostgreSQL; prints
# throughput, latency percentiles and errors by cause, then checks the
# journal. Needs the PostgreSQL of the test set-up.
loadtest:
	$(GO) test -run '^$$' -bench BenchmarkLoad -benchtime 1x -count 1 -timeout 10m -v ./integration-tests

# The VS Code extension (lsp/editors/vscode) as bin/timon-VERSION.vsix:
# npm ci from its package-lock.json, type-checked by tsc, bundled by
# esbuild, packaged by @vscode/vsce. Needs Node 22 or later (.ci/run puts
# Node 24 on PATH).
VSCODE  := lsp/editors/vscode
VSIX    := bin/timon-$(shell sed -n 's/^  "version": "\(.*\)",$$/\1/p' $(VSCODE)/package.json).vsix
NPM_CI  := npm ci --prefer-offline --no-audit --no-fund

vsix: $(VSIX)

$(VSCODE)/node_modules/.package-lock.json: $(VSCODE)/package-lock.json $(VSCODE)/package.json
	cd $(VSCODE) && $(NPM_CI)

$(VSIX): $(VSCODE)/node_modules/.package-lock.json $(VSCODE)/tsconfig.json $(VSCODE)/README.md \
		$(VSCODE)/.vscodeignore $(wildcard $(VSCODE)/src/*.ts) LICENSE
	cp LICENSE $(VSCODE)/LICENSE
	@mkdir -p bin
	cd $(VSCODE) && npm run --silent package -- $(CURDIR)/$@

# What the real-editor tests (integration-tests/editors_test.go) run with
# besides the editors themselves: playwright-core, pinned by its lockfile.
EDITORS := integration-tests/testdata/editors

editors-deps: $(EDITORS)/node_modules/.package-lock.json

$(EDITORS)/node_modules/.package-lock.json: $(EDITORS)/package-lock.json $(EDITORS)/package.json
	cd $(EDITORS) && $(NPM_CI)

# The official openai npm client, for integration-tests/openai_clients_test.go.
OPENAI_NODE := integration-tests/testdata/openai-node

openai-node-deps: $(OPENAI_NODE)/node_modules/.package-lock.json

$(OPENAI_NODE)/node_modules/.package-lock.json: $(OPENAI_NODE)/package-lock.json $(OPENAI_NODE)/package.json
	cd $(OPENAI_NODE) && $(NPM_CI)

# Neovim, Emacs (eglot) and VS Code (code-server) against the real binary;
# with CI=true a missing editor fails instead of skipping.
editors-test: vsix editors-deps
	$(GO) test -race -count=1 -timeout 15m -run 'TestEditor' -v ./integration-tests

clean:
	rm -rf bin $(VSCODE)/dist $(VSCODE)/LICENSE

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
	$(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 30m ./core/... ./lsp/...
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

# Release files in dist/: static binaries for Linux, macOS and Windows on
# amd64 and arm64 (dist/timon-VERSION-OS-ARCH, .exe on Windows), a .vsix per
# VS Code platform with the matching binary in its bin/ (the extension runs
# it unless timon.path names another), and SHA256SUMS over all of them. The
# same commit gives the same bytes on any machine: -trimpath, no build id,
# no cgo; the only stamps are VERSION and the commit (dist/ is ignored by
# git, so building it does not mark the tree modified). The .vsix files
# are too, with the same Node.js: vsce dates their entries at the commit
# (SOURCE_DATE_EPOCH).
DIST         ?= dist
DIST_LDFLAGS := $(LDFLAGS) -buildid=
DIST_EPOCH   := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
DIST_OSARCH  := linux-amd64 linux-arm64 darwin-amd64 darwin-arm64 windows-amd64 windows-arm64
DIST_VSCODE  := linux-x64 linux-arm64 darwin-x64 darwin-arm64 win32-x64 win32-arm64
dist_exe      = $(if $(filter windows-% win32-%,$1),.exe)
# dist_bin VSCODE-TARGET: the binary a .vsix for that target bundles.
dist_bin      = $(DIST)/timon-$(VERSION)-$(subst win32,windows,$(subst x64,amd64,$1))$(call dist_exe,$1)
DIST_BINS    := $(foreach p,$(DIST_OSARCH),$(DIST)/timon-$(VERSION)-$(p)$(call dist_exe,$(p)))
DIST_VSIXES  := $(foreach p,$(DIST_VSCODE),$(DIST)/timon-$(VERSION)-$(p).vsix)

.PHONY: dist dist-sums FORCE

dist: $(DIST_BINS) $(DIST_VSIXES)
	@$(MAKE) --no-print-directory dist-sums

# SHA256SUMS of this VERSION's files in $(DIST), sorted by name; check a
# download with sha256sum --ignore-missing -c SHA256SUMS.
dist-sums:
	cd $(DIST) && sha256sum timon-$(VERSION)-* | LC_ALL=C sort -k 2 > SHA256SUMS

# Always relinked (the go command's cache makes that cheap): a file named
# after VERSION must hold this tree's code.
$(DIST)/timon-$(VERSION)-%: FORCE
	@mkdir -p $(DIST)
	CGO_ENABLED=0 GOOS=$(word 1,$(subst -, ,$*)) GOARCH=$(word 2,$(subst -, ,$(basename $*))) \
		$(GO) build -trimpath -ldflags "$(DIST_LDFLAGS)" -o $@ ./cmd/timon

# vsce package --target with the binary as bin/timon (bin/timon.exe), kept
# in the package by .vscodeignore and executable.
.SECONDEXPANSION:
$(DIST)/timon-$(VERSION)-%.vsix: $$(call dist_bin,$$*) $(VSCODE)/node_modules/.package-lock.json \
		$(VSCODE)/tsconfig.json $(VSCODE)/README.md $(VSCODE)/.vscodeignore $(wildcard $(VSCODE)/src/*.ts) LICENSE
	cp LICENSE $(VSCODE)/LICENSE
	rm -rf $(VSCODE)/bin && mkdir -p $(VSCODE)/bin
	install -m 755 $< $(VSCODE)/bin/timon$(call dist_exe,$*)
	cd $(VSCODE) && SOURCE_DATE_EPOCH=$(DIST_EPOCH) npm run --silent package -- $(abspath $@) --target $*; \
		status=$$?; rm -rf bin; exit $$status

FORCE:

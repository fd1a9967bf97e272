// Package integrationtests runs the real timon binary end to end against
// wire-level fakes (fakellm, and later fake chat platforms and GitLab), and
// holds the tests that keep the code base's structure.
package integrationtests

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "timon.dev/timon"

type goPackage struct {
	ImportPath string
	Name       string
	Doc        string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// frontEnd returns the front end a package belongs to ("" for none).
func frontEnd(path string) string {
	rel := strings.TrimPrefix(path, module+"/")
	for _, fe := range []string{"lsp", "bots", "webhooks"} {
		if rel == fe || strings.HasPrefix(rel, fe+"/") {
			return fe
		}
	}
	return ""
}

func under(path, dir string) bool {
	p := strings.TrimPrefix(path, module+"/")
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// concreteDrivers are what only cmd and tests may pick.
var concreteDrivers = []string{
	module + "/core/store/sqlite",
	module + "/core/store/postgres",
	"modernc.org/sqlite",
	"github.com/jackc/pgx/v5",
	"github.com/riverqueue/river/riverdriver/riversqlite",
	"github.com/riverqueue/river/riverdriver/riverpgxv5",
}

// driverUsers may import concrete drivers: the drivers themselves, the test
// helpers that open real stores, and cmd.
var driverUsers = []string{"cmd", "core/store/sqlite", "core/store/postgres", "core/store/storetest", "integration-tests"}

// TestDependencyDirection keeps ARCHITECTURE.md's direction: cmd → front
// ends → core; front ends never import each other; nothing in core imports
// a front end or cmd; only cmd and tests pick concrete drivers.
func TestDependencyDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		fe := frontEnd(p.ImportPath)
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) && !isDriver(imp) {
				continue
			}
			if ife := frontEnd(imp); ife != "" && fe != "" && ife != fe {
				t.Errorf("front end %s imports another front end: %s", p.ImportPath, imp)
			}
			if under(p.ImportPath, "core") && (frontEnd(imp) != "" || under(imp, "cmd")) {
				t.Errorf("core package %s imports %s", p.ImportPath, imp)
			}
			if isDriver(imp) && !usesDrivers(p.ImportPath) {
				t.Errorf("%s picks a concrete driver (%s): only cmd and tests may", p.ImportPath, imp)
			}
			if under(imp, "integration-tests") || (under(imp, "cmd") && !under(p.ImportPath, "cmd")) {
				t.Errorf("%s imports %s", p.ImportPath, imp)
			}
		}
	}
}

func isDriver(imp string) bool {
	for _, d := range concreteDrivers {
		if imp == d || strings.HasPrefix(imp, d+"/") {
			return true
		}
	}
	return false
}

func usesDrivers(path string) bool {
	for _, d := range driverUsers {
		if under(path, d) {
			return true
		}
	}
	return false
}

// TestPackageDocs: every package says what it owns.
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue // tests only: go list does not read their doc
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment saying what it owns", p.ImportPath)
		}
	}
}

// TestRequiredLayout: the top-level folders ARCHITECTURE.md requires.
func TestRequiredLayout(t *testing.T) {
	for _, dir := range []string{"cmd", "lsp", "bots", "core", "webhooks", "integration-tests"} {
		entries, err := os.ReadDir(filepath.Join("..", dir))
		if err != nil || len(entries) == 0 {
			t.Errorf("top-level folder %s is missing or empty", dir)
		}
	}
}

// TestBinaryDependenciesExplained: every module the binary links that
// go.mod requires directly is in the README's table of why it is there,
// and the test-only ones stay out of the binary.
func TestBinaryDependenciesExplained(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", "../cmd/timon").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	linked := map[string]bool{}
	for _, m := range strings.Fields(string(out)) {
		linked[m] = true
	}
	for _, testOnly := range []string{"github.com/openai/openai-go/v3", "github.com/zricethezav/gitleaks/v8",
		"github.com/mattermost/mattermost/server/public", "github.com/zitadel/oidc/v3", "github.com/chromedp/chromedp",
		"github.com/chromedp/cdproto"} {
		if linked[testOnly] {
			t.Errorf("the binary links %s, a dependency of tests only", testOnly)
		}
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	direct := 0
	for line := range strings.Lines(string(gomod)) {
		f := strings.Fields(line)
		if len(f) < 2 || strings.Contains(line, "// indirect") || !strings.Contains(f[0], ".") || !linked[f[0]] || f[0] == module {
			continue
		}
		direct++
		// A module is explained by its own path or by its parent's
		// (github.com/riverqueue/river for its drivers).
		explained := false
		for p := f[0]; strings.Contains(p, "/") && !explained; p = p[:strings.LastIndex(p, "/")] {
			explained = strings.Contains(string(readme), "`"+p+"`")
		}
		if !explained {
			t.Errorf("the binary links %s, which go.mod requires directly, but the README's layout does not say why", f[0])
		}
	}
	if direct < 10 {
		t.Fatalf("read %d direct dependencies of the binary in go.mod: the parsing is wrong", direct)
	}
}

// TestBinaryKeepsDeadCodeElimination: nothing in the binary calls methods
// by a name known only at run time (reflect's MethodByName with a variable,
// as text/template and html/template do), which makes the linker keep every
// exported method of every package: 8 MB more, all of it mapped in every
// timon lsp.
func TestBinaryKeepsDeadCodeElimination(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "build", "-ldflags=-dumpdep", "-o", os.DevNull, "../cmd/timon").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -ldflags=-dumpdep: %v\n%.2000s", err, out)
	}
	if !bytes.Contains(out, []byte("main.main")) {
		t.Fatalf("the linker's dependency dump names no main.main: the check no longer reads it (%.500s)", out)
	}
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "<ReflectMethod>") {
			t.Errorf("the linker keeps every exported method, because of: %s", strings.TrimSpace(line))
		}
	}
}

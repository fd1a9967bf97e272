package integrationtests

// make dist's rules: the release binaries are reproducible and listed in
// SHA256SUMS, and a platform-specific .vsix carries its binary (the VS Code
// test, editors_test.go, runs it in code-server without timon.path). One
// target is built here, through the Makefile's own rule; the other five
// differ only in GOOS and GOARCH.

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// distVersion is the VERSION the tests build with, so that the file names
// do not depend on the state of the working tree.
const distVersion = "test"

// distMake runs make in the repository root with DIST=dir and
// VERSION=distVersion; path is prepended to PATH when not empty.
func distMake(t *testing.T, dir, path string, targets ...string) {
	t.Helper()
	args := append([]string{"-C", "..", "--no-print-directory", "DIST=" + dir, "VERSION=" + distVersion}, targets...)
	cmd := exec.Command("make", args...)
	if path != "" {
		cmd.Env = append(os.Environ(), "PATH="+path+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestDistReproducible(t *testing.T) {
	requiredTool(t, "make", "apt-get install make", "make")
	requiredTool(t, "sha256sum", "apt-get install coreutils", "sha256sum")
	name := "timon-" + distVersion + "-linux-amd64"
	first, second := t.TempDir(), t.TempDir()
	distMake(t, first, "", filepath.Join(first, name))
	distMake(t, second, "", filepath.Join(second, name), "dist-sums")

	a, err := os.ReadFile(filepath.Join(first, name))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(second, name))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("two builds of %s differ: %d and %d bytes, sha256 %x and %x", name, len(a), len(b), sha256.Sum256(a), sha256.Sum256(b))
	}
	exe, err := elf.Open(filepath.Join(first, name))
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	for _, p := range exe.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s asks for a dynamic loader: it is not static", name)
		}
	}

	sums, err := os.ReadFile(filepath.Join(second, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if want := hex.EncodeToString(sum[:]) + "  " + name + "\n"; string(sums) != want {
		t.Errorf("SHA256SUMS is\n%q\nwant\n%q", sums, want)
	}
	check := exec.Command("sha256sum", "--strict", "-c", "SHA256SUMS")
	check.Dir = second
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	}
}

// distVSIX builds the linux-x64 .vsix with make's dist rule (its binary
// from this tree) on the Node found at node, checks that it carries the
// binary, executable, as extension/bin/timon, and returns its path.
func distVSIX(t *testing.T, node string) string {
	t.Helper()
	dir := t.TempDir()
	vsix := filepath.Join(dir, "timon-"+distVersion+"-linux-x64.vsix")
	distMake(t, dir, filepath.Dir(node), vsix)
	z, err := zip.OpenReader(vsix)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	var names []string
	found := false
	for _, f := range z.File {
		names = append(names, f.Name)
		if f.Name != "extension/bin/timon" {
			continue
		}
		found = true
		if f.Mode()&0o111 != 0o111 {
			t.Errorf("extension/bin/timon has mode %v in the package, want it executable", f.Mode())
		}
		built, err := os.Stat(filepath.Join(dir, "timon-"+distVersion+"-linux-amd64"))
		if err != nil {
			t.Fatal(err)
		}
		if f.UncompressedSize64 != uint64(built.Size()) {
			t.Errorf("extension/bin/timon is %d bytes, the linux-amd64 binary %d", f.UncompressedSize64, built.Size())
		}
	}
	if !found {
		t.Fatalf("%s does not carry extension/bin/timon: %q", vsix, names)
	}
	return vsix
}

package integrationtests

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.lsp.dev/protocol"

	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/lsp/lsptest"
)

// The remote-mode file lsp/editors/README.md tells editor users to write:
// only an lsp section, the token in a file under ~.
func TestConfigCheckAcceptsTheRemoteLSPFile(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".config", "timon"), 0o700)
	os.WriteFile(filepath.Join(home, ".config", "timon", "token"), []byte("timon_abc\n"), 0o600)
	cfg := filepath.Join(home, ".config", "timon", "lsp.yaml")
	os.WriteFile(cfg, []byte("lsp:\n  hub_url: https://timon.example.org\n  token_file: ~/.config/timon/token\n"), 0o600)
	env := map[string]string{"HOME": home, "TIMON_TOKEN": ""}

	out, errOut, code := runTimonEnv(t, env, "config", "check", "--config", cfg)
	if code != 0 || !strings.Contains(out, "ok (timon lsp in remote mode, hub https://timon.example.org") {
		t.Fatalf("config check: exit %d\n%s%s", code, out, errOut)
	}
	// The token file named with ~ is found: a missing one is reported.
	os.Remove(filepath.Join(home, ".config", "timon", "token"))
	_, errOut, code = runTimonEnv(t, env, "config", "check", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, filepath.Join(home, ".config", "timon", "token")) {
		t.Fatalf("missing token file: exit %d\n%s", code, errOut)
	}
	// What runs the engine still needs providers, and says so.
	os.WriteFile(filepath.Join(home, ".config", "timon", "token"), []byte("timon_abc\n"), 0o600)
	_, errOut, code = runTimonEnv(t, env, "serve", "--config", cfg, "--addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errOut, "at least one provider is needed") {
		t.Fatalf("serve without providers: exit %d\n%s", code, errOut)
	}
}

// An editor starts timon lsp in the user's project: local mode must keep
// its journal and keys out of it, under the user's data directory.
func TestLocalLSPWritesNothingInTheWorkspace(t *testing.T) {
	fake := fakellm.New()
	defer fake.Close()
	home := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "timon.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(lspLocalConfig, fake.URL())), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startLSPProc(t, lsptest.Neovim07, []string{"HOME=" + home, "XDG_DATA_HOME=", "TIMON_DATA_DIR="}, "--config", cfg)
	ctx := ctxT(t)
	before := listFiles(t, p.root)

	u := p.file("add.go")
	p.c.Open(u, "go", lspAddGo+"\n}\n")
	var list protocol.CompletionList
	if err := p.c.Call(ctx, "textDocument/completion", map[string]any{
		"textDocument": map[string]any{"uri": u}, "position": p.c.Pos(u, len(lspAddGo)), "context": map[string]any{"triggerKind": 1},
	}, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || fake.Count() != 1 {
		t.Fatalf("completion %+v after %d model requests", list, fake.Count())
	}
	p.shutdown(t)

	if after := listFiles(t, p.root); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("the workspace changed: %v, was %v", after, before)
	}
	data := filepath.Join(home, ".local", "share", "timon")
	for _, f := range []string{"timon.db", "audit-signing.key"} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Errorf("%s not in the per-user data directory: %v", f, err)
		}
	}
	// The journal there holds the completion.
	out, errOut, code := runTimonEnv(t, map[string]string{"TIMON_DATA_DIR": data}, "audit", "verify", "--config", cfg)
	if code != 0 || !strings.Contains(out, "OK: 1 entry,") {
		t.Fatalf("audit verify on the per-user journal: exit %d\n%s%s", code, out, errOut)
	}
}

// listFiles lists every file and directory under root, relative.
func listFiles(t *testing.T, root string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != root {
			rel, _ := filepath.Rel(root, path)
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

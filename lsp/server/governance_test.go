package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.lsp.dev/protocol"

	"timon.dev/timon/lsp/lsptest"
)

// TestIgnoredWhateverTheCaseAndScheme: secret files in any case, and
// documents of other schemes (untitled buffers, remote files, notebook
// cells) matching the ignore rules, send nothing and say so once each;
// an allowed file and an allowed untitled buffer still work.
func TestIgnoredWhateverTheCaseAndScheme(t *testing.T) {
	s := start(t, setup{caps: lsptest.Neovim07})
	ctx := ctxT(t)
	if err := os.WriteFile(filepath.Join(s.root, ".timonignore"), []byte("secrets/**\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := filepath.ToSlash(s.root)
	ignored := []string{
		s.file(".ENV"),
		s.file("certs/server.PEM"),
		"untitled:.env",
		"untitled:Server.Key",
		"vscode-remote://ssh-remote%2Blab" + root + "/secrets/token.go", // the workspace, seen remotely
		"vscode-remote://ssh-remote%2Blab/home/ada/elsewhere/secrets/token.go",
		"vscode-vfs://github/lab/solver/.env",
		"vscode-notebook-cell:" + root + "/secrets/analysis.ipynb#W0sZmlsZQ%3D%3D",
	}
	for _, u := range ignored {
		if err := s.c.Open(u, "go", addGo); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			var list protocol.CompletionList
			if err := s.c.Call(ctx, "textDocument/completion", completionParams(u, s.c.Pos(u, len(addGo)), 1), &list); err != nil {
				t.Fatalf("%s: %v", u, err)
			}
			if len(list.Items) != 0 {
				t.Fatalf("%s: completion offered", u)
			}
			if acts := codeActions(t, s, u, 0, len(addGo)); len(acts) != 0 {
				t.Fatalf("%s: actions offered %+v", u, acts)
			}
		}
	}
	// The proof: allowed documents reach the model.
	for i, u := range []string{s.file("main.go"), "untitled:Untitled-1"} {
		s.c.Open(u, "go", addGo)
		var list protocol.CompletionList
		if err := s.c.Call(ctx, "textDocument/completion", completionParams(u, s.c.Pos(u, len(addGo)), 1), &list); err != nil || len(list.Items) != 1 {
			t.Fatalf("%s: %+v %v", u, list, err)
		}
		if n := s.fake.Count(); n != i+1 {
			t.Fatalf("after %s the model got %d requests, want %d: an ignored document was sent", u, n, i+1)
		}
	}
	// Said once per ignored document, in the editor.
	var off []string
	for _, m := range s.c.Messages() {
		if strings.Contains(m.Message, "timon: off for ") {
			off = append(off, m.Message)
		}
	}
	if len(off) != len(ignored) {
		t.Fatalf("%d off messages for %d ignored documents: %q", len(off), len(ignored), off)
	}
	for _, want := range []string{"off for .ENV", "off for certs/server.PEM", "off for secrets/token.go", ".timonignore:1: secrets/**"} {
		if !slices.ContainsFunc(off, func(m string) bool { return strings.Contains(m, want) }) {
			t.Errorf("no message says %q: %q", want, off)
		}
	}
}

// TestMalformedFramesAreAnswered: a frame that is not JSON, one with a bad
// Content-Length, one without any, one too short for its body and one that
// is JSON but no JSON-RPC message are each answered with an error, id null, and the
// session goes on.
func TestMalformedFramesAreAnswered(t *testing.T) {
	s := start(t, setup{caps: lsptest.Neovim07})
	ctx := ctxT(t)
	u := s.file("main.go")
	s.c.Open(u, "go", addGo)
	frames := []struct {
		name string
		raw  string
		code int
	}{
		{"not JSON", "Content-Length: 5\r\n\r\nhello", -32700},
		{"bad length", "Content-Length: twelve\r\n\r\n{}", -32700},
		{"no length", "Content-Type: application/json\r\n\r\n", -32700},
		{"length too short", "Content-Length: 4\r\n\r\n" + `{"jsonrpc":"2.0","method":"initialized","params":{}}`, -32700},
		{"JSON, no message", fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(`{"hello":"world"}`), `{"hello":"world"}`), -32600},
	}
	for _, f := range frames {
		before := len(s.c.StrayErrors())
		if err := s.c.WriteRaw([]byte(f.raw)); err != nil {
			t.Fatal(err)
		}
		// The next request is answered.
		if acts := codeActions(t, s, u, 0, len(addGo)); len(acts) == 0 {
			t.Fatalf("%s: no actions after the malformed frame", f.name)
		}
		if err := s.c.WaitFor(ctx, f.name+" answered", func() bool {
			return slices.ContainsFunc(s.c.StrayErrors()[before:], func(e lsptest.RPCError) bool { return e.Code == f.code })
		}); err != nil {
			t.Fatalf("%s: %v; stray errors %+v", f.name, err, s.c.StrayErrors()[before:])
		}
	}
	// The session still works end to end.
	var list protocol.CompletionList
	if err := s.c.Call(ctx, "textDocument/completion", completionParams(u, s.c.Pos(u, len(addGo)), 1), &list); err != nil || len(list.Items) != 1 {
		t.Fatalf("%+v %v", list, err)
	}
}

package integrationtests

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.lsp.dev/protocol"

	"timon.dev/timon/lsp/lsptest"
)

// TestAbuseLSPIgnoredDocuments: timon lsp over stdio sends nothing from
// secret files in any case (.ENV, server.PEM) nor from untitled buffers
// and remote documents matching the ignore rules, says once for each that
// it is off, and still completes an allowed file.
func TestAbuseLSPIgnoredDocuments(t *testing.T) {
	fake := newFake(t)
	p := startLocalLSP(t, fake, lsptest.Neovim07)
	ctx := ctxT(t)
	if err := os.WriteFile(filepath.Join(p.root, ".timonignore"), []byte("secrets/**\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	text := "API_KEY=sk-live-123\nfunc add(a, b int) int {"
	ignored := []string{
		p.file(".ENV"),
		p.file("server.PEM"),
		"untitled:.env",
		"vscode-remote://ssh-remote%2Blab" + filepath.ToSlash(p.root) + "/secrets/run.go",
	}
	for _, u := range ignored {
		if err := p.c.Open(u, "go", text); err != nil {
			t.Fatal(err)
		}
		var list protocol.CompletionList
		if err := p.c.Call(ctx, "textDocument/completion", map[string]any{
			"textDocument": map[string]any{"uri": u}, "position": p.c.Pos(u, len(text)), "context": map[string]any{"triggerKind": 1},
		}, &list); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if len(list.Items) != 0 {
			t.Fatalf("%s: completion offered", u)
		}
	}
	// The proof: an allowed file's completion reaches the model, and only
	// it did.
	u := p.file("main.go")
	p.c.Open(u, "go", lspAddGo)
	var list protocol.CompletionList
	if err := p.c.Call(ctx, "textDocument/completion", map[string]any{
		"textDocument": map[string]any{"uri": u}, "position": p.c.Pos(u, len(lspAddGo)), "context": map[string]any{"triggerKind": 1},
	}, &list); err != nil || len(list.Items) != 1 {
		t.Fatalf("allowed file: %+v %v", list, err)
	}
	if n := len(modelRequests(fake)); n != 1 {
		t.Fatalf("the model got %d requests, want only the allowed file's", n)
	}
	var off []string
	for _, m := range p.c.Messages() {
		if strings.Contains(m.Message, "timon: off for ") {
			off = append(off, m.Message)
		}
	}
	if len(off) != len(ignored) || !slices.ContainsFunc(off, func(m string) bool { return strings.Contains(m, "secrets/**") }) {
		t.Fatalf("off messages %q", off)
	}
	p.shutdown(t)
}

// TestAbuseLSPMalformedFrame: a frame that is not JSON gets a parse error
// (-32700, id null) and the next request is still answered.
func TestAbuseLSPMalformedFrame(t *testing.T) {
	fake := newFake(t)
	p := startLocalLSP(t, fake, lsptest.Neovim07)
	ctx := ctxT(t)
	u := p.file("main.go")
	p.c.Open(u, "go", lspAddGo)
	for _, raw := range []string{"Content-Length: 9\r\n\r\nnot json!", "Content-Length: x\r\n\r\n{}"} {
		before := len(p.c.StrayErrors())
		if err := p.c.WriteRaw([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		var list protocol.CompletionList
		if err := p.c.Call(ctx, "textDocument/completion", map[string]any{
			"textDocument": map[string]any{"uri": u}, "position": p.c.Pos(u, len(lspAddGo)), "context": map[string]any{"triggerKind": 1},
		}, &list); err != nil || len(list.Items) != 1 {
			t.Fatalf("after %q: %+v %v", raw, list, err)
		}
		if err := p.c.WaitFor(ctx, "a parse error", func() bool {
			return slices.ContainsFunc(p.c.StrayErrors()[before:], func(e lsptest.RPCError) bool { return e.Code == -32700 })
		}); err != nil {
			t.Fatalf("after %q: %v", raw, err)
		}
	}
	p.shutdown(t)
}

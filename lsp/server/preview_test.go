package server_test

import (
	"strings"
	"testing"

	"go.lsp.dev/protocol"

	"timon.dev/timon/lsp/lsptest"
	"timon.dev/timon/lsp/server"
)

// resolveRewrite asks for the LaTeX actions at "results" in paper and
// resolves the one whose title holds title.
func resolveRewrite(t *testing.T, s *session, u, title string) protocol.CodeAction {
	t.Helper()
	ctx := ctxT(t)
	cur := strings.Index(paper, "results")
	var acts []protocol.CodeAction
	if err := s.c.Call(ctx, "textDocument/codeAction", map[string]any{
		"textDocument": map[string]any{"uri": u}, "range": s.c.Range(u, cur, cur), "context": map[string]any{"diagnostics": []any{}},
	}, &acts); err != nil {
		t.Fatal(err)
	}
	for _, a := range acts {
		if strings.Contains(a.Title, title) {
			var resolved protocol.CodeAction
			if err := s.c.Call(ctx, "codeAction/resolve", &a, &resolved); err != nil {
				t.Fatal(err)
			}
			return resolved
		}
	}
	t.Fatalf("no action %q in %+v", title, acts)
	return protocol.CodeAction{}
}

// VS Code declares change annotations: a rewrite's edits carry one that
// needs confirmation, named after the action and saying what was kept, so
// that VS Code shows its refactor preview before anything changes.
func TestRewriteNeedsConfirmationWhereTheClientPreviews(t *testing.T) {
	s := start(t, setup{caps: lsptest.VSCode})
	s.fake.Handle(rewriter)
	u := s.file("paper.tex")
	s.c.Open(u, "latex", paper)
	a := resolveRewrite(t, s, u, "grammar")
	if a.Edit == nil {
		t.Fatalf("resolved %+v", a)
	}
	notes := lsptest.Annotations(*a.Edit)
	if len(notes) != 1 || !lsptest.NeedsConfirmation(*a.Edit) {
		t.Fatalf("one annotation needing confirmation expected: %+v", a.Edit)
	}
	n := notes[0]
	if n.Label != a.Title || !strings.HasPrefix(n.Label, "timon: ") {
		t.Errorf("label %q, want the action's title %q", n.Label, a.Title)
	}
	desc := ""
	if n.Description != nil {
		desc = *n.Description
	}
	for _, want := range []string{"1 formula", "2 citations", "1 reference", "1 comment"} {
		if !strings.Contains(desc, want) {
			t.Errorf("description %q does not say %q was kept", desc, want)
		}
	}
	t.Logf("description: %s", desc)
	if strings.Contains(desc, "smith2020") || strings.Contains(desc, "mc^2") {
		t.Errorf("the description names kinds, never content: %q", desc)
	}
	// Every edit refers to the annotation; the document is unchanged
	// until the client applies the edit (the user's confirmation).
	tde := a.Edit.DocumentChanges[0].(*protocol.TextDocumentEdit)
	for _, e := range tde.Edits {
		if ae, ok := e.(*protocol.AnnotatedTextEdit); !ok || ae.AnnotationID != server.RewriteAnnotation {
			t.Fatalf("edit %#v is not annotated", e)
		}
	}
	if s.c.Text(u) != paper {
		t.Fatal("nothing may change before the preview is accepted")
	}
	if err := s.c.Apply(*a.Edit); err != nil {
		t.Fatal(err)
	}
	if got := s.c.Text(u); got != strings.Replace(paper, "Teh", "The", 1) {
		t.Fatalf("text %q", got)
	}
}

// The command path (workspace/applyEdit) carries the annotation too; a
// preview the user discards changes nothing and says so.
func TestAppliedRewriteNeedsConfirmationAndCanBeDeclined(t *testing.T) {
	s := start(t, setup{caps: lsptest.VSCode})
	ctx := ctxT(t)
	s.fake.Handle(rewriter)
	u := s.file("paper.tex")
	s.c.Open(u, "latex", paper)
	s.c.DeclinePreviews(true)
	cur := strings.Index(paper, "results")
	args := map[string]any{"uri": u, "range": s.c.Range(u, cur, cur)}
	if err := s.c.Call(ctx, "workspace/executeCommand", map[string]any{"command": "timon.reformulate", "arguments": []any{args}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.WaitMessage(ctx, "was not applied"); err != nil {
		t.Fatal(err)
	}
	ae := s.c.AppliedEdits()
	if len(ae) != 1 || !lsptest.NeedsConfirmation(ae[0].Edit) || lsptest.Annotations(ae[0].Edit)[0].Label != "timon: Reformulate (academic tone)" {
		t.Fatalf("an edit needing confirmation expected: %+v", ae)
	}
	if s.c.Text(u) != paper {
		t.Fatal("a declined preview must change nothing")
	}
	s.c.DeclinePreviews(false)
	if err := s.c.Call(ctx, "workspace/executeCommand", map[string]any{"command": "timon.reformulate", "arguments": []any{args}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.c.WaitFor(ctx, "the accepted preview", func() bool { return s.c.Text(u) != paper }); err != nil {
		t.Fatal(err)
	}
}

// Clients without change annotations (Neovim 0.7, eglot 1.9) get the
// plain edits of before, and lsp.preview_rewrites: false turns the
// preview off for VS Code too.
func TestRewriteWithoutPreview(t *testing.T) {
	for _, tc := range []struct {
		name, caps string
		plain      bool
	}{
		{"neovim 0.7", lsptest.Neovim07, false},
		{"eglot 1.9", lsptest.Eglot19, false},
		{"vscode, preview_rewrites off", lsptest.VSCode, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, setup{caps: tc.caps, plainRewrites: tc.plain})
			ctx := ctxT(t)
			s.fake.Handle(rewriter)
			u := s.file("paper.tex")
			s.c.Open(u, "latex", paper)
			cur := strings.Index(paper, "results")
			args := map[string]any{"uri": u, "range": s.c.Range(u, cur, cur)}
			if err := s.c.Call(ctx, "workspace/executeCommand", map[string]any{"command": "timon.grammar", "arguments": []any{args}}, nil); err != nil {
				t.Fatal(err)
			}
			want := strings.Replace(paper, "Teh", "The", 1)
			if err := s.c.WaitFor(ctx, "the edit", func() bool { return s.c.Text(u) == want }); err != nil {
				t.Fatalf("%v; text %q", err, s.c.Text(u))
			}
			ae := s.c.AppliedEdits()
			if len(ae) != 1 || len(ae[0].Edit.ChangeAnnotations) != 0 || lsptest.NeedsConfirmation(ae[0].Edit) {
				t.Fatalf("plain edits expected: %+v", ae)
			}
			for _, dc := range ae[0].Edit.DocumentChanges {
				for _, e := range dc.(*protocol.TextDocumentEdit).Edits {
					if _, ok := e.(*protocol.TextEdit); !ok {
						t.Fatalf("edit %#v", e)
					}
				}
			}
		})
	}
}

package integrationtests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.lsp.dev/protocol"

	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/lsp/lsptest"
)

// TestLSPCitationsBothModes: the real binary, in local mode and in remote
// mode (through timon serve), completes a key from the writer's own .bib
// without the model, and "suggest citations" inserts only the key the
// bibliography holds when the model also answers an invented one.
func TestLSPCitationsBothModes(t *testing.T) {
	for _, mode := range []string{"local", "remote"} {
		t.Run(mode, func(t *testing.T) {
			fake := fakellm.New()
			defer fake.Close()
			var p *lspProc
			if mode == "local" {
				p = startLocalLSP(t, fake, lsptest.Eglot19)
			} else {
				p, _ = startRemoteLSP(t, fake, lsptest.Eglot19)
			}
			c, ctx := p.c, ctxT(t)
			if err := os.WriteFile(filepath.Join(p.root, "refs.bib"), []byte(editorBib), 0o644); err != nil {
				t.Fatal(err)
			}
			tex := p.file("cite.tex")
			c.Open(tex, "latex", editorCite)
			var list protocol.CompletionList
			cur := strings.Index(editorCite, "{jo}") + 3
			if err := c.Call(ctx, "textDocument/completion", map[string]any{
				"textDocument": map[string]any{"uri": tex}, "position": c.Pos(tex, cur), "context": map[string]any{"triggerKind": 1},
			}, &list); err != nil || len(list.Items) != 1 || list.Items[0].Label != "joliot1934" {
				t.Fatalf("completion %v %+v", err, list.Items)
			}
			for _, r := range fake.Requests() {
				if !strings.HasSuffix(r.Path, "/models") {
					t.Fatalf("citation completion reached the model: %s", r.Path)
				}
			}

			fake.Handle(func(r fakellm.Request) fakellm.Reply {
				if strings.Contains(r.LastUser(), "<entries>") && len(r.ResponseFormat) > 0 {
					return fakellm.Reply{Text: `{"keys": ["made-up2021", "joliot1934"]}`}
				}
				return fakellm.Reply{}
			})
			cur = strings.Index(editorCite, "Artificial")
			var acts []protocol.CodeAction
			if err := c.Call(ctx, "textDocument/codeAction", map[string]any{
				"textDocument": map[string]any{"uri": tex}, "range": c.Range(tex, cur, cur+len("Artificial radioactivity \\cite{jo}.")), "context": map[string]any{"diagnostics": []any{}},
			}, &acts); err != nil {
				t.Fatal(err)
			}
			var act protocol.CodeAction
			for _, a := range acts {
				if a.Command.Command == "timon.cite" {
					act = a
				}
			}
			if act.Title == "" {
				t.Fatalf("no suggest citations action in %+v", acts)
			}
			if err := c.Call(ctx, "workspace/executeCommand", map[string]any{"command": act.Command.Command, "arguments": act.Command.Arguments}, nil); err != nil {
				t.Fatal(err)
			}
			want := strings.Replace(editorCite, `\cite{jo}.`, `\cite{jo}~\cite{joliot1934}.`, 1)
			if err := c.WaitFor(ctx, "the citation", func() bool { return c.Text(tex) == want }); err != nil {
				t.Fatalf("%v: %q (messages %+v)", err, c.Text(tex), c.Messages())
			}
			if strings.Contains(c.Text(tex), "made-up2021") {
				t.Fatal("an invented key was inserted")
			}
			p.shutdown(t)
		})
	}
}

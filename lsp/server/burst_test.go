package server_test

import (
	"testing"
	"time"

	"go.lsp.dev/protocol"

	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/lsp/lsptest"
)

// TestCompletionInvokedOnEveryKeystrokeIsDebounced types 20 characters
// 50 ms apart the way nvim-cmp and company-mode do: a didChange, a
// textDocument/completion with triggerKind Invoked, and a cancel of the
// previous request. The burst must not send every keystroke to the model,
// and the last request still gets its suggestion.
func TestCompletionInvokedOnEveryKeystrokeIsDebounced(t *testing.T) {
	for _, tc := range []struct {
		name, caps, method string
		trigger            int
	}{
		{"completion invoked", lsptest.Neovim07, "textDocument/completion", 1},
		{"completion without context", lsptest.Neovim07, "textDocument/completion", 0},
		{"inline invoked", lsptest.VSCode, "textDocument/inlineCompletion", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, setup{caps: tc.caps, debounce: 150 * time.Millisecond})
			ctx := ctxT(t)
			s.fake.Handle(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{Text: "(a, b)"} })
			u := s.file("burst.go")
			s.c.Open(u, "go", "package m\n\nfunc main() {\n\t")
			var prev *lsptest.Pending
			for i, r := range "x := computeTotals" {
				if i > 0 {
					time.Sleep(50 * time.Millisecond) // the typing speed under test
				}
				off := len(s.c.Text(u))
				if err := s.c.Replace(u, off, off, string(r)); err != nil {
					t.Fatal(err)
				}
				p, err := s.c.Send(tc.method, completionParams(u, s.c.Pos(u, off+1), tc.trigger), nil)
				if err != nil {
					t.Fatal(err)
				}
				if prev != nil {
					if err := prev.Cancel(); err != nil {
						t.Fatal(err)
					}
				}
				prev = p
			}
			var got string
			if tc.method == "textDocument/completion" {
				var list protocol.CompletionList
				if err := prev.Wait(ctx, &list); err != nil {
					t.Fatal(err)
				}
				if len(list.Items) == 1 {
					got = list.Items[0].TextEdit.(*protocol.TextEdit).NewText
				}
			} else {
				var list protocol.InlineCompletionList
				if err := prev.Wait(ctx, &list); err != nil {
					t.Fatal(err)
				}
				if len(list.Items) == 1 {
					got = string(list.Items[0].InsertText.(protocol.String))
				}
			}
			if n := s.fake.Count(); n > 2 {
				t.Fatalf("a burst of 18 keystrokes made %d model requests, want at most 2", n)
			}
			if want := "computeTotals(a, b)"; tc.method == "textDocument/completion" && got != want {
				t.Fatalf("the last request got %q, want %q", got, want)
			}
			if want := "(a, b)"; tc.method != "textDocument/completion" && got != want {
				t.Fatalf("the last request got %q, want %q", got, want)
			}
		})
	}
}

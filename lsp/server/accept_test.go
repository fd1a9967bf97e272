package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/lsp/complete"
	"timon.dev/timon/lsp/lsptest"
)

// counted reports a session's suggestion counts to the counters of its
// engine's store, as timon lsp does in local mode, and signals each report.
type counted struct {
	sugg    *audit.Suggestions
	p       core.Principal
	reports chan []core.SuggestionCount
}

func (c *counted) report(ctx context.Context, counts []core.SuggestionCount) error {
	if err := c.sugg.Add(ctx, c.p, time.Now(), counts); err != nil {
		return err
	}
	c.reports <- counts
	return nil
}

func (c *counted) stats(t *testing.T) *audit.SuggestionStats {
	t.Helper()
	st, err := c.sugg.Stats(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func startCounted(t *testing.T, caps string, every time.Duration) (*session, *counted) {
	t.Helper()
	c := &counted{p: core.Principal{UserID: "alice", Integration: core.IntegrationLSP}, reports: make(chan []core.SuggestionCount, 16)}
	s := start(t, setup{caps: caps, report: func(ctx context.Context, cs []core.SuggestionCount) error { return c.report(ctx, cs) }, reportEvery: every})
	sugg, err := audit.OpenSuggestions(context.Background(), s.local.Store)
	if err != nil {
		t.Fatal(err)
	}
	c.sugg = sugg
	return s, c
}

func acceptance(t *testing.T, cmd protocol.Command) complete.Acceptance {
	t.Helper()
	if cmd.Command != complete.AcceptedCommand || len(cmd.Arguments) != 1 {
		t.Fatalf("a suggestion must carry timon.accepted: %+v", cmd)
	}
	var a complete.Acceptance
	if err := json.Unmarshal(cmd.Arguments[0], &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func accept(t *testing.T, s *session, cmd protocol.Command) {
	t.Helper()
	if err := s.c.Call(ctxT(t), "workspace/executeCommand", map[string]any{"command": cmd.Command, "arguments": cmd.Arguments}, nil); err != nil {
		t.Fatal(err)
	}
}

// VS Code runs an inline completion's command when the user accepts it:
// suggestions shown and accepted are counted by language, an acceptance
// once, and reported at shutdown without content.
func TestInlineSuggestionsShownAndAcceptedAreCounted(t *testing.T) {
	s, c := startCounted(t, lsptest.VSCode, 0)
	ctx := ctxT(t)
	u := s.file("add.go")
	s.c.Open(u, "go", addGo+"\n}\n")
	inline := func() protocol.InlineCompletionItem {
		t.Helper()
		var res protocol.InlineCompletionList
		if err := s.c.Call(ctx, "textDocument/inlineCompletion", map[string]any{
			"textDocument": map[string]any{"uri": u}, "position": s.c.Pos(u, len(addGo)), "context": map[string]any{"triggerKind": 1},
		}, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != 1 {
			t.Fatalf("items %+v", res)
		}
		return res.Items[0]
	}
	s.fake.Enqueue(fakellm.Reply{Text: "\n\treturn a + b"})
	first := inline()
	a := acceptance(t, first.Command)
	if a.Language != "go" || a.Kind != complete.KindInline || a.ID == "" {
		t.Fatalf("acceptance %+v", a)
	}
	raw, _ := json.Marshal(first.Command)
	if strings.Contains(string(raw), "return") {
		t.Fatalf("the command carries no content: %s", raw)
	}
	second := inline() // from the cache: shown again
	if acceptance(t, second.Command).ID == a.ID {
		t.Fatal("every suggestion shown has its own id")
	}
	accept(t, s, first.Command)
	accept(t, s, first.Command) // counted once
	bogus := first.Command
	bogus.Arguments = []protocol.LSPAny{protocol.LSPAny(`{"id":"nope","language":"go","kind":"inline"}`)}
	accept(t, s, bogus) // not a suggestion of this session

	if err := s.c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := <-c.reports
	if len(got) != 1 || got[0] != (core.SuggestionCount{Language: "go", Shown: 2, Accepted: 1}) {
		t.Fatalf("reported %+v", got)
	}
	st := c.stats(t)
	if g := st.ByLanguage["go"]; g == nil || g.Shown != 2 || g.Accepted != 1 || st.ByIntegration["lsp"] == nil {
		t.Fatalf("stats %+v", st)
	}
}

// Clients without inline completion get the command on the completion
// item. nvim-cmp runs it on acceptance; Neovim 0.7's omnifunc and eglot
// 1.9 do not, and there the edit that inserts the item's text counts as
// its acceptance. Either way a suggestion counts once, and one the user
// did not take is not counted; counts are also reported periodically.
func TestCompletionItemAcceptance(t *testing.T) {
	for _, tc := range []struct {
		name, caps string
		runCommand bool // after applying the edit, as nvim-cmp does
	}{
		{"neovim 0.7 omnifunc", lsptest.Neovim07, false},
		{"eglot 1.9", lsptest.Eglot19, false},
		{"nvim-cmp", lsptest.Neovim07, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := startCounted(t, tc.caps, 20*time.Millisecond)
			ctx := ctxT(t)
			u := s.file("paper.tex")
			doc := "\\section{Intro}\nWe show that"
			s.c.Open(u, "latex", doc+"\n")
			complete1 := func(reply string) protocol.CompletionItem {
				t.Helper()
				s.fake.Enqueue(fakellm.Reply{Text: reply})
				var list protocol.CompletionList
				end := strings.Index(s.c.Text(u), "that") + len("that")
				if err := s.c.Call(ctx, "textDocument/completion", completionParams(u, s.c.Pos(u, end), 1), &list); err != nil {
					t.Fatal(err)
				}
				if len(list.Items) != 1 {
					t.Fatalf("items %+v", list)
				}
				return list.Items[0]
			}
			// Offered, not taken: the user types something else.
			item := complete1(" the bound holds.")
			if a := acceptance(t, item.Command); a.Language != "latex" || a.Kind != complete.KindItem {
				t.Fatalf("acceptance %+v", a)
			}
			end := strings.Index(s.c.Text(u), "that") + len("that")
			s.c.Replace(u, end, end, " it")
			s.c.Replace(u, end+3, end+3, " fails")

			// Offered and taken.
			s.c.Replace(u, end, end+len(" it fails"), "")
			item = complete1(" the bound holds.")
			te := item.TextEdit.(*protocol.TextEdit)
			if err := s.c.Apply(protocol.WorkspaceEdit{Changes: map[uri.URI][]protocol.TextEdit{uri.URI(u): {*te}}}); err != nil {
				t.Fatal(err)
			}
			if tc.runCommand {
				accept(t, s, item.Command)
			}
			var sum core.SuggestionCount
			for sum.Accepted == 0 || sum.Shown < 2 {
				select {
				case got := <-c.reports:
					for _, g := range got {
						sum.Shown += g.Shown
						sum.Accepted += g.Accepted
					}
				case <-ctx.Done():
					t.Fatalf("no periodic report with the acceptance; so far %+v", sum)
				}
			}
			if err := s.c.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if st := c.stats(t); st.Total.Shown != 2 || st.Total.Accepted != 1 || st.ByLanguage["latex"] == nil {
				t.Fatalf("stats %+v", st.Total)
			}
		})
	}
}

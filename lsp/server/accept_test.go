package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/protocol"

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
// item (Neovim with nvim-cmp and eglot run it on acceptance; 0.7's
// omnifunc does not, and only shown is counted there); counts are also
// reported periodically.
func TestCompletionItemCarriesTheAcceptanceCommand(t *testing.T) {
	for _, caps := range []string{lsptest.Neovim07, lsptest.Eglot19} {
		s, c := startCounted(t, caps, 20*time.Millisecond)
		ctx := ctxT(t)
		u := s.file("paper.tex")
		doc := "\\section{Intro}\nWe show that"
		s.c.Open(u, "latex", doc+"\n")
		s.fake.Enqueue(fakellm.Reply{Text: " the bound holds."})
		var list protocol.CompletionList
		if err := s.c.Call(ctx, "textDocument/completion", completionParams(u, s.c.Pos(u, len(doc)), 1), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 1 {
			t.Fatalf("items %+v", list)
		}
		a := acceptance(t, list.Items[0].Command)
		if a.Language != "latex" || a.Kind != complete.KindItem {
			t.Fatalf("acceptance %+v", a)
		}
		accept(t, s, list.Items[0].Command)
		// The periodic reports (the shown one may come before the
		// acceptance) add up to the session's counts.
		var sum core.SuggestionCount
		for sum.Accepted == 0 {
			select {
			case got := <-c.reports:
				for _, g := range got {
					if g.Language != "latex" {
						t.Fatalf("reported %+v", got)
					}
					sum.Shown += g.Shown
					sum.Accepted += g.Accepted
				}
			case <-ctx.Done():
				t.Fatal("no periodic report")
			}
		}
		if st := c.stats(t); st.Total.Shown != 1 || st.Total.Accepted != 1 || st.Total.AcceptanceRate != 1 {
			t.Fatalf("stats %+v", st.Total)
		}
	}
}

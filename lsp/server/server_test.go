package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"timon.dev/timon/core"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/core/quota"
	"timon.dev/timon/lsp/lsptest"
	"timon.dev/timon/lsp/server"
)

// session is a server in-process, driven over a pipe by the harness, with
// the governed engine of local mode on fakellm and a SQLite journal.
type session struct {
	c     *lsptest.Client
	fake  *fakellm.Server
	local *lsptest.Local
	root  string
	done  chan error
	// actionsDone counts the server's "action done" log lines, written
	// once an action's result (an edit, a message, or nothing) is
	// delivered.
	actionsDone *atomic.Int32
}

// actionLog is a slog.Handler counting the "action done" lines.
type actionLog struct{ n *atomic.Int32 }

func (h actionLog) Enabled(context.Context, slog.Level) bool { return true }
func (h actionLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h actionLog) WithGroup(string) slog.Handler            { return h }
func (h actionLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "action done" {
		h.n.Add(1)
	}
	return nil
}

type setup struct {
	caps      string
	principal core.Principal
	limits    quota.Limits
	debounce  time.Duration
	ignore    []string
	// moderation moderates the rule everyone (lsptest.EngineOptions).
	moderation *policy.Moderation
	// glossary is the institution's (server.Options.Glossary).
	glossary []core.GlossaryTerm
	// plainRewrites and report: server.Options' PlainRewrites and
	// ReportSuggestions.
	plainRewrites bool
	report        func(context.Context, []core.SuggestionCount) error
	reportEvery   time.Duration
}

func start(t *testing.T, s setup) *session {
	t.Helper()
	fake := fakellm.New()
	t.Cleanup(fake.Close)
	local := lsptest.Engine(t, fake.URL(), lsptest.EngineOptions{Limits: s.limits, Moderation: s.moderation})
	if s.principal.UserID == "" {
		s.principal = core.Principal{UserID: "alice", Integration: core.IntegrationLSP}
	}
	if s.debounce == 0 {
		s.debounce = 20 * time.Millisecond
	}
	srvConn, cliConn := net.Pipe()
	actionsDone := &atomic.Int32{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.Serve(ctx, srvConn, server.Options{
			Assistant: local.Engine, Principal: s.principal, Debounce: s.debounce, MaxDebounce: 2 * s.debounce,
			Ignore: s.ignore, Glossary: s.glossary, Version: "test", Logger: slog.New(actionLog{actionsDone}),
			PlainRewrites: s.plainRewrites, ReportSuggestions: s.report, SuggestionsEvery: s.reportEvery,
		})
	}()
	t.Cleanup(func() {
		cancel()
		cliConn.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the server did not stop")
		}
	})
	ss := &session{c: lsptest.New(t, cliConn), fake: fake, local: local, root: t.TempDir(), done: done, actionsDone: actionsDone}
	if _, err := ss.c.Initialize(ctxT(t), s.caps, string(uri.File(ss.root))); err != nil {
		t.Fatal(err)
	}
	return ss
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// file returns the URI of a file in the workspace.
func (s *session) file(name string) string { return string(uri.File(filepath.Join(s.root, name))) }

const addGo = "package m\n\nfunc add(a, b int) int {"

func completionParams(u string, p protocol.Position, trigger int) map[string]any {
	m := map[string]any{"textDocument": map[string]any{"uri": u}, "position": p}
	if trigger > 0 {
		m["context"] = map[string]any{"triggerKind": trigger}
	}
	return m
}

func TestInitializeFollowsClientCapabilities(t *testing.T) {
	cases := []struct {
		name, caps      string
		inline, resolve bool
		enc             protocol.PositionEncodingKind
	}{
		{"vscode", lsptest.VSCode, true, true, "utf-16"},
		{"neovim 0.7", lsptest.Neovim07, false, true, "utf-16"},
		{"eglot 1.9", lsptest.Eglot19, false, false, "utf-16"},
		{"utf-8 client", lsptest.UTF8Client, false, true, "utf-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := fakellm.New()
			defer fake.Close()
			local := lsptest.Engine(t, fake.URL(), lsptest.EngineOptions{})
			a, b := net.Pipe()
			go server.Serve(context.Background(), a, server.Options{Assistant: local.Engine, Principal: core.Principal{UserID: "u"}})
			c := lsptest.New(t, b)
			res, err := c.Initialize(ctxT(t), tc.caps, "")
			if err != nil {
				t.Fatal(err)
			}
			caps := res.Capabilities
			if got := caps.InlineCompletionProvider != nil; got != tc.inline {
				t.Errorf("inline completion provider: %v", got)
			}
			if got := caps.CompletionProvider != nil; got == tc.inline {
				t.Errorf("completion provider: %v", got)
			}
			opts, ok := caps.CodeActionProvider.(*protocol.CodeActionOptions)
			if !ok || opts.ResolveProvider == nil || *opts.ResolveProvider != tc.resolve {
				t.Errorf("code action provider %#v", caps.CodeActionProvider)
			}
			if caps.PositionEncoding != tc.enc {
				t.Errorf("encoding %q", caps.PositionEncoding)
			}
			if len(caps.ExecuteCommandProvider.Commands) != 11 || !slices.Contains(caps.ExecuteCommandProvider.Commands, "timon.accepted") || !slices.Contains(caps.ExecuteCommandProvider.Commands, "timon.cite") || res.ServerInfo.Name != "timon" {
				t.Errorf("commands %v, server %+v", caps.ExecuteCommandProvider.Commands, res.ServerInfo)
			}
			sync, ok := caps.TextDocumentSync.(*protocol.TextDocumentSyncOptions)
			if !ok || sync.Change == nil || *sync.Change != protocol.TextDocumentSyncKindIncremental {
				t.Errorf("sync %#v", caps.TextDocumentSync)
			}
			if err := c.Shutdown(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRequestsBeforeInitializeAreRefused(t *testing.T) {
	fake := fakellm.New()
	defer fake.Close()
	local := lsptest.Engine(t, fake.URL(), lsptest.EngineOptions{})
	a, b := net.Pipe()
	go server.Serve(context.Background(), a, server.Options{Assistant: local.Engine, Principal: core.Principal{UserID: "u"}})
	c := lsptest.New(t, b)
	err := c.Call(ctxT(t), "textDocument/completion", completionParams("file:///x.go", protocol.Position{}, 1), nil)
	var re *lsptest.RPCError
	if !errors.As(err, &re) || re.Code != -32002 {
		t.Fatalf("got %v", err)
	}
}

// Changes are applied in wire order although every request runs
// concurrently: many quick changes interleaved with requests, then a
// completion whose prompt must be exactly the client's text.
func TestDidChangeOrderUnderAsyncDispatch(t *testing.T) {
	s := start(t, setup{caps: lsptest.VSCode})
	ctx := ctxT(t)
	u := s.file("order.go")
	if err := s.c.Open(u, "go", "package m\n\n"); err != nil {
		t.Fatal(err)
	}
	var pend []*lsptest.Pending
	body := "func add(a, b int) int { // é😀 ordering matters\n"
	for i, r := range body {
		if err := s.c.Type(u, string(r), 0); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 { // requests in between, answered concurrently
			p, err := s.c.Send("textDocument/codeAction", map[string]any{
				"textDocument": map[string]any{"uri": u}, "range": s.c.Range(u, 0, 3), "context": map[string]any{"diagnostics": []any{}},
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			pend = append(pend, p)
		}
	}
	for _, p := range pend {
		if err := p.Wait(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	text := s.c.Text(u)
	var res protocol.InlineCompletionList
	if err := s.c.Call(ctx, "textDocument/inlineCompletion", map[string]any{
		"textDocument": map[string]any{"uri": u}, "position": s.c.Pos(u, len(text)), "context": map[string]any{"triggerKind": 1},
	}, &res); err != nil {
		t.Fatal(err)
	}
	reqs := s.fake.Requests()
	if len(reqs) != 1 || reqs[0].Prompt != text {
		t.Fatalf("the server saw %q, the client has %q", reqs[0].Prompt, text)
	}
}

func TestCompletionItemCarriesTheSuggestionAsTextEdit(t *testing.T) {
	s := start(t, setup{caps: lsptest.Neovim07})
	ctx := ctxT(t)
	u := s.file("add.go")
	s.c.Open(u, "go", addGo+"\n}\n")
	var list protocol.CompletionList
	// Neovim's omnifunc sends no context: an explicit request.
	if err := s.c.Call(ctx, "textDocument/completion", completionParams(u, s.c.Pos(u, len(addGo)), 0), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || !list.IsIncomplete {
		t.Fatalf("items %+v", list)
	}
	it := list.Items[0]
	te, ok := it.TextEdit.(*protocol.TextEdit)
	if !ok || te.NewText != "\n\treturn a + b" || te.Range.Start != s.c.Pos(u, len(addGo)) || it.Label != "return a + b" {
		t.Fatalf("item %+v / %#v", it, it.TextEdit)
	}
	if it.InsertTextFormat != protocol.InsertTextFormatPlainText {
		t.Fatal("plain text expected")
	}
	// Accepting it, as the client does, gives the function body.
	if err := s.c.Apply(protocol.WorkspaceEdit{Changes: map[uri.URI][]protocol.TextEdit{uri.URI(u): {*te}}}); err != nil {
		t.Fatal(err)
	}
	if got := s.c.Text(u); got != addGo+"\n\treturn a + b\n}\n" {
		t.Fatalf("text %q", got)
	}

	// With a word being typed, the edit starts at the word so that clients
	// filtering on it keep the item.
	v := s.file("word.go")
	doc := "package m\n\nfunc f() {\n\tfmt.Pri"
	s.c.Open(v, "go", doc+"\n}\n")
	s.fake.Enqueue(fakellm.Reply{Text: `ntln("hi")`})
	if err := s.c.Call(ctx, "textDocument/completion", completionParams(v, s.c.Pos(v, len(doc)), 1), &list); err != nil {
		t.Fatal(err)
	}
	te = list.Items[0].TextEdit.(*protocol.TextEdit)
	if te.NewText != `Println("hi")` || te.Range.Start != s.c.Pos(v, len(doc)-3) || te.Range.End != s.c.Pos(v, len(doc)) {
		t.Fatalf("edit %+v", te)
	}
	if !strings.HasPrefix(get(list.Items[0].FilterText), "Pri") {
		t.Fatal("the filter text must start with the typed word")
	}
}

// helper for Optional[string] in assertions.
func get(o protocol.Optional[string]) string { v, _ := o.Get(); return v }

func TestInlineCompletionWithDebounceAndUTF16(t *testing.T) {
	s := start(t, setup{caps: lsptest.VSCode, debounce: 30 * time.Millisecond})
	ctx := ctxT(t)
	u := s.file("emoji.go")
	doc := "package m\n\n// café 😀\nfunc add(a, b int) int { s := \"😀\"; _ = s;"
	s.c.Open(u, "go", doc+"\n}\n")
	var res protocol.InlineCompletionList
	pos := s.c.Pos(u, len(doc))
	if pos.Character != 42 {
		t.Fatalf("utf-16 column %d", pos.Character) // the emoji counts two units
	}
	s.fake.Enqueue(fakellm.Reply{Text: " return a + b\n}"})
	if err := s.c.Call(ctx, "textDocument/inlineCompletion", map[string]any{
		"textDocument": map[string]any{"uri": u}, "position": pos, "context": map[string]any{"triggerKind": 2},
	}, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 1 || res.Items[0].InsertText != protocol.String(" return a + b") || res.Items[0].Range == nil || res.Items[0].Range.Start != pos {
		t.Fatalf("got %+v", res)
	}
	if p := s.fake.Requests()[0].Prompt; p != doc {
		t.Fatalf("prompt %q", p)
	}
}

func TestUTF8PositionsWhenNegotiated(t *testing.T) {
	s := start(t, setup{caps: lsptest.UTF8Client})
	ctx := ctxT(t)
	u := s.file("u8.py")
	doc := "s = 'é😀'\nx = "
	s.c.Open(u, "python", doc)
	pos := s.c.Pos(u, len(doc))
	if pos.Line != 1 || pos.Character != 4 {
		t.Fatalf("pos %+v", pos)
	}
	first := s.c.Pos(u, strings.Index(doc, "'"))
	if first.Character != 4 {
		t.Fatal(first)
	}
	end := s.c.Pos(u, strings.Index(doc, "\n"))
	if end.Character != 12 { // bytes: 5 for "s = '", 2 for é, 4 for 😀, 1 for the quote
		t.Fatalf("utf-8 column %d", end.Character)
	}
	s.fake.Enqueue(fakellm.Reply{Text: "len(s)"})
	var list protocol.CompletionList
	if err := s.c.Call(ctx, "textDocument/completion", completionParams(u, pos, 1), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || s.fake.Requests()[0].Prompt != doc {
		t.Fatalf("items %+v prompt %q", list.Items, s.fake.Requests()[0].Prompt)
	}
}

const paper = `\section{Results}

Teh results in \cite{smith2020} show that $E = mc^2$ holds~\cite{doe}, see
Table~\ref{tab:1}. % a comment kept as is

Second paragraph.
`

// rewriter answers rewrites by fixing "Teh" in the delimited data and
// keeps everything else, placeholders included, as a careful model does.
func rewriter(req fakellm.Request) fakellm.Reply {
	msg := req.LastUser()
	m := regexp.MustCompile(`(?s)<data>\n(.*)\n</data>`).FindStringSubmatch(msg)
	if m == nil {
		return fakellm.Reply{Text: "explained: " + strings.ToUpper(msg[:min(10, len(msg))])}
	}
	return fakellm.Reply{Text: strings.ReplaceAll(m[1], "Teh", "The")}
}

func TestLaTeXCodeActionResolvedLazily(t *testing.T) {
	s := start(t, setup{caps: lsptest.VSCode})
	ctx := ctxT(t)
	s.fake.Handle(rewriter)
	u := s.file("paper.tex")
	s.c.Open(u, "latex", paper)
	cur := strings.Index(paper, "results")
	var acts []protocol.CodeAction
	if err := s.c.Call(ctx, "textDocument/codeAction", map[string]any{
		"textDocument": map[string]any{"uri": u}, "range": s.c.Range(u, cur, cur), "context": map[string]any{"diagnostics": []any{}},
	}, &acts); err != nil {
		t.Fatal(err)
	}
	if len(acts) != 5 {
		t.Fatalf("actions %+v", acts)
	}
	var grammar protocol.CodeAction
	for _, a := range acts {
		if a.Edit != nil || a.Command.Command != "" || len(a.Data) == 0 {
			t.Fatalf("a lazily resolved action carries data only: %+v", a)
		}
		if strings.Contains(a.Title, "grammar") {
			grammar = a
		}
	}
	if s.fake.Count() != 0 {
		t.Fatal("nothing may reach the model before the user picks an action")
	}
	var resolved protocol.CodeAction
	if err := s.c.Call(ctx, "codeAction/resolve", &grammar, &resolved); err != nil {
		t.Fatal(err)
	}
	if resolved.Edit == nil || len(resolved.Edit.DocumentChanges) != 1 {
		t.Fatalf("resolved %+v", resolved)
	}
	if edits := lsptest.EditsFor(*resolved.Edit, u); len(edits) != 1 || edits[0].NewText != "The" {
		t.Fatalf("a minimal edit expected: %+v", edits)
	}
	if err := s.c.Apply(*resolved.Edit); err != nil {
		t.Fatal(err)
	}
	if got := s.c.Text(u); got != strings.Replace(paper, "Teh", "The", 1) {
		t.Fatalf("text %q", got)
	}
	sent := s.fake.Requests()[0].LastUser()
	if strings.Contains(sent, "Second paragraph") || strings.Contains(sent, "section{Results}") {
		t.Fatalf("only the paragraph at the cursor is sent: %q", sent)
	}
	// Progress was shown, cancellable, and ended.
	ev := s.c.ProgressEvents()
	if len(ev) != 2 || ev[0].Kind != "begin" || !ev[0].Cancellable || ev[1].Kind != "end" {
		t.Fatalf("progress %+v", ev)
	}
	es := s.local.Journal(t)
	if len(es) != 1 || es[0].Task != "rewrite" || es[0].Integration != "lsp" {
		t.Fatalf("journal %+v", es)
	}
}

// codeActions lists the actions on [start, end) of u.
func codeActions(t *testing.T, s *session, u string, start, end int) []protocol.CodeAction {
	t.Helper()
	var acts []protocol.CodeAction
	if err := s.c.Call(ctxT(t), "textDocument/codeAction", map[string]any{
		"textDocument": map[string]any{"uri": u}, "range": s.c.Range(u, start, end), "context": map[string]any{"diagnostics": []any{}},
	}, &acts); err != nil {
		t.Fatal(err)
	}
	return acts
}

func find(acts []protocol.CodeAction, word string) protocol.CodeAction {
	for _, a := range acts {
		if strings.Contains(a.Title, word) {
			return a
		}
	}
	return protocol.CodeAction{}
}

func TestExecuteCommandAnswersFastThenAppliesEdit(t *testing.T) {
	s := start(t, setup{caps: lsptest.Eglot19})
	ctx := ctxT(t)
	u := s.file("fix.go")
	doc := "package m\n\nfunc f() int {\n\treturn 1 +\n}\n"
	s.c.Open(u, "go", doc)
	sel := strings.Index(doc, "\treturn")
	acts := codeActions(t, s, u, sel, sel+len("\treturn 1 +\n"))
	if len(acts) != 4 {
		t.Fatalf("actions %+v", acts)
	}
	fix := find(acts, "Fix")
	if fix.Command.Command != "timon.fix" || fix.Edit != nil || len(fix.Data) != 0 {
		t.Fatalf("eglot needs a command: %+v", fix)
	}
	s.fake.Enqueue(fakellm.Reply{Text: "```go\nreturn 1 + 1\n```", FirstTokenDelay: 700 * time.Millisecond})
	began := time.Now()
	if err := s.c.Call(ctx, "workspace/executeCommand", map[string]any{"command": fix.Command.Command, "arguments": fix.Command.Arguments}, nil); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 500*time.Millisecond {
		t.Fatalf("executeCommand took %v: it must answer before the model does", took)
	}
	want := "package m\n\nfunc f() int {\n\treturn 1 + 1\n}\n"
	if err := s.c.WaitFor(ctx, "the edit", func() bool { return s.c.Text(u) == want }); err != nil {
		t.Fatalf("%v; text %q", err, s.c.Text(u))
	}
	ae := s.c.AppliedEdits()
	if len(ae) != 1 || len(ae[0].Edit.DocumentChanges) != 1 || len(lsptest.EditsFor(ae[0].Edit, u)) != 1 || ae[0].Label == nil {
		t.Fatalf("one versioned edit expected (eglot declares documentChanges): %+v", ae)
	}
	// The request carried the code, its path and language.
	req := s.fake.Requests()[0]
	if !strings.Contains(req.LastUser(), "return 1 +") || !strings.Contains(req.Messages[0].Content+req.LastUser(), "go code") {
		t.Fatalf("sent %+v", req.Messages)
	}
}

func TestExplainIsShownAsAMessage(t *testing.T) {
	s := start(t, setup{caps: lsptest.Neovim07})
	ctx := ctxT(t)
	u := s.file("x.go")
	doc := "package m\n\nvar x = 1 << 10\n"
	s.c.Open(u, "go", doc)
	sel := strings.Index(doc, "var")
	explain := find(codeActions(t, s, u, sel, len(doc)), "Explain")
	if explain.Command.Command != "timon.explain" {
		t.Fatalf("explain is a command: %+v", explain)
	}
	s.fake.Enqueue(fakellm.Reply{Text: "It shifts 1 left by 10 bits: 1024."})
	// Neovim resolves an action without an edit first: it comes back as is.
	var same protocol.CodeAction
	if err := s.c.Call(ctx, "codeAction/resolve", &explain, &same); err != nil || same.Command.Command != "timon.explain" {
		t.Fatalf("%+v %v", same, err)
	}
	if err := s.c.Call(ctx, "workspace/executeCommand", map[string]any{"command": explain.Command.Command, "arguments": explain.Command.Arguments}, nil); err != nil {
		t.Fatal(err)
	}
	m, err := s.c.WaitMessage(ctx, "1024")
	if err != nil || m.Type != protocol.MessageTypeInfo {
		t.Fatalf("%+v %v", m, err)
	}
	if s.c.Text(u) != doc {
		t.Fatal("explain must not change the text")
	}
}

func TestRefactorWithTheUsersInstruction(t *testing.T) {
	s := start(t, setup{caps: lsptest.Neovim07})
	ctx := ctxT(t)
	u := s.file("r.go")
	doc := "package m\n\nfunc f(xs []int) (n int) {\n\tfor i := 0; i < len(xs); i++ {\n\t\tn += xs[i]\n\t}\n\treturn\n}\n"
	s.c.Open(u, "go", doc)
	s.fake.Enqueue(fakellm.Reply{Text: "func f(xs []int) (n int) {\n\tfor _, x := range xs {\n\t\tn += x\n\t}\n\treturn\n}"})
	sel := strings.Index(doc, "func")
	args := map[string]any{"uri": u, "range": s.c.Range(u, sel, len(doc)), "instruction": "use range"}
	if err := s.c.Call(ctx, "workspace/executeCommand", map[string]any{"command": "timon.refactor", "arguments": []any{args}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.c.WaitFor(ctx, "the refactor", func() bool { return strings.Contains(s.c.Text(u), "range xs") }); err != nil {
		t.Fatal(err)
	}
	if ae := s.c.AppliedEdits(); len(ae) != 1 || len(ae[0].Edit.Changes) != 1 || len(ae[0].Edit.DocumentChanges) != 0 {
		t.Fatalf("Neovim 0.7 declares no documentChanges: plain changes expected: %+v", ae)
	}
	if !strings.HasSuffix(s.c.Text(u), "\treturn\n}\n") {
		t.Fatalf("the trailing line break must stay: %q", s.c.Text(u))
	}
	if msg := s.fake.Requests()[0].LastUser(); !strings.Contains(msg, "The author adds: use range") {
		t.Fatalf("instruction not sent: %q", msg)
	}
	// Bad arguments are refused with a clear error, and nothing is sent.
	for _, bad := range []map[string]any{
		{"command": "timon.refactor"},
		{"command": "timon.refactor", "arguments": []any{"not an object"}},
		{"command": "timon.nope", "arguments": []any{args}},
		{"command": "timon.fix", "arguments": []any{map[string]any{"uri": s.file("closed.go")}}},
	} {
		var re *lsptest.RPCError
		if err := s.c.Call(ctx, "workspace/executeCommand", bad, nil); !errors.As(err, &re) || re.Code != -32602 {
			t.Fatalf("%v: %v", bad, err)
		}
	}
	if s.fake.Count() != 1 {
		t.Fatalf("count %d", s.fake.Count())
	}
}

func TestCancelRequestAbortsTheUpstreamRequest(t *testing.T) {
	for _, id := range []any{42, "req-α"} {
		t.Run(strings.TrimSpace(strings.ReplaceAll(strings.ToLower(typeName(id)), "-", "")), func(t *testing.T) {
			s := start(t, setup{caps: lsptest.Neovim07})
			ctx := ctxT(t)
			u := s.file("c.go")
			s.c.Open(u, "go", addGo)
			s.fake.Enqueue(fakellm.Reply{Hang: true})
			p, err := s.c.Send("textDocument/completion", completionParams(u, s.c.Pos(u, len(addGo)), 1), id)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.fake.WaitCount(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if err := p.Cancel(); err != nil {
				t.Fatal(err)
			}
			var re *lsptest.RPCError
			if err := p.Wait(ctx, nil); !errors.As(err, &re) || re.Code != lsptest.CodeRequestCancelled {
				t.Fatalf("answer %v", err)
			}
			if err := s.fake.WaitCancelled(ctx, 1); err != nil {
				t.Fatal("the upstream request was not aborted:", err)
			}
		})
	}
}

func typeName(v any) string {
	if _, ok := v.(string); ok {
		return "string id"
	}
	return "numeric id"
}

func TestKeystrokeCancelsTheCompletionInFlight(t *testing.T) {
	s := start(t, setup{caps: lsptest.VSCode})
	ctx := ctxT(t)
	u := s.file("k.go")
	s.c.Open(u, "go", addGo)
	s.fake.Enqueue(fakellm.Reply{Hang: true})
	p, err := s.c.Send("textDocument/inlineCompletion", map[string]any{
		"textDocument": map[string]any{"uri": u}, "position": s.c.Pos(u, len(addGo)), "context": map[string]any{"triggerKind": 1},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.fake.WaitCount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.c.Type(u, "\n", 0)
	var res protocol.InlineCompletionList
	if err := p.Wait(ctx, &res); err != nil || len(res.Items) != 0 {
		t.Fatalf("a superseded completion answers nothing: %+v %v", res, err)
	}
	if err := s.fake.WaitCancelled(ctx, 1); err != nil {
		t.Fatal("the upstream request was not aborted:", err)
	}
}

func TestSlowModelBlocksNothingElse(t *testing.T) {
	s := start(t, setup{caps: lsptest.Neovim07})
	ctx := ctxT(t)
	u := s.file("slow.go")
	s.c.Open(u, "go", addGo)
	s.fake.Enqueue(fakellm.Reply{FirstTokenDelay: 3 * time.Second})
	slow, err := s.c.Send("textDocument/completion", completionParams(u, s.c.Pos(u, len(addGo)), 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.fake.WaitCount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	v := s.file("other.go")
	began := time.Now()
	s.c.Open(v, "go", "package m\n\nfunc g() {}\n")
	acts := codeActions(t, s, v, 11, 24)
	if len(acts) == 0 || time.Since(began) > time.Second {
		t.Fatalf("code actions took %v while a model call was slow", time.Since(began))
	}
	// Hover (citation keys only) is answered at once: nothing here.
	var hover json.RawMessage
	if err := s.c.Call(ctx, "textDocument/hover", completionParams(v, protocol.Position{}, 0), &hover); err != nil || len(hover) != 0 {
		t.Fatalf("hover %s %v", hover, err)
	}
	if time.Since(began) > time.Second {
		t.Fatal("too slow")
	}
	slow.Cancel()
}

func TestIgnoredFilesSendNothing(t *testing.T) {
	s := start(t, setup{caps: lsptest.Eglot19, ignore: []string{"private/"}})
	ctx := ctxT(t)
	if err := os.WriteFile(filepath.Join(s.root, ".timonignore"), []byte("results/*.py\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".env", "certs/server.key", "results/analysis.py", "private/notes.go"} {
		u := s.file(name)
		text := "API_KEY=sk-live-123\nfunc add(a, b int) int {"
		s.c.Open(u, "go", text)
		var list protocol.CompletionList
		if err := s.c.Call(ctx, "textDocument/completion", completionParams(u, s.c.Pos(u, len(text)), 1), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 0 {
			t.Fatalf("%s: completion offered", name)
		}
		if acts := codeActions(t, s, u, 0, len(text)); len(acts) != 0 {
			t.Fatalf("%s: actions offered %+v", name, acts)
		}
		// A command run anyway is refused with the reason.
		args := map[string]any{"uri": u, "range": s.c.Range(u, 0, len(text))}
		if err := s.c.Call(ctx, "workspace/executeCommand", map[string]any{"command": "timon.explain", "arguments": []any{args}}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.c.WaitMessage(ctx, "never sent"); err != nil {
			t.Fatal(err)
		}
	}
	if s.fake.Count() != 0 {
		t.Fatalf("ignored files reached the model %d times", s.fake.Count())
	}
	// Each ignored file was said to be off once, in the editor.
	var off []string
	for _, m := range s.c.Messages() {
		if strings.Contains(m.Message, "timon: off for ") {
			off = append(off, m.Message)
		}
	}
	if len(off) != 4 || !strings.Contains(off[0], "off for .env") || !strings.Contains(off[2], ".timonignore:1: results/*.py") {
		t.Fatalf("messages %q", off)
	}
	// A file that is not ignored still works.
	u := s.file("main.go")
	s.c.Open(u, "go", addGo)
	var list protocol.CompletionList
	if err := s.c.Call(ctx, "textDocument/completion", completionParams(u, s.c.Pos(u, len(addGo)), 1), &list); err != nil || len(list.Items) != 1 {
		t.Fatalf("%+v %v", list, err)
	}
}

func TestErrorsReachTheUserWithTheReason(t *testing.T) {
	t.Run("provider down", func(t *testing.T) {
		s := start(t, setup{caps: lsptest.Neovim07})
		ctx := ctxT(t)
		u := s.file("a.go")
		s.c.Open(u, "go", addGo)
		s.fake.Enqueue(fakellm.Reply{Status: 503}, fakellm.Reply{Status: 503})
		var list protocol.CompletionList
		if err := s.c.Call(ctx, "textDocument/completion", completionParams(u, s.c.Pos(u, len(addGo)), 1), &list); err != nil || len(list.Items) != 0 {
			t.Fatalf("%+v %v", list, err)
		}
		m, err := s.c.WaitMessage(ctx, "unavailable")
		if err != nil || m.Type != protocol.MessageTypeError || !strings.Contains(m.Message, "[request ") {
			t.Fatalf("%+v %v", m, err)
		}
		// Shown once a minute for completions, not at every pause. A
		// message is sent before the completion's answer, which the client
		// reads after it: once Call returns, it would be there.
		s.c.Call(ctx, "textDocument/completion", completionParams(u, s.c.Pos(u, len(addGo)), 1), &list)
		if n := len(s.c.Messages()); n != 1 {
			t.Fatalf("%d messages", n)
		}
	})
	t.Run("denied", func(t *testing.T) {
		s := start(t, setup{caps: lsptest.Eglot19, principal: core.Principal{UserID: "bob", Groups: []string{lsptest.DeniedGroup}, Integration: core.IntegrationLSP}})
		ctx := ctxT(t)
		u := s.file("a.go")
		s.c.Open(u, "go", addGo)
		args := map[string]any{"uri": u, "range": s.c.Range(u, 0, len(addGo))}
		s.c.Call(ctx, "workspace/executeCommand", map[string]any{"command": "timon.explain", "arguments": []any{args}}, nil)
		m, err := s.c.WaitMessage(ctx, "interns may not use the assistant")
		if err != nil || !strings.Contains(m.Message, "not allowed") || !strings.Contains(m.Message, "no-interns") {
			t.Fatalf("%+v %v", m, err)
		}
		if s.fake.Count() != 0 {
			t.Fatal("a denied request reached the model")
		}
	})
	t.Run("quota", func(t *testing.T) {
		s := start(t, setup{caps: lsptest.Eglot19, limits: quota.Limits{RequestsPerMinute: 1}})
		ctx := ctxT(t)
		u := s.file("a.go")
		s.c.Open(u, "go", addGo)
		args := map[string]any{"uri": u, "range": s.c.Range(u, 0, len(addGo))}
		for range 2 {
			s.c.Call(ctx, "workspace/executeCommand", map[string]any{"command": "timon.explain", "arguments": []any{args}}, nil)
		}
		m, err := s.c.WaitMessage(ctx, "quota exceeded")
		if err != nil || m.Type != protocol.MessageTypeWarning || !strings.Contains(m.Message, "try again after") {
			t.Fatalf("%+v %v", m, err)
		}
	})
}

func TestProgressCancelStopsTheAction(t *testing.T) {
	s := start(t, setup{caps: lsptest.Neovim07})
	ctx := ctxT(t)
	u := s.file("p.go")
	s.c.Open(u, "go", addGo)
	s.fake.Enqueue(fakellm.Reply{Hang: true})
	args := map[string]any{"uri": u, "range": s.c.Range(u, 0, len(addGo))}
	if err := s.c.Call(ctx, "workspace/executeCommand", map[string]any{"command": "timon.explain", "arguments": []any{args}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.fake.WaitCount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The begin notification went out before the model call, but the
	// client may read it after the fake saw the call.
	if err := s.c.WaitFor(ctx, "progress begin", func() bool { return len(s.c.ProgressEvents()) > 0 }); err != nil {
		t.Fatal(err)
	}
	toks := s.c.ProgressTokens()
	ev := s.c.ProgressEvents()
	if len(toks) != 1 || len(ev) != 1 || ev[0].Kind != "begin" || !ev[0].Cancellable || ev[0].Token != toks[0] {
		t.Fatalf("progress %v %+v", toks, ev)
	}
	s.c.Notify("window/workDoneProgress/cancel", map[string]any{"token": toks[0]})
	if err := s.fake.WaitCancelled(ctx, 1); err != nil {
		t.Fatal("cancelling the progress did not abort the model call:", err)
	}
	if err := s.c.WaitFor(ctx, "progress end", func() bool { ev := s.c.ProgressEvents(); return ev[len(ev)-1].Kind == "end" }); err != nil {
		t.Fatal(err)
	}
	// The action has delivered its result (an error message if any) once
	// it logs "action done"; an answer to a request sent after that comes
	// after the message on the wire.
	for s.actionsDone.Load() == 0 {
		if ctx.Err() != nil {
			t.Fatal("the canceled action never ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.c.Call(ctx, "textDocument/codeAction", map[string]any{"textDocument": map[string]any{"uri": u}, "range": s.c.Range(u, 0, len(addGo)), "context": map[string]any{"diagnostics": []any{}}}, nil); err != nil {
		t.Fatal(err)
	}
	if len(s.c.Messages()) != 0 {
		t.Fatalf("a canceled action shows no error: %+v", s.c.Messages())
	}
}

// Eglot opens documents at version 0 and with the languageId of the first
// mode it manages: a .tex file arrives as "go". It is still LaTeX, and its
// versioned edit carries version 0.
func TestEglotQuirks(t *testing.T) {
	s := start(t, setup{caps: lsptest.Eglot19})
	ctx := ctxT(t)
	s.fake.Handle(rewriter)
	u := s.file("paper.tex")
	s.c.OpenVersion(u, "go", 0, paper)
	cur := strings.Index(paper, "results")
	acts := codeActions(t, s, u, cur, cur)
	if len(acts) != 5 {
		t.Fatalf("LaTeX actions expected: %+v", acts)
	}
	act := find(acts, "grammar")
	if err := s.c.Call(ctx, "workspace/executeCommand", map[string]any{"command": act.Command.Command, "arguments": act.Command.Arguments}, nil); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(paper, "Teh", "The", 1)
	if err := s.c.WaitFor(ctx, "the rewrite", func() bool { return s.c.Text(u) == want }); err != nil {
		t.Fatalf("%v: %+v", err, s.c.Messages())
	}
	tde := s.c.AppliedEdits()[0].Edit.DocumentChanges[0].(*protocol.TextDocumentEdit)
	if tde.TextDocument.Version == nil || *tde.TextDocument.Version != 0 {
		t.Fatalf("version %v", tde.TextDocument.Version)
	}
	if req := s.fake.Requests()[0]; !strings.Contains(req.Messages[0].Content, "LaTeX") {
		t.Fatal("the request must be a LaTeX rewrite")
	}
	if es := s.local.Journal(t); len(es) != 1 || es[0].Task != "rewrite" {
		t.Fatalf("journal %+v", es)
	}
}

func TestRewriteOfChangedTextIsNotApplied(t *testing.T) {
	s := start(t, setup{caps: lsptest.Eglot19})
	ctx := ctxT(t)
	s.fake.Handle(rewriter)
	u := s.file("p.tex")
	s.c.Open(u, "latex", paper)
	cur := strings.Index(paper, "results")
	act := find(codeActions(t, s, u, cur, cur), "grammar")
	s.fake.Enqueue(fakellm.Reply{Text: "The results in ⟦x⟧", FirstTokenDelay: 300 * time.Millisecond})
	s.fake.Handle(nil)
	// The command is slow; meanwhile the user edits the paragraph.
	if err := s.c.Call(ctx, "workspace/executeCommand", map[string]any{"command": act.Command.Command, "arguments": act.Command.Arguments}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.fake.WaitCount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.c.Replace(u, 0, 0, "% new first line\n")
	if _, err := s.c.WaitMessage(ctx, "failed"); err != nil {
		t.Fatal(err)
	}
	if len(s.c.AppliedEdits()) != 0 {
		t.Fatal("an edit was sent for changed text")
	}
}

func TestShutdownThenExit(t *testing.T) {
	s := start(t, setup{caps: lsptest.VSCode})
	if err := s.c.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not exit")
	}
	s.done <- nil // for the cleanup
}

func TestExitWithoutShutdownIsAnError(t *testing.T) {
	s := start(t, setup{caps: lsptest.VSCode})
	s.c.Notify("exit", nil)
	select {
	case err := <-s.done:
		if !errors.Is(err, server.ErrNoShutdown) {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not exit")
	}
	s.done <- nil
}

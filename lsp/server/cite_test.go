package server_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/lsp/lsptest"
)

const citeBib = `% the group's bibliography
@string{crp = {Comptes rendus de l'Acad\'emie des sciences}}
@article{curie1898,
  author = {Curie, Pierre and Curie, Marie and B{\'e}mont, Gustave},
  title = {Sur une nouvelle substance fortement radio-active contenue dans la pechblende},
  journal = crp, year = 1898,
  abstract = {Radium, a new radioactive element found in pitchblende.},
}
@article{joliot1934,
  author = "Fr{\'e}d{\'e}ric Joliot and Ir\` + "`" + `ene Curie",
  title = "Un nouveau type de radioactivit{\'e}",
  journal = crp, year = 1934, doi = {10.1234/crp.198.254},
}
@article{fermi1934, author = {Fermi, Enrico}, title = {Radioactivity induced by neutron bombardment}, journal = {Nature}, year = 1934}
@article{broken, title = {never closed
`

// citePaper cites a key that exists, one that does not, and has an
// unfinished citation; the emoji makes UTF-16 columns differ from bytes.
const citePaper = `\documentclass{article}
\addbibresource{refs.bib}
\begin{document}
😀 Radium \cite{curie1898, nosuch2020} and later \citep[p.~1]{jo
\end{document}
`

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// touch moves a file's modification time forward, as an edit a second
// later would.
func touch(t *testing.T, path string, by time.Duration) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, st.ModTime().Add(by), st.ModTime().Add(by)); err != nil {
		t.Fatal(err)
	}
}

func diagMessages(s *session, u string) ([]string, []protocol.Diagnostic) {
	p, ok := s.c.Diagnostics(u)
	if !ok {
		return nil, nil
	}
	var out []string
	for _, d := range p.Diagnostics {
		m, _ := d.Message.(protocol.String)
		out = append(out, string(m))
	}
	return out, p.Diagnostics
}

func TestCitationCompletionHoverAndDiagnostics(t *testing.T) {
	s := start(t, setup{caps: lsptest.Neovim07})
	ctx := ctxT(t)
	bibPath := filepath.Join(s.root, "refs.bib")
	writeFile(t, bibPath, citeBib)
	u := s.file("paper.tex")
	if err := s.c.Open(u, "latex", citePaper); err != nil {
		t.Fatal(err)
	}

	// Completion inside \citep[…]{jo: the bibliography's keys, no model.
	var list protocol.CompletionList
	cur := strings.Index(citePaper, "{jo") + 3
	if err := s.c.Call(ctx, "textDocument/completion", completionParams(u, s.c.Pos(u, cur), 2), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Label != "joliot1934" {
		t.Fatalf("items %+v", list.Items)
	}
	it := list.Items[0]
	if d, _ := it.Detail.Get(); d != "Joliot, Curie (1934)" {
		t.Errorf("detail %q", d)
	}
	doc, _ := it.Documentation.(*protocol.MarkupContent)
	if doc == nil || !strings.Contains(doc.Value, "Un nouveau type de radioactivité") || !strings.Contains(doc.Value, "Comptes rendus de l'Académie des sciences") {
		t.Errorf("documentation %+v", it.Documentation)
	}
	if te, _ := it.TextEdit.(*protocol.TextEdit); te == nil || s.c.Offset(u, te.Range.Start) != cur-2 || s.c.Offset(u, te.Range.End) != cur || te.NewText != "joliot1934" {
		t.Errorf("edit %+v", it.TextEdit)
	}
	// Every key after a comma; none outside a citation (there the model
	// completes, as before).
	cur = strings.Index(citePaper, "nosuch2020")
	if err := s.c.Call(ctx, "textDocument/completion", completionParams(u, s.c.Pos(u, cur), 2), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 3 {
		t.Fatalf("all keys after a comma: %+v", list.Items)
	}
	if s.fake.Count() != 0 {
		t.Fatal("citation completion asked the model")
	}

	// Hover on a key: the entry; on an unknown key: says so.
	var hover protocol.Hover
	if err := s.c.Call(ctx, "textDocument/hover", completionParams(u, s.c.Pos(u, strings.Index(citePaper, "urie1898")), 0), &hover); err != nil {
		t.Fatal(err)
	}
	md, _ := hover.Contents.(*protocol.MarkupContent)
	if md == nil || !strings.Contains(md.Value, "Curie et al. (1898)") || !strings.Contains(md.Value, "pechblende") || !strings.Contains(md.Value, "refs.bib, line 3") {
		t.Fatalf("hover %+v", hover.Contents)
	}
	if err := s.c.Call(ctx, "textDocument/hover", completionParams(u, s.c.Pos(u, strings.Index(citePaper, "such2020")), 0), &hover); err != nil {
		t.Fatal(err)
	}
	if md, _ = hover.Contents.(*protocol.MarkupContent); md == nil || !strings.Contains(md.Value, "not in the bibliography") {
		t.Fatalf("hover %+v", hover.Contents)
	}

	// The unknown key has a warning, its range exactly the key.
	if err := s.c.WaitFor(ctx, "the diagnostics", func() bool { m, _ := diagMessages(s, u); return len(m) == 1 }); err != nil {
		t.Fatal(err)
	}
	msgs, diags := diagMessages(s, u)
	key := strings.Index(citePaper, "nosuch2020")
	if !strings.Contains(msgs[0], `"nosuch2020"`) || diags[0].Severity != protocol.DiagnosticSeverityWarning ||
		s.c.Offset(u, diags[0].Range.Start) != key || s.c.Offset(u, diags[0].Range.End) != key+len("nosuch2020") {
		t.Fatalf("diagnostic %q %+v", msgs, diags)
	}
	if diags[0].Range.Start.Character != 27 { // 😀 is two UTF-16 units (four bytes)
		t.Fatalf("UTF-16 column %d", diags[0].Range.Start.Character)
	}

	// The .bib changes on disk (no watcher with this client): the next
	// edit of the paper sees it.
	writeFile(t, bibPath, citeBib+"\n@misc{nosuch2020, title={Found after all}}\n")
	touch(t, bibPath, time.Second)
	s.c.Replace(u, 0, 0, "%\n")
	if err := s.c.WaitFor(ctx, "no diagnostics", func() bool {
		p, _ := s.c.Diagnostics(u)
		m, _ := diagMessages(s, u)
		v, _ := p.Version.Get()
		return len(m) == 0 && v == s.c.Version(u)
	}); err != nil {
		t.Fatal(err)
	}

	// The .bib open in the editor: its unsaved text wins, and editing it
	// checks the paper again.
	b := string(uri.File(bibPath))
	s.c.Open(b, "bibtex", citeBib)
	if err := s.c.WaitFor(ctx, "the diagnostic back", func() bool { m, _ := diagMessages(s, u); return len(m) == 1 }); err != nil {
		t.Fatal(err)
	}
	s.c.Replace(b, 0, 0, "@misc{nosuch2020, title={Typed in the editor}}\n")
	if err := s.c.WaitFor(ctx, "the diagnostic gone", func() bool { m, _ := diagMessages(s, u); return len(m) == 0 }); err != nil {
		t.Fatal(err)
	}
	// Closing the paper clears its diagnostics.
	s.c.Replace(u, 0, 0, `\cite{other}`)
	if err := s.c.WaitFor(ctx, "a new diagnostic", func() bool { m, _ := diagMessages(s, u); return len(m) == 1 }); err != nil {
		t.Fatal(err)
	}
	s.c.Close(u)
	if err := s.c.WaitFor(ctx, "cleared", func() bool { p, ok := s.c.Diagnostics(u); return ok && len(p.Diagnostics) == 0 }); err != nil {
		t.Fatal(err)
	}
	if s.fake.Count() != 0 {
		t.Fatal("citations asked the model")
	}
}

// A client that watches files (eglot declares it) is asked to watch .bib
// files, and a change it reports is seen at once.
func TestBibWatchedFiles(t *testing.T) {
	s := start(t, setup{caps: lsptest.Eglot19})
	ctx := ctxT(t)
	bibPath := filepath.Join(s.root, "refs.bib")
	writeFile(t, bibPath, citeBib)
	u := s.file("paper.tex")
	s.c.Open(u, "latex", citePaper)
	if err := s.c.WaitFor(ctx, "the diagnostic", func() bool { m, _ := diagMessages(s, u); return len(m) == 1 }); err != nil {
		t.Fatal(err)
	}
	if err := s.c.WaitFor(ctx, "the watch", func() bool {
		regs := s.c.Registrations()
		return len(regs) == 1 && regs[0].Method == "workspace/didChangeWatchedFiles" && strings.Contains(string(regs[0].RegisterOptions), "**/*.bib")
	}); err != nil {
		t.Fatalf("%v: %+v", err, s.c.Registrations())
	}
	// Same size and modification time: only the watcher can tell.
	st, _ := os.Stat(bibPath)
	changed := strings.Replace(citeBib, "joliot1934", "nosuch2020", 1)
	writeFile(t, bibPath, changed)
	if err := os.Chtimes(bibPath, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := s.c.Notify("workspace/didChangeWatchedFiles", map[string]any{"changes": []any{map[string]any{"uri": string(uri.File(bibPath)), "type": 2}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.c.WaitFor(ctx, "no diagnostic", func() bool { m, _ := diagMessages(s, u); return len(m) == 0 }); err != nil {
		t.Fatal(err)
	}
}

// citeModel answers "suggest citations" requests from a script, and
// records that the schema was asked for.
func citeReplies(answers ...string) func(fakellm.Request) fakellm.Reply {
	i := 0
	return func(r fakellm.Request) fakellm.Reply {
		a := answers[min(i, len(answers)-1)]
		i++
		return fakellm.Reply{Text: a}
	}
}

const citeParagraph = `\documentclass{article}
\begin{document}
Neutron bombardment induces radioactivity in light elements, as
measured with $E = mc^2$ by alice.martin@cnrs.fr.

Another paragraph.
\end{document}
`

func TestSuggestCitationsInsertsOnlyExistingKeys(t *testing.T) {
	s := start(t, setup{caps: lsptest.Eglot19})
	ctx := ctxT(t)
	writeFile(t, filepath.Join(s.root, "refs.bib"), citeBib)
	writeFile(t, filepath.Join(s.root, "other.bib"), "@book{darwin1859, author={Darwin, Charles}, title={On the origin of species}, year=1859}\n")
	s.fake.Handle(citeReplies(
		`{"keys": ["fermi1934", "smith2099"]}`, // one real, one invented
		`{"keys": ["smith2099"]}`,              // invented only
		`Sure! Here are the keys: fermi1934`,   // malformed
	))
	u := s.file("paper.tex")
	s.c.Open(u, "latex", citeParagraph)
	cur := strings.Index(citeParagraph, "induces")
	act := find(codeActions(t, s, u, cur, cur), "Suggest citations")
	if act.Command.Command != "timon.cite" {
		t.Fatalf("action %+v", act)
	}
	run := func() {
		t.Helper()
		if err := s.c.Call(ctx, "workspace/executeCommand", map[string]any{"command": act.Command.Command, "arguments": act.Command.Arguments}, nil); err != nil {
			t.Fatal(err)
		}
	}

	// 1. The real key is inserted before the final period; the invented
	// one never is.
	run()
	want := strings.Replace(citeParagraph, "alice.martin@cnrs.fr.", `alice.martin@cnrs.fr~\cite{fermi1934}.`, 1)
	if err := s.c.WaitFor(ctx, "the citation", func() bool { return s.c.Text(u) == want }); err != nil {
		t.Fatalf("%v: %q (messages %+v)", err, s.c.Text(u), s.c.Messages())
	}
	if _, err := s.c.WaitMessage(ctx, "1 suggested key(s) not in the bibliography were left out"); err != nil {
		t.Fatal(err)
	}
	req := s.fake.Requests()[0]
	sent := req.LastUser()
	if len(req.ResponseFormat) == 0 || !strings.Contains(string(req.ResponseFormat), "citation_keys") {
		t.Fatalf("no structured output asked: %s", req.ResponseFormat)
	}
	if !strings.Contains(sent, "fermi1934 | Fermi | 1934 | Radioactivity induced by neutron bombardment") || !strings.Contains(sent, "Neutron bombardment induces") {
		t.Fatalf("prompt lacks the passage or the candidate: %q", sent)
	}
	if strings.Contains(sent, "alice.martin@cnrs.fr") || strings.Contains(sent, "mc^2") || strings.Contains(sent, "Another paragraph") {
		t.Fatalf("the passage was not redacted, masked and bounded: %q", sent)
	}
	if strings.Contains(sent, "darwin1859") || !strings.Contains(sent, "joliot1934 | Joliot, Curie | 1934 | Un nouveau type de radioactivité") {
		t.Fatalf("the candidates are the entries sharing words (radioactivité meets radioactivity), no other: %q", sent)
	}

	// 2. Only invented keys: nothing inserted, and said so.
	s.c.Close(u)
	s.c.Open(u, "latex", citeParagraph)
	act = find(codeActions(t, s, u, cur, cur), "Suggest citations")
	run()
	if _, err := s.c.WaitMessage(ctx, "none of the 1 keys suggested is in the bibliography"); err != nil {
		t.Fatal(err)
	}
	// 3. A malformed answer: nothing inserted, a clear message.
	run()
	if _, err := s.c.WaitMessage(ctx, "not a list of keys"); err != nil {
		t.Fatal(err)
	}
	if got := s.c.Text(u); got != citeParagraph || len(s.c.AppliedEdits()) != 1 {
		t.Fatalf("text %q, edits %d", got, len(s.c.AppliedEdits()))
	}
	for _, e := range s.c.AppliedEdits() {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), "smith2099") {
			t.Fatal("an invented key was sent to the editor")
		}
	}
	es := s.local.Journal(t)
	if len(es) != 3 || es[0].Integration != "lsp" {
		t.Fatalf("journal %+v", es)
	}
}

// Neovim resolves the action's edit; without a bibliography it is not
// offered at all.
func TestSuggestCitationsResolved(t *testing.T) {
	s := start(t, setup{caps: lsptest.Neovim07})
	ctx := ctxT(t)
	u := s.file("paper.tex")
	s.c.Open(u, "latex", citeParagraph)
	cur := strings.Index(citeParagraph, "induces")
	if a := find(codeActions(t, s, u, cur, cur), "Suggest citations"); a.Title != "" {
		t.Fatalf("offered without a bibliography: %+v", a)
	}
	writeFile(t, filepath.Join(s.root, "refs.bib"), citeBib)
	s.fake.Handle(citeReplies(`{"keys": ["fermi1934", "curie1898"]}`))
	a := find(codeActions(t, s, u, cur, cur), "Suggest citations")
	if len(a.Data) == 0 {
		t.Fatalf("action %+v", a)
	}
	var resolved protocol.CodeAction
	if err := s.c.Call(ctx, "codeAction/resolve", &a, &resolved); err != nil {
		t.Fatal(err)
	}
	if resolved.Edit == nil {
		t.Fatalf("no edit: %+v (messages %+v)", resolved, s.c.Messages())
	}
	if err := s.c.Apply(*resolved.Edit); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(citeParagraph, "alice.martin@cnrs.fr.", `alice.martin@cnrs.fr~\cite{fermi1934,curie1898}.`, 1)
	if got := s.c.Text(u); got != want {
		t.Fatalf("text %q", got)
	}
}

// VS Code completes through inline completion and gets no completion
// provider; one is registered for LaTeX files, for citation keys only.
func TestCitationCompletionForInlineClients(t *testing.T) {
	caps := strings.Replace(lsptest.VSCode, `"completion": {`, `"completion": {"dynamicRegistration": true, `, 1)
	s := start(t, setup{caps: caps})
	ctx := ctxT(t)
	writeFile(t, filepath.Join(s.root, "refs.bib"), citeBib)
	if err := s.c.WaitFor(ctx, "the registration", func() bool {
		for _, r := range s.c.Registrations() {
			if r.Method == "textDocument/completion" && strings.Contains(string(r.RegisterOptions), `"language":"latex"`) {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("%v: %+v", err, s.c.Registrations())
	}
	u := s.file("paper.tex")
	s.c.Open(u, "latex", citePaper)
	var list protocol.CompletionList
	cur := strings.Index(citePaper, "{jo") + 3
	if err := s.c.Call(ctx, "textDocument/completion", completionParams(u, s.c.Pos(u, cur), 2), &list); err != nil || len(list.Items) != 1 {
		t.Fatalf("%v %+v", err, list.Items)
	}
	// Outside a citation: nothing, and no model call (inline completion
	// does that).
	if err := s.c.Call(ctx, "textDocument/completion", completionParams(u, s.c.Pos(u, strings.Index(citePaper, "later")), 1), &list); err != nil || len(list.Items) != 0 {
		t.Fatalf("%v %+v", err, list.Items)
	}
	if s.fake.Count() != 0 {
		t.Fatal("the model was asked")
	}
}

// An open .bib file shows what could not be read, on the line where it
// starts; fixing it clears the warning.
func TestBibProblemsShown(t *testing.T) {
	s := start(t, setup{caps: lsptest.Neovim07})
	ctx := ctxT(t)
	b := s.file("refs.bib")
	s.c.Open(b, "bibtex", citeBib)
	if err := s.c.WaitFor(ctx, "the warning", func() bool { m, _ := diagMessages(s, b); return len(m) == 1 }); err != nil {
		t.Fatal(err)
	}
	msgs, diags := diagMessages(s, b)
	line := strings.Count(citeBib[:strings.Index(citeBib, "@article{broken")], "\n")
	if !strings.Contains(msgs[0], "@article{broken: field title: unbalanced braces") || int(diags[0].Range.Start.Line) != line || diags[0].Severity != protocol.DiagnosticSeverityWarning {
		t.Fatalf("%q %+v", msgs, diags)
	}
	s.c.Replace(b, len(citeBib), len(citeBib), "}}\n")
	if err := s.c.WaitFor(ctx, "no warning", func() bool { m, _ := diagMessages(s, b); return len(m) == 0 }); err != nil {
		t.Fatal(err)
	}
}

package server

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"timon.dev/timon/core"
	"timon.dev/timon/core/latex"
	"timon.dev/timon/lsp/actions"
	"timon.dev/timon/lsp/bib"
	"timon.dev/timon/lsp/cite"
	"timon.dev/timon/lsp/document"
)

// Citations (lsp/cite): keys completed, hovered and checked against the
// document's bibliography, all local; and the "suggest citations" action,
// whose model answers keys only.

// maxCiteItems bounds the completion items of one answer (the list is
// then incomplete, and the client asks again as the key is typed).
const maxCiteItems = 100

// citeState is the server's citation state.
type citeState struct {
	lib *cite.Library

	mu   sync.Mutex
	runs map[string]*diagRun // document URI → its diagnostics run
}

// diagRun coalesces the diagnostics of one document: one computation at
// a time, one more when something changed meanwhile.
type diagRun struct {
	running, dirty bool
}

func newCiteState(s *Server) *citeState {
	return &citeState{runs: map[string]*diagRun{}, lib: cite.NewLibrary(func(path string) (string, int32, bool) {
		d := s.docs.Get(string(uri.File(path)))
		if d == nil {
			return "", 0, false
		}
		return d.Text, d.Version, true
	})}
}

// isBib reports whether the document is a .bib file.
func isBib(d *document.Doc) bool {
	return d.Language == "bibtex" || strings.EqualFold(filepath.Ext(d.URI), ".bib")
}

// bibliography is the bibliography of LaTeX document d.
func (s *Server) bibliography(d *document.Doc) *cite.Set {
	path, _ := fsPath(d.URI)
	s.mu.Lock()
	roots := slices.Clone(s.roots)
	s.mu.Unlock()
	set, errs := s.cites.lib.Bibliography(path, d.Text, roots)
	for _, err := range errs {
		s.log.Debug("bibliography", "err", err)
	}
	return set
}

// citeDoc is the LaTeX document uri as the request in ctx saw it, nil when
// it is not open, not LaTeX, or ignored (as for every other feature).
func (s *Server) citeDoc(ctx context.Context, u string) *document.Doc {
	d := s.doc(ctx, u)
	if d == nil || !actions.IsLaTeX(d.Language, u) {
		return nil
	}
	if ign, _ := s.ignored(u); ign {
		return nil
	}
	return d
}

// citeCompletion completes the citation key at pos: ok is false outside a
// citation command, where the other completions apply.
func (s *Server) citeCompletion(ctx context.Context, u string, pos protocol.Position) (*protocol.CompletionList, bool) {
	d := s.citeDoc(ctx, u)
	if d == nil {
		return nil, false
	}
	off := d.Offset(pos, s.caps.enc)
	if _, ks, ok := cite.At(d.Text, off); ok {
		return s.citeItems(d, ks, off), true
	}
	return nil, false
}

func (s *Server) citeItems(d *document.Doc, keyStart, off int) *protocol.CompletionList {
	prefix := strings.ToLower(d.Text[keyStart:off])
	set := s.bibliography(d)
	type match struct {
		e      *bib.Entry
		prefix bool
	}
	var ms []match
	set.Entries(func(_ string, e *bib.Entry) bool {
		if prefix == "" || e.Matches(prefix) {
			ms = append(ms, match{e, e.HasKeyPrefix(prefix)})
		}
		return true
	})
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].prefix && !ms[j].prefix })
	incomplete := len(ms) > maxCiteItems
	if incomplete {
		ms = ms[:maxCiteItems]
	}
	rng := d.Range(keyStart, off, s.caps.enc)
	items := make([]protocol.CompletionItem, len(ms))
	for i, m := range ms {
		e := m.e
		items[i] = protocol.CompletionItem{
			Label:            e.Key,
			Kind:             protocol.CompletionItemKindReference,
			Detail:           protocol.NewOptional(entryDetail(e)),
			Documentation:    &protocol.MarkupContent{Kind: protocol.MarkupKindMarkdown, Value: entryDoc(e)},
			SortText:         protocol.NewOptional(fmt.Sprintf("%05d", i)),
			FilterText:       protocol.NewOptional(e.Key),
			InsertTextFormat: protocol.InsertTextFormatPlainText,
			TextEdit:         &protocol.TextEdit{Range: rng, NewText: e.Key},
		}
	}
	return &protocol.CompletionList{IsIncomplete: incomplete, Items: items}
}

// entryDetail is "Authors (year)".
func entryDetail(e *bib.Entry) string {
	a, y := e.Authors(), e.Year()
	switch {
	case a != "" && y != "":
		return a + " (" + y + ")"
	case a != "":
		return a
	case y != "":
		return "(" + y + ")"
	}
	return e.Type
}

// entryDoc is the title and venue, in Markdown.
func entryDoc(e *bib.Entry) string {
	var b strings.Builder
	if t := e.Title(); t != "" {
		b.WriteString(mdEscape(t))
	}
	if v := e.Venue(); v != "" {
		b.WriteString("\n\n*" + mdEscape(v) + "*")
	}
	return strings.TrimSpace(b.String())
}

// mdEscape keeps a bibliography's text from being read as Markdown.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_[]<>", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Hover shows the entry of the citation key under the cursor.
func (s *Server) Hover(ctx context.Context, p *protocol.HoverParams) (*protocol.Hover, error) {
	u := string(p.TextDocument.URI)
	d := s.citeDoc(ctx, u)
	if d == nil {
		return nil, nil
	}
	k, ok := cite.KeyAt(d.Text, d.Offset(p.Position, s.caps.enc))
	if !ok {
		return nil, nil
	}
	set := s.bibliography(d)
	var md string
	if e, ok := set.Lookup(k.Text); ok {
		md = "**" + mdEscape(e.Key) + "** — " + mdEscape(entryDetail(e))
		if doc := entryDoc(e); doc != "" {
			md += "\n\n" + doc
		}
		if doi := e.Field("doi"); doi != "" {
			md += "\n\ndoi:" + mdEscape(doi)
		}
		if path := fileOf(set, e); path != "" {
			md += fmt.Sprintf("\n\n%s, line %d", mdEscape(s.displayPath(string(uri.File(path)))), e.Line)
		}
	} else {
		md = fmt.Sprintf("**%s** is not in the bibliography (%s)", mdEscape(k.Text), mdEscape(s.describeSet(set)))
	}
	r := d.Range(k.Start, k.End, s.caps.enc)
	return &protocol.Hover{Contents: &protocol.MarkupContent{Kind: protocol.MarkupKindMarkdown, Value: md}, Range: &r}, nil
}

// fileOf is the path of the file holding e.
func fileOf(set *cite.Set, e *bib.Entry) string {
	for i, f := range set.Files {
		if got, ok := f.Lookup(e.Key); ok && got == e {
			return set.Paths[i]
		}
	}
	return ""
}

// describeSet names the files of a bibliography, for messages.
func (s *Server) describeSet(set *cite.Set) string {
	if len(set.Paths) == 0 {
		return "no .bib file found"
	}
	names := make([]string, 0, len(set.Paths))
	for _, p := range set.Paths {
		names = append(names, s.displayPath(string(uri.File(p))))
	}
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("%d more", len(names)-3))
	}
	return strings.Join(names, ", ")
}

// citeChanged follows a change of document d: its own citations are
// checked again, or, for a .bib file, those of every open LaTeX document.
func (s *Server) citeChanged(d *document.Doc) {
	if isBib(d) {
		s.scheduleCiteDiagnostics(d.URI) // its own malformed entries
		s.recheckCitations()
		return
	}
	if actions.IsLaTeX(d.Language, d.URI) {
		s.scheduleCiteDiagnostics(d.URI)
	}
}

// recheckCitations checks the citations of every open LaTeX document
// again (a bibliography changed).
func (s *Server) recheckCitations() {
	for u, d := range s.docs.Snapshot() {
		if actions.IsLaTeX(d.Language, u) {
			s.scheduleCiteDiagnostics(u)
		}
	}
}

// scheduleCiteDiagnostics computes and publishes the citation
// diagnostics of document u in the background: reading a bibliography
// must not hold up the notifications behind it.
func (s *Server) scheduleCiteDiagnostics(u string) {
	c := s.cites
	c.mu.Lock()
	r := c.runs[u]
	if r == nil {
		r = &diagRun{}
		c.runs[u] = r
	}
	if r.running {
		r.dirty = true
		c.mu.Unlock()
		return
	}
	r.running = true
	c.mu.Unlock()
	started := s.background(func() {
		for {
			s.publishCiteDiagnostics(u)
			c.mu.Lock()
			if !r.dirty {
				r.running = false
				c.mu.Unlock()
				return
			}
			r.dirty = false
			c.mu.Unlock()
		}
	})
	if !started {
		c.mu.Lock()
		r.running = false
		c.mu.Unlock()
	}
}

// publishCiteDiagnostics publishes the diagnostics of document u: a
// warning on each citation key its bibliography does not hold (when it has
// one) and on each bibliography file it names that is not found. A closed
// or ignored document gets none.
func (s *Server) publishCiteDiagnostics(u string) {
	ctx := context.WithoutCancel(s.work)
	d := s.docs.Get(u)
	var diags []protocol.Diagnostic
	var version protocol.Optional[int32]
	if d != nil && (isBib(d) || actions.IsLaTeX(d.Language, u)) {
		if ign, _ := s.ignored(u); !ign {
			if isBib(d) {
				diags = s.bibDiagnostics(d)
			} else {
				diags = s.citeDiagnostics(d)
			}
			version = protocol.NewOptional(d.Version)
		}
	}
	if diags == nil {
		diags = []protocol.Diagnostic{}
	}
	if err := s.client.PublishDiagnostics(ctx, &protocol.PublishDiagnosticsParams{URI: uri.URI(u), Version: version, Diagnostics: diags}); err != nil {
		s.log.Debug("diagnostics not delivered", "err", err)
	}
}

// citeDiagnostics lists the problems of d's citations.
func (s *Server) citeDiagnostics(d *document.Doc) []protocol.Diagnostic {
	set := s.bibliography(d)
	var out []protocol.Diagnostic
	warn := func(start, end int, msg string) {
		out = append(out, protocol.Diagnostic{
			Range: d.Range(start, end, s.caps.enc), Severity: protocol.DiagnosticSeverityWarning,
			Source: protocol.NewOptional("timon"), Message: protocol.String(msg),
		})
	}
	for _, m := range set.Missing {
		warn(m.Start, m.End, fmt.Sprintf("bibliography file %s not found", m.Name))
	}
	if set.Len() == 0 {
		return out // nothing to check the keys against
	}
	where := s.describeSet(set)
	for _, a := range cite.Citations(d.Text) {
		if !a.Closed {
			continue
		}
		for _, k := range a.Keys {
			if k.Text == "*" {
				continue // \nocite{*}
			}
			if _, ok := set.Lookup(k.Text); !ok {
				warn(k.Start, k.End, fmt.Sprintf("citation key %q is not in the bibliography (%s)", k.Text, where))
			}
		}
	}
	return out
}

// bibDiagnostics lists what could not be read in an open .bib file (a
// malformed entry, an undefined macro…), a warning on the line where each
// problem starts; the rest of the file was read.
func (s *Server) bibDiagnostics(d *document.Doc) []protocol.Diagnostic {
	f := bib.Parse(d.Text)
	out := []protocol.Diagnostic{}
	for _, p := range f.Problems {
		start, end := lineBounds(d.Text, p.Line)
		out = append(out, protocol.Diagnostic{
			Range: d.Range(start, end, s.caps.enc), Severity: protocol.DiagnosticSeverityWarning,
			Source: protocol.NewOptional("timon"), Message: protocol.String(p.Message),
		})
	}
	return out
}

// lineBounds are the byte offsets of 1-based line n of text, without its
// line break.
func lineBounds(text string, n int) (int, int) {
	start := 0
	for i := 1; i < n; i++ {
		nl := strings.IndexByte(text[start:], '\n')
		if nl < 0 {
			return len(text), len(text)
		}
		start += nl + 1
	}
	end := len(text)
	if nl := strings.IndexByte(text[start:], '\n'); nl >= 0 {
		end = start + nl
	}
	if end > start && text[end-1] == '\r' {
		end--
	}
	return start, end
}

// clearCiteDiagnostics removes the diagnostics of a closed document (and,
// for a .bib, checks the citations again against the file on disk).
func (s *Server) clearCiteDiagnostics(u string) {
	s.scheduleCiteDiagnostics(u) // publishes none: it is closed
	if strings.EqualFold(filepath.Ext(u), ".bib") {
		s.recheckCitations()
	}
}

// Initialized registers what the initialize answer could not say: a
// client that can watch files is asked to report changes of .bib files
// (otherwise each use checks their modification time), and a client with
// inline completion (VS Code), which gets no completion provider, gets
// one for LaTeX files: citation keys only. It runs in the background: the
// client answers a registration on the read loop this runs on.
func (s *Server) Initialized(ctx context.Context, _ *protocol.InitializedParams) error {
	var regs []protocol.Registration
	if s.caps.watchFiles {
		regs = append(regs, protocol.Registration{ID: "timon-bib-watch", Method: protocol.MethodWorkspaceDidChangeWatchedFiles,
			RegisterOptions: mustJSON(map[string]any{"watchers": []map[string]any{{"globPattern": "**/*.bib"}}})})
	}
	if s.caps.inline && s.caps.dynCompletion {
		regs = append(regs, protocol.Registration{ID: "timon-cite-completion", Method: protocol.MethodTextDocumentCompletion,
			RegisterOptions: mustJSON(map[string]any{
				"documentSelector":  []map[string]any{{"language": "latex"}, {"pattern": "**/*.tex"}},
				"triggerCharacters": []string{"{", ","},
			})})
	}
	if len(regs) == 0 {
		return nil
	}
	s.background(func() {
		if err := s.client.RegisterCapability(s.work, &protocol.RegistrationParams{Registrations: regs}); err != nil {
			s.log.Debug("registering capabilities", "err", err)
		}
	})
	return nil
}

// DidChangeWatchedFiles forgets changed .bib files and checks the
// citations again.
func (s *Server) DidChangeWatchedFiles(ctx context.Context, p *protocol.DidChangeWatchedFilesParams) error {
	changed := false
	for _, c := range p.Changes {
		if path, ok := fsPath(string(c.URI)); ok && strings.EqualFold(filepath.Ext(path), ".bib") {
			s.cites.lib.Forget(path)
			changed = true
		}
	}
	if changed {
		s.recheckCitations()
	}
	return nil
}

// citeAction is the "suggest citations" code action for a LaTeX
// document with a bibliography, nil otherwise.
func (s *Server) citeAction(d *document.Doc, r protocol.Range, only []protocol.CodeActionKind) *protocol.CodeAction {
	spec := actions.CiteSpec
	kind := protocol.CodeActionKind(spec.Group)
	if !actions.IsLaTeX(d.Language, d.URI) || !wanted(kind, only) || s.bibliography(d).Len() == 0 {
		return nil
	}
	args := Args{URI: d.URI, Range: r, Version: d.Version}
	a := &protocol.CodeAction{Title: spec.Title, Kind: &kind, Tags: []protocol.CodeActionTag{protocol.CodeActionTagLLMGenerated}}
	if s.caps.resolveEdit {
		args.Action = spec.ID
		a.Data = mustJSON(args)
	} else {
		a.Command = protocol.Command{Title: spec.Title, Command: spec.Command(), Arguments: []protocol.LSPAny{mustJSON(args)}}
	}
	return a
}

// performCite asks the model which entries of the bibliography the
// passage d.Text[start:end] should cite and returns the edit inserting
// them. The passage is masked (core/latex) and, like everything sent,
// redacted by the assistant; the candidates are chosen locally; the
// answer is keys through structured output, each checked against the
// bibliography: a key it does not hold is dropped (counted in the log),
// never inserted.
func (s *Server) performCite(ctx context.Context, args Args, d *document.Doc, start, end int) (*protocol.WorkspaceEdit, *core.Response, error) {
	full := s.bibliography(d)
	if full.Len() == 0 {
		return nil, nil, core.Errorf(core.KindInvalid, "no bibliography found for %s: name one with \\bibliography or \\addbibresource, or put a .bib file beside it", s.displayPath(args.URI))
	}
	// Ignored .bib files never reach the model.
	sent := &cite.Set{}
	for i, p := range full.Paths {
		if ign, _ := s.ignored(string(uri.File(p))); !ign {
			sent.Paths = append(sent.Paths, p)
			sent.Files = append(sent.Files, full.Files[i])
		}
	}
	m, err := latex.Mask(d.Text[start:end], latex.Options{})
	if err != nil {
		return nil, nil, core.Errorf(core.KindInvalid, "the LaTeX cannot be protected, so nothing was sent: %v", err)
	}
	cands := cite.Rank(sent, m.Text, cite.MaxCandidates)
	if len(cands) == 0 {
		return nil, nil, core.Errorf(core.KindInvalid, "no entry of the bibliography (%s) shares words with this passage, so nothing was sent", s.describeSet(full))
	}
	ctx, done := s.beginProgress(ctx, actions.CiteSpec.Title)
	defer done()
	req, n := cite.Request(m.Text, cands, core.Origin{Path: s.displayPath(args.URI), Language: d.Language}, s.o.Principal)
	resp, err := s.o.Assistant.Do(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	keys, invented, err := cite.Keys(resp.Text, full)
	s.log.Info("citations suggested", "candidates", n, "keys", len(keys), "invented", invented, "malformed", err != nil)
	switch {
	case err != nil:
		return nil, nil, err
	case len(keys) == 0 && invented > 0:
		return nil, nil, core.Errorf(core.KindOutputRejected, "none of the %d keys suggested is in the bibliography, so nothing was inserted", invented)
	case len(keys) == 0:
		return nil, nil, core.Errorf(core.KindInvalid, "no entry of the bibliography fits this passage, so nothing was inserted")
	}
	if invented > 0 {
		resp.Notices = append(resp.Notices, fmt.Sprintf("%d suggested key(s) not in the bibliography were left out", invented))
	}
	off := cite.InsertAt(d.Text, start, end)
	cur := s.docs.Get(args.URI)
	if cur == nil || len(cur.Text) < off || cur.Text[:off] != d.Text[:off] {
		return nil, nil, errChanged
	}
	return s.workspaceEdit(cur, []actions.Edit{{Start: off, End: off, NewText: cite.Citation(d.Text, off, keys)}}, nil), resp, nil
}

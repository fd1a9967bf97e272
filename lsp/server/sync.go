package server

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"go.lsp.dev/protocol"

	"timon.dev/timon/lsp/document"
)

// DidOpen records a document and says once when it is ignored.
func (s *Server) DidOpen(ctx context.Context, p *protocol.DidOpenTextDocumentParams) error {
	td := p.TextDocument
	// eglot sends the languageId of the first mode it manages for every
	// file (a .tex file arrives as "go"): a known extension wins.
	lang := languageOf(string(td.URI), string(td.LanguageID))
	d := document.New(string(td.URI), lang, td.Version, td.Text)
	s.docs.Open(d)
	s.comp.Keystroke(d.URI, d.Version)
	s.citeChanged(d)
	if ignored, why := s.ignored(d.URI); ignored {
		s.showIgnored(ctx, d.URI, why)
	}
	return nil
}

// DidChange applies the changes in order; a completion in flight for the
// document is canceled, its upstream request aborted.
func (s *Server) DidChange(ctx context.Context, p *protocol.DidChangeTextDocumentParams) error {
	u := string(p.TextDocument.URI)
	d, err := s.docs.Change(u, p.TextDocument.Version, p.ContentChanges, s.caps.enc)
	if err != nil {
		return err
	}
	s.comp.Keystroke(u, d.Version)
	s.citeChanged(d)
	s.suggestionChanged(u, d.Text)
	return nil
}

// DidClose forgets the document.
func (s *Server) DidClose(ctx context.Context, p *protocol.DidCloseTextDocumentParams) error {
	u := string(p.TextDocument.URI)
	s.docs.Close(u)
	s.comp.Forget(u)
	s.clearCiteDiagnostics(u)
	s.tally.Forget(u)
	s.mu.Lock()
	delete(s.skipped, u)
	s.mu.Unlock()
	return nil
}

// ignored reports whether nothing of the document uri may be sent. A
// document of any scheme is judged by its path: a file: URI's, the path of
// another scheme's URI (vscode-remote:, vscode-vfs:, untitled:/…) or a
// notebook cell's notebook when it lies in a workspace root, by all the
// rules there; anything else (an untitled buffer's name, a path outside the
// workspace) by the most restrictive reading. Nothing is skipped.
func (s *Server) ignored(u string) (bool, string) {
	s.mu.Lock()
	m := s.ignore
	s.mu.Unlock()
	if path, ok := fsPath(u); ok {
		return m.Ignored(path)
	}
	p, ok := uriPath(u)
	if !ok {
		return true, "its URI cannot be read"
	}
	if strings.HasPrefix(p, "/") && m.InRoot(filepath.FromSlash(p)) {
		return m.Ignored(filepath.FromSlash(p))
	}
	return m.IgnoredName(p)
}

// uriPath is the path part of a URI of any scheme: the path of
// vscode-remote://ssh-remote%2Bhost/p/a.go, of
// vscode-notebook-cell:/p/nb.ipynb#cell (the notebook's), the name of
// untitled:Untitled-1. It is read by hand: net/url refuses authorities
// such as ssh-remote%2Bhost that editors send. A URI without a scheme has
// none.
func uriPath(u string) (string, bool) {
	i := strings.IndexByte(u, ':')
	if i <= 0 || strings.ContainsAny(u[:i], "/?#") {
		return "", false
	}
	rest := u[i+1:]
	if j := strings.IndexAny(rest, "?#"); j >= 0 {
		rest = rest[:j]
	}
	if strings.HasPrefix(rest, "//") {
		rest = rest[2:]
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			return "/", true
		}
		rest = rest[j:]
	}
	p, err := url.PathUnescape(rest)
	if err != nil {
		return "", false
	}
	if strings.HasPrefix(p, "/") {
		p = path.Clean(p)
	}
	return p, true
}

// showIgnored says once per document, in the editor, that timon is off
// for it and which rule says so.
func (s *Server) showIgnored(ctx context.Context, u, why string) {
	s.mu.Lock()
	first := !s.skipped[u]
	s.skipped[u] = true
	s.mu.Unlock()
	if first {
		s.notify(ctx, protocol.MessageTypeInfo, fmt.Sprintf("timon: off for %s — nothing from it is sent to the assistant (%s)", s.displayPath(u), why), false)
	}
}

// displayPath is the document's path as sent to the assistant (origin)
// and shown in messages: relative to its workspace root, or its base name
// outside any root, so that home directories do not leave the machine.
func (s *Server) displayPath(u string) string {
	p, ok := fsPath(u)
	if !ok {
		up, ok := uriPath(u)
		if !ok {
			return "untitled"
		}
		p = filepath.FromSlash(up)
	}
	s.mu.Lock()
	roots := s.roots
	s.mu.Unlock()
	best := ""
	for _, r := range roots {
		if strings.HasPrefix(p, r+string(filepath.Separator)) && len(r) > len(best) {
			best = r
		}
	}
	if best == "" {
		return filepath.Base(p)
	}
	rel, err := filepath.Rel(best, p)
	if err != nil {
		return filepath.Base(p)
	}
	return filepath.ToSlash(rel)
}

// extLanguages are the language ids of well-known file extensions.
var extLanguages = map[string]string{
	".tex": "latex", ".sty": "latex", ".cls": "latex", ".bib": "bibtex",
	".go": "go", ".py": "python", ".js": "javascript", ".mjs": "javascript", ".ts": "typescript",
	".rs": "rust", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".java": "java",
	".jl": "julia", ".r": "r", ".R": "r", ".rb": "ruby", ".sh": "shellscript", ".f90": "fortran",
	".md": "markdown", ".txt": "plaintext", ".rst": "restructuredtext",
}

// languageOf is the document's language: its extension's when the
// extension is well known, else the client's languageId.
func languageOf(u, languageID string) string {
	if l, ok := extLanguages[path.Ext(u)]; ok {
		return l
	}
	return languageID
}

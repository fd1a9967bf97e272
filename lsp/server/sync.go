package server

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

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
	if ignored, why := s.ignored(d.URI); ignored {
		s.mu.Lock()
		first := !s.skipped[d.URI]
		s.skipped[d.URI] = true
		s.mu.Unlock()
		if first {
			s.notify(ctx, protocol.MessageTypeInfo, fmt.Sprintf("timon: nothing from %s is sent to the assistant (%s)", s.displayPath(d.URI), why), true)
		}
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
	return nil
}

// DidClose forgets the document.
func (s *Server) DidClose(ctx context.Context, p *protocol.DidCloseTextDocumentParams) error {
	u := string(p.TextDocument.URI)
	s.docs.Close(u)
	s.comp.Forget(u)
	s.mu.Lock()
	delete(s.skipped, u)
	s.mu.Unlock()
	return nil
}

// ignored reports whether nothing of the document uri may be sent.
func (s *Server) ignored(u string) (bool, string) {
	s.mu.Lock()
	m := s.ignore
	s.mu.Unlock()
	if path, ok := fsPath(u); ok {
		return m.Ignored(path)
	}
	// untitled: and other schemes: the defaults on the name.
	name := uri.URI(u).Path()
	if name == "" {
		return false, ""
	}
	return m.Ignored(filepath.Join(string(filepath.Separator), "untitled", filepath.Base(name)))
}

// displayPath is the document's path as sent to the assistant (origin)
// and shown in messages: relative to its workspace root, or its base name
// outside any root, so that home directories do not leave the machine.
func (s *Server) displayPath(u string) string {
	path, ok := fsPath(u)
	if !ok {
		return filepath.Base(uri.URI(u).Path())
	}
	s.mu.Lock()
	roots := s.roots
	s.mu.Unlock()
	best := ""
	for _, r := range roots {
		if strings.HasPrefix(path, r+string(filepath.Separator)) && len(r) > len(best) {
			best = r
		}
	}
	if best == "" {
		return filepath.Base(path)
	}
	rel, err := filepath.Rel(best, path)
	if err != nil {
		return filepath.Base(path)
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

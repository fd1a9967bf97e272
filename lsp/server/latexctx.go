package server

import (
	"context"
	"slices"
	"strings"
	"sync"

	"go.lsp.dev/protocol"

	"timon.dev/timon/core"
	"timon.dev/timon/lsp/actions"
)

// latexProject is the server's view of the writer's LaTeX project
// (actions.Project) and the glossary warnings already shown.
type latexProject struct {
	p *actions.Project

	mu    sync.Mutex
	shown map[string]bool
}

func newLaTeXProject(glossary []core.GlossaryTerm) *latexProject {
	return &latexProject{p: actions.NewProject(glossary), shown: map[string]bool{}}
}

// latexContext is what a LaTeX rewrite of the document at u sends beside
// its text: the definitions of the document and its project, and a
// translation's glossary. Bad glossary lines are shown once each.
func (s *Server) latexContext(ctx context.Context, spec actions.Spec, text, u string) *core.LaTeXContext {
	if !spec.LaTeX {
		return nil
	}
	s.mu.Lock()
	roots, m := slices.Clone(s.roots), s.ignore
	s.mu.Unlock()
	doc, _ := fsPath(u)
	skip := func(path string) bool {
		ign, _ := m.Ignored(path)
		return ign
	}
	c, warnings := s.latex.p.Context(spec, text, doc, roots, skip)
	var fresh []string
	s.latex.mu.Lock()
	for _, w := range warnings {
		if !s.latex.shown[w] {
			s.latex.shown[w] = true
			fresh = append(fresh, w)
		}
	}
	s.latex.mu.Unlock()
	if len(fresh) > 0 {
		s.notify(ctx, protocol.MessageTypeWarning, "timon: glossary: "+strings.Join(fresh, "; "), false)
	}
	return c
}

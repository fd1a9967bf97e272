package server_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"timon.dev/timon/core"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/lsp/lsptest"
)

// firstData is the <data> block of a request's first user message (the
// text to rewrite; a retry adds messages after it).
func firstData(req fakellm.Request) (string, string) {
	for _, m := range req.Messages {
		if m.Role == "user" {
			if d := regexp.MustCompile(`(?s)<data>\n(.*)\n</data>`).FindStringSubmatch(m.Content); d != nil {
				return d[1], m.Content
			}
			return "", m.Content
		}
	}
	return "", ""
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runAction(t *testing.T, s *session, command, u string, start, end int) {
	t.Helper()
	args := map[string]any{"uri": u, "range": s.c.Range(u, start, end)}
	if err := s.c.Call(ctxT(t), "workspace/executeCommand", map[string]any{"command": command, "arguments": []any{args}}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestLaTeXRewriteKnowsTheWritersMacros (issue #19 item 2): a chapter of a
// project whose main file \input's the macros and loads a local .sty. The
// writer's \todo wraps its argument in \textcolor: its argument is prose
// the model may correct; \figref expands to \ref and \R to math: both
// protected. A careless model that first drops the \todo markup is
// refused and asked again; the second answer keeps it and is applied.
func TestLaTeXRewriteKnowsTheWritersMacros(t *testing.T) {
	s := start(t, setup{caps: lsptest.Eglot19})
	writeFiles(t, s.root, map[string]string{
		"main.tex":         "\\documentclass{book}\n\\usepackage{amsmath}\n\\usepackage{notation}\n\\input{tex/macros}\n\\input{../outside/x}\n\\begin{document}\n\\include{chapter}\n\\end{document}\n",
		"tex/macros.tex":   "% macros of the thesis\n\\newcommand{\\todo}[1]{\\textcolor{red}{#1}}\n\\newcommand{\\figref}[1]{Figure~\\ref{fig:#1}}\n",
		"notation.sty":     "\\ProvidesPackage{notation}\n\\newcommand{\\R}{\\mathbb{R}}\n",
		"../outside/x.tex": "\\newcommand{\\leak}[1]{\\textbf{#1}}\n", // outside the workspace: never read
	})
	var calls atomic.Int32
	s.fake.Handle(func(req fakellm.Request) fakellm.Reply {
		d, _ := firstData(req)
		fixed := strings.ReplaceAll(d, "teh", "the")
		if calls.Add(1) == 1 {
			// Careless: the writer's markup goes, its words stay.
			fixed = regexp.MustCompile(`\\todo\{([^}]*)\}`).ReplaceAllString(fixed, "$1")
		}
		return fakellm.Reply{Text: fixed}
	})
	u := s.file("chapter.tex")
	doc := "\\chapter{Bounds}\n\nWe check teh bound \\todo{prove teh constant} in \\figref{conv} over \\R here \\leak{hidden words}.\n"
	s.c.Open(u, "latex", doc)
	cur := strings.Index(doc, "We check")
	runAction(t, s, "timon.grammar", u, cur, cur)
	want := strings.ReplaceAll(doc, "teh", "the")
	ctx := ctxT(t)
	if err := s.c.WaitFor(ctx, "the rewrite", func() bool { return s.c.Text(u) == want }); err != nil {
		t.Fatalf("%v; text %q; messages %+v", err, s.c.Text(u), s.c.Messages())
	}
	reqs := s.fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d model calls, want 2 (the careless answer refused, then asked again)", len(reqs))
	}
	sent, _ := firstData(reqs[0])
	if !strings.Contains(sent, `\todo{prove teh constant}`) || strings.Contains(sent, "figref") || strings.Contains(sent, `\R`) || strings.Contains(sent, "fig:conv") || strings.Contains(sent, "hidden") {
		t.Fatalf("sent %q", sent)
	}
	if retry := reqs[1].LastUser(); !strings.Contains(retry, `drops a \todo`) {
		t.Fatalf("the retry does not give the reason: %q", retry)
	}
}

// TestTranslationFollowsTheGlossary (issue #19 item 4): the project's
// .timon/glossary.tsv and the institution's glossary reach the model for
// the terms of the paragraph only; a translation that renders a term
// otherwise is asked once more with the reason, then refused, and nothing
// changes; one that follows the glossary is applied. A bad line of the
// file is reported with its number.
func TestTranslationFollowsTheGlossary(t *testing.T) {
	doc := "\\section{Méthode}\n\nL'apprentissage profond sur un réseau de neurones, écrit avec PyTorch~\\cite{paszke}.\n"
	files := map[string]string{
		".timon/glossary.tsv": "# terms of the lab\napprentissage profond\tdeep learning\nréseau de neurones\tneural network\nbroken line without a tab\nPyTorch\tkeep\n",
	}
	institution := []core.GlossaryTerm{{Source: "graphe", Target: "graph"}, {Source: "réseau de neurones", Target: "neural net"}}

	t.Run("violated: retried then refused", func(t *testing.T) {
		s := start(t, setup{caps: lsptest.Eglot19, glossary: institution})
		writeFiles(t, s.root, files)
		s.fake.Handle(func(req fakellm.Request) fakellm.Reply {
			return fakellm.Reply{Text: "Profound learning on a neural network, written with PyTorch~⟦R1⟧."}
		})
		u := s.file("paper.tex")
		s.c.Open(u, "latex", doc)
		cur := strings.Index(doc, "L'app")
		runAction(t, s, "timon.translate-en", u, cur, cur)
		ctx := ctxT(t)
		m, err := s.c.WaitMessage(ctx, "(glossary)")
		if err != nil || !strings.Contains(m.Message, "'apprentissage profond' must be translated 'deep learning' (glossary)") {
			t.Fatalf("%+v %v; messages %+v", m, err, s.c.Messages())
		}
		if n := s.fake.Count(); n != 2 {
			t.Fatalf("%d model calls, want 2", n)
		}
		if s.c.Text(u) != doc || len(s.c.AppliedEdits()) != 0 {
			t.Fatal("a refused translation changed the text")
		}
		_, user := firstData(s.fake.Requests()[0])
		for _, w := range []string{"apprentissage profond → deep learning", "réseau de neurones → neural network", "PyTorch → keep", "<glossary>"} {
			if !strings.Contains(user, w) {
				t.Errorf("the prompt lacks %q: %q", w, user)
			}
		}
		if strings.Contains(user, "graphe") {
			t.Errorf("a term absent from the paragraph was sent: %q", user)
		}
		if retry := s.fake.Requests()[1].LastUser(); !strings.Contains(retry, "must be translated 'deep learning'") {
			t.Errorf("the retry does not give the reason: %q", retry)
		}
		if _, err := s.c.WaitMessage(ctx, "line 4"); err != nil {
			t.Errorf("the bad glossary line was not reported: %v; %+v", err, s.c.Messages())
		}
	})

	t.Run("followed: applied", func(t *testing.T) {
		s := start(t, setup{caps: lsptest.Eglot19, glossary: institution})
		writeFiles(t, s.root, files)
		s.fake.Handle(func(req fakellm.Request) fakellm.Reply {
			return fakellm.Reply{Text: "Deep learning on a neural network, written with PyTorch~⟦R1⟧."}
		})
		u := s.file("paper.tex")
		s.c.Open(u, "latex", doc)
		cur := strings.Index(doc, "L'app")
		runAction(t, s, "timon.translate-en", u, cur, cur)
		want := "\\section{Méthode}\n\nDeep learning on a neural network, written with PyTorch~\\cite{paszke}.\n"
		if err := s.c.WaitFor(ctxT(t), "the translation", func() bool { return s.c.Text(u) == want }); err != nil {
			t.Fatalf("%v; text %q; messages %+v", err, s.c.Text(u), s.c.Messages())
		}
		if n := s.fake.Count(); n != 1 {
			t.Fatalf("%d model calls, want 1", n)
		}
	})
}

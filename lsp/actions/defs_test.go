package actions

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core"
)

func write(t *testing.T, root, name, text string) string {
	t.Helper()
	path := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func defOf(c *core.LaTeXContext, name string, env bool) (core.LaTeXDefinition, bool) {
	if c == nil {
		return core.LaTeXDefinition{}, false
	}
	for _, d := range c.Definitions {
		if d.Name == name && d.Environment == env {
			return d, true
		}
	}
	return core.LaTeXDefinition{}, false
}

func TestProjectDefinitions(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	write(t, outside, "evil.tex", `\newcommand{\evil}[1]{\emph{#1}}`)
	write(t, root, "main.tex", "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{local,other}\n% \\input{commented}\n\\input{parts/a}\n\\input{"+filepath.Join(outside, "evil")+"}\n\\input{../"+filepath.Base(outside)+"/evil}\n")
	write(t, root, "local.sty", `\DeclareMathOperator{\Var}{Var}`)
	write(t, root, "commented.tex", `\newcommand{\never}{x}`)
	write(t, root, "parts/a.tex", "\\newcommand{\\mot}[1]{\\emph{#1}}\n\\input{parts/b}\n")
	write(t, root, "parts/b.tex", "\\newenvironment{eq}{\\begin{equation}}{\\end{equation}}\n\\input{parts/c}")
	write(t, root, "parts/c.tex", "\\input{parts/d}")
	write(t, root, "parts/d.tex", "\\input{parts/e}")
	write(t, root, "parts/e.tex", "\\input{parts/f}")
	write(t, root, "parts/f.tex", `\newcommand{\tooDeep}{x}`)
	if err := os.Symlink(filepath.Join(outside, "evil.tex"), filepath.Join(root, "link.tex")); err != nil {
		t.Fatal(err)
	}
	write(t, root, "ignored.sty", `\newcommand{\hidden}[1]{\textbf{#1}}`)

	p := NewProject(nil)
	spec, _ := Lookup(Grammar)
	chapter := "\\input{link}\n\\usepackage{ignored}\nText with \\mot{x} and \\newcommand{\\own}[1]{\\textbf{#1}}."
	skip := func(path string) bool { return strings.HasSuffix(path, "ignored.sty") }
	c, _ := p.Context(spec, chapter, filepath.Join(root, "chapter.tex"), []string{root}, skip)
	for _, want := range []core.LaTeXDefinition{
		{Name: "mot", Role: "prose", Args: 1}, {Name: "Var", Role: "math"}, {Name: "own", Role: "prose", Args: 1},
		{Name: "eq", Environment: true, Role: "math"},
	} {
		if got, ok := defOf(c, want.Name, want.Environment); !ok || got != want {
			t.Errorf("%s: got %+v (found %v), want %+v", want.Name, got, ok, want)
		}
	}
	for _, name := range []string{"evil", "never", "tooDeep", "hidden"} {
		if _, ok := defOf(c, name, false); ok {
			t.Errorf(`\%s was read`, name)
		}
	}
	if c.Glossary != nil {
		t.Errorf("a grammar fix got a glossary: %+v", c.Glossary)
	}

	// Cached, and read again when the file changes.
	path := filepath.Join(root, "parts/a.tex")
	write(t, root, "parts/a.tex", "\\newcommand{\\mot}[1]{\\ref{#1}}\n")
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	c, _ = p.Context(spec, chapter, filepath.Join(root, "chapter.tex"), []string{root}, skip)
	if got, _ := defOf(c, "mot", false); got.Role != "ref" {
		t.Errorf("the changed file was not read again: %+v", got)
	}
	// Code actions carry nothing.
	fix, _ := Lookup(Fix)
	if c, _ := p.Context(fix, chapter, "", []string{root}, nil); c != nil {
		t.Errorf("code: %+v", c)
	}
}

func TestParseGlossaryAndOrientation(t *testing.T) {
	src := "\uFEFF# glossary\n\napprentissage profond\tdeep learning\n  réseau de neurones \t neural network \nno tab here\nPyTorch\tKeep\n\tempty source\na\tb\tc\n"
	terms, warnings := ParseGlossary(strings.NewReader(src), GlossaryFile)
	if len(terms) != 3 || terms[1].Source != "réseau de neurones" || terms[1].Target != "neural network" || !terms[2].Keep {
		t.Fatalf("terms %+v", terms)
	}
	if len(warnings) != 3 || !strings.Contains(warnings[0], "line 5") || !strings.Contains(warnings[1], "line 7") || !strings.Contains(warnings[2], "line 8") {
		t.Fatalf("warnings %q", warnings)
	}
	root := t.TempDir()
	write(t, root, GlossaryFile, src)
	p := NewProject([]core.GlossaryTerm{{Source: "graphe", Target: "graph"}})
	fr, _ := Lookup(TranslateFR)
	c, w := p.Context(fr, "Deep learning.", "", []string{root}, nil)
	if len(w) != 3 || len(c.Glossary) != 4 {
		t.Fatalf("%+v %q", c, w)
	}
	if g := c.Glossary[0]; g.Source != "graph" || g.Target != "graphe" {
		t.Fatalf("into French, the terms are reversed: %+v", g)
	}
	if g := c.Glossary[3]; g.Source != "PyTorch" || !g.Keep {
		t.Fatalf("keep stays: %+v", g)
	}
}

package latex_test

import (
	"errors"
	"strings"
	"testing"

	"timon.dev/timon/core/latex"
)

var seeds = []string{
	"",
	"plain text",
	`Let $x$ be \emph{given}~\cite{a}.% note` + "\nNext \\begin{itemize}\\item A\\end{itemize}",
	"\\begin{equation}\\label{e} a \\end{equation} and \\verb|{%| and \\url{a%b}",
	"Il dit \\og oui\\fg{} : «\u00a0non\u00a0» ; 15~\\% et 5\\,m !",
	"{unbalanced",
	"$$x$$ \\[y\\] \\(z\\) \\\\[2pt] ⟦M1⟧ [[EMAIL_1]]",
	"\\foo[a]{b}{c} !!{t}s \\'Ecrire G\\\"odel \\",
	"\r\nA $x$\r\n",
}

// FuzzMaskUnmask: whatever the input, Mask either refuses it with a syntax
// error or masks it so that unmasking the masked text gives it back byte
// for byte; and Unmask never panics on any answer.
func FuzzMaskUnmask(f *testing.F) {
	for _, s := range seeds {
		f.Add(s, "⟦M1⟧ answer", false)
	}
	for _, p := range corpus(f)[:40] {
		f.Add(p.Text, p.Text[:len(p.Text)/2], true)
	}
	f.Fuzz(func(t *testing.T, src, answer string, keep bool) {
		o := latex.Options{KeepComments: keep, Macros: []string{"!!", "myref"}}
		m, err := latex.Mask(src, o)
		if err != nil {
			var se *latex.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Mask error of the wrong type: %v", err)
			}
			return
		}
		back, err := m.Unmask(m.Text)
		if err != nil {
			t.Fatalf("the masked text does not verify: %v\nsrc %q\nmasked %q", err, src, m.Text)
		}
		if back != src {
			t.Fatalf("mask→unmask changed the text\nsrc  %q\nback %q", src, back)
		}
		last := 0
		for _, sp := range m.Spans() {
			if sp.Start < last || sp.End <= sp.Start || sp.End > len(src) {
				t.Fatalf("bad span %+v", sp)
			}
			last = sp.End
		}
		if out, err := m.Unmask(answer); err == nil {
			// An accepted answer keeps every protected span.
			for _, sp := range m.Spans() {
				if !strings.Contains(out, src[sp.Start:sp.End]) {
					t.Fatalf("accepted answer lost span %q", src[sp.Start:sp.End])
				}
			}
		}
	})
}

// FuzzWordEdits: applying the edits to old always gives new exactly; edits
// are sorted, do not overlap and are not empty.
func FuzzWordEdits(f *testing.F) {
	for i, s := range seeds {
		f.Add(s, seeds[(i+1)%len(seeds)])
	}
	f.Add("the cat sat on the mat", "the dog sat on a mat")
	f.Add("é à ç", "e a c")
	f.Fuzz(func(t *testing.T, old, new string) {
		edits := latex.WordEdits(old, new)
		got, err := latex.ApplyEdits(old, edits)
		if err != nil || got != new {
			t.Fatalf("apply: %v\nold %q\nnew %q\ngot %q", err, old, new, got)
		}
		last := 0
		for _, e := range edits {
			if e.Start < last || e.End < e.Start {
				t.Fatalf("edits overlap or are out of order: %+v", edits)
			}
			if e.Start == e.End && e.NewText == "" {
				t.Fatalf("empty edit %+v", e)
			}
			last = e.End
		}
		if old == new && len(edits) != 0 {
			t.Fatalf("edits for identical texts: %+v", edits)
		}
	})
}

// FuzzDefinitions: definitions parsed from any text never make Mask panic
// nor break the round trip, and Verify of any answer (translation with a
// glossary) never panics.
func FuzzDefinitions(f *testing.F) {
	f.Add(`\newcommand{\todo}[1]{\textcolor{red}{#1}}\def\x#1#2{$#1$}\newenvironment{e}{\begin{align}}{\end{align}}`,
		`A \todo{b} \x{1}{2} \begin{e} x \end{e} apprentissage profond`, "Deep learning ⟦M1⟧")
	f.Add(`\let\a\emph\DeclareMathOperator*{\b}{b}\NewDocumentCommand{\c}{o m}{\textbf{#2}}`, `\a{x} \b \c[y]{z} r\'eseau`, "x")
	g := latex.NewGlossary([]latex.Term{{Source: "apprentissage profond", Target: "deep learning"}, {Source: "réseau", Keep: true}})
	f.Fuzz(func(t *testing.T, defs, src, answer string) {
		d := latex.ParseDefinitions(defs)
		m, err := latex.Mask(src, latex.Options{Definitions: d})
		if err != nil {
			return
		}
		back, err := m.Unmask(m.Text)
		if err != nil || back != src {
			t.Fatalf("round trip: %q, %v", back, err)
		}
		m, err = latex.Mask(src, latex.Options{Definitions: d, Translation: true, Glossary: g})
		if err != nil {
			t.Fatalf("masks without a glossary, not with one: %v", err)
		}
		_ = m.Verify(answer)
	})
}

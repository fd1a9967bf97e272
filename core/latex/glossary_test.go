package latex_test

import (
	"fmt"
	"strings"
	"testing"

	"timon.dev/timon/core/latex"
)

var terms = []latex.Term{
	{Source: "apprentissage profond", Target: "deep learning"},
	{Source: "réseau de neurones", Target: "neural network"},
	{Source: "PyTorch", Keep: true},
	{Source: "graphe", Target: "graph"},
	{Source: "état de l'art", Target: "state of the art"},
}

func TestGlossaryCheck(t *testing.T) {
	g := latex.NewGlossary(terms)
	src := `L'\emph{apprentissage profond} sur un R\'eseau de neurones, écrit avec PyTorch~\cite{x}.`
	m, err := latex.Mask(src, latex.Options{Translation: true, Glossary: g})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Terms(); len(got) != 3 || got[0].Source != "apprentissage profond" || got[2].Source != "PyTorch" {
		t.Fatalf("terms found: %+v", got)
	}
	for _, c := range []struct{ answer, says string }{
		{`\emph{Deep learning} on a neural network, written with PyTorch~⟦R1⟧.`, ""},
		{`\emph{Deep-Learning} on a Neural Network, written with \textsc{PyTorch}~⟦R1⟧.`, ""},
		{`\emph{Profound learning} on a neural network, written with PyTorch~⟦R1⟧.`, "'apprentissage profond' must be translated 'deep learning' (glossary)"},
		{`\emph{Deep learning} on a neural net, written with PyTorch~⟦R1⟧.`, "'réseau de neurones' must be translated 'neural network' (glossary)"},
		{`\emph{Deep learning} on a neural network, written with Torch~⟦R1⟧.`, "'PyTorch' must be kept as it is (glossary)"},
		{`\emph{Deep learnings} on a neural network, written with PyTorch~⟦R1⟧.`, "'deep learning'"},
	} {
		err := m.Verify(c.answer)
		if c.says == "" && err != nil || c.says != "" && (err == nil || !strings.Contains(err.Error(), c.says)) {
			t.Errorf("%q: %v, want %q", c.answer, err, c.says)
		}
	}
	// Only a translation is held to the glossary.
	m, _ = latex.Mask(src, latex.Options{Glossary: g})
	if len(m.Terms()) != 0 || m.Verify(strings.Replace(m.Text, "apprentissage profond", "apprentissage automatique", 1)) != nil {
		t.Fatal("a rewrite in the same language was held to the glossary")
	}
	// Word boundaries: "graphe" is not in "graphes" nor "paragraphe".
	m, _ = latex.Mask("Un paragraphe sur les graphes.", latex.Options{Translation: true, Glossary: g})
	if len(m.Terms()) != 0 {
		t.Fatalf("found %+v", m.Terms())
	}
	// Terms inside math or a citation are not prose: not required.
	m, _ = latex.Mask(`Soit $\text{graphe}$ \cite{graphe}.`, latex.Options{Translation: true, Glossary: g})
	if len(m.Terms()) != 0 {
		t.Fatalf("found in protected text: %+v", m.Terms())
	}
}

// glossary500 is a 500-term glossary of made-up technical terms, with the
// terms of the paragraph among them.
func glossary500() *latex.Glossary {
	ts := append([]latex.Term{}, terms...)
	for i := len(ts); i < 500; i++ {
		ts = append(ts, latex.Term{Source: fmt.Sprintf("terme technique numéro %d", i), Target: fmt.Sprintf("technical term number %d", i)})
	}
	return latex.NewGlossary(ts)
}

const glossaryParagraph = `L'\emph{apprentissage profond} a profondément transformé l'état de l'art en vision par ordinateur~\cite{lecun15}. Un réseau de neurones convolutif, entraîné avec PyTorch sur $N = 10^6$ images, atteint une précision de 95~\% sur le jeu de test (voir la figure~\ref{fig:acc}). Nous montrons que la structure du graphe de calcul influe sur la convergence, et que la régularisation proposée réduit le sur-apprentissage sans coût supplémentaire notable.`

const glossaryAnswer = `\emph{Deep learning} has deeply changed the state of the art in computer vision~⟦R1⟧. A convolutional neural network, trained with PyTorch on ⟦M2⟧ images, reaches an accuracy of 95~\% on the test set (see figure~⟦R3⟧). We show that the structure of the computation graph affects convergence, and that the proposed regularisation reduces overfitting at no notable extra cost.`

func TestGlossaryParagraph(t *testing.T) {
	m, err := latex.Mask(glossaryParagraph, latex.Options{Translation: true, Glossary: glossary500()})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Terms()) != 5 {
		t.Fatalf("terms: %+v", m.Terms())
	}
	if _, err := m.Unmask(glossaryAnswer); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkGlossaryCheck is the glossary's cost per rewrite (issue #19
// item 4): finding the terms of a 500-term glossary in a realistic
// paragraph and checking a translation against them, on top of Mask and
// Verify without a glossary (BenchmarkMaskVerifyUnmask).
func BenchmarkGlossaryCheck(b *testing.B) {
	g := glossary500()
	b.Run("with-500-terms", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m, err := latex.Mask(glossaryParagraph, latex.Options{Translation: true, Glossary: g})
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Verify(glossaryAnswer); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("without", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m, err := latex.Mask(glossaryParagraph, latex.Options{Translation: true})
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Verify(glossaryAnswer); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compile-500-terms", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			glossary500()
		}
	})
}

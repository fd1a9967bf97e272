package latex

import (
	"fmt"
	"testing"
)

// BenchmarkGlossaryOnly is the glossary's own work per rewrite: finding a
// 500-term glossary's terms in a paragraph's prose, then checking an
// answer against those found.
func BenchmarkGlossaryOnly(b *testing.B) {
	ts := []Term{{Source: "apprentissage profond", Target: "deep learning"}, {Source: "réseau de neurones", Target: "neural network"},
		{Source: "PyTorch", Keep: true}, {Source: "graphe", Target: "graph"}, {Source: "état de l'art", Target: "state of the art"}}
	for i := len(ts); i < 500; i++ {
		ts = append(ts, Term{Source: fmt.Sprintf("terme technique numéro %d", i), Target: fmt.Sprintf("technical term number %d", i)})
	}
	g := NewGlossary(ts)
	src := `L'\emph{apprentissage profond} a profondément transformé l'état de l'art en vision par ordinateur~⟦R1⟧. Un réseau de neurones convolutif, entraîné avec PyTorch sur ⟦M2⟧ images, atteint une précision de 95~\% sur le jeu de test (voir la figure~⟦R3⟧). Nous montrons que la structure du graphe de calcul influe sur la convergence, et que la régularisation proposée réduit le sur-apprentissage sans coût supplémentaire notable.`
	answer := `\emph{Deep learning} has deeply changed the state of the art in computer vision~⟦R1⟧. A convolutional neural network, trained with PyTorch on ⟦M2⟧ images, reaches an accuracy of 95~\% on the test set (see figure~⟦R3⟧). We show that the structure of the computation graph affects convergence, and that the proposed regularisation reduces overfitting at no notable extra cost.`
	b.ReportAllocs()
	for b.Loop() {
		found := g.find(src, -1)
		if len(found) != 5 {
			b.Fatal(found)
		}
		if err := g.checkTerms(found, answer); err != nil {
			b.Fatal(err)
		}
	}
}

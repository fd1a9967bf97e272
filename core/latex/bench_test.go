package latex_test

import (
	"testing"

	"timon.dev/timon/core/latex"
	"timon.dev/timon/core/latex/latextest"
)

// BenchmarkMaskVerifyUnmask: mask a corpus paragraph, then verify and
// restore a rewrite of it; reports bytes of LaTeX per second and the
// time per paragraph.
func BenchmarkMaskVerifyUnmask(b *testing.B) {
	ps := corpus(b)
	answers := make([]string, len(ps))
	size := 0
	for i, p := range ps {
		m, err := latex.Mask(p.Text, latex.Options{})
		if err != nil {
			b.Fatal(err)
		}
		answers[i] = latextest.RewriteWords(m.Text, 0)
		size += len(p.Text)
	}
	b.SetBytes(int64(size / len(ps)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(ps)
		m, err := latex.Mask(ps[k].Text, latex.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Unmask(answers[k]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/paragraph")
}

// BenchmarkWordEdits: the word-level diff between a corpus paragraph and
// its rewrite.
func BenchmarkWordEdits(b *testing.B) {
	ps := corpus(b)
	news := make([]string, len(ps))
	for i, p := range ps {
		m, err := latex.Mask(p.Text, latex.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if news[i], err = m.Unmask(latextest.RewriteWords(m.Text, 0)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	edits := 0
	for i := 0; i < b.N; i++ {
		k := i % len(ps)
		edits += len(latex.WordEdits(ps[k].Text, news[k]))
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/paragraph")
	b.ReportMetric(float64(edits)/float64(b.N), "edits/paragraph")
}

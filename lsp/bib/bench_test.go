package bib_test

import (
	"fmt"
	"strings"
	"testing"

	"timon.dev/timon/lsp/bib"
)

// BenchmarkParse parses a generated 10,000-entry file (macros, accents,
// abstracts), about 4 MB.
func BenchmarkParse(b *testing.B) {
	var s strings.Builder
	s.WriteString("@string{prl = {Physical Review Letters}}\n")
	for i := range 10000 {
		fmt.Fprintf(&s, "@article{key%d,\n  author = {Curie, Marie and B{\\'e}mont, Gustave and Other, C.},\n  title = {On the {radioactivity} of substance %d},\n  journal = prl # {, vol. %d},\n  year = %d,\n  abstract = {We study the decay spectrum of isotopes in a lattice, with a calibrated detector and careful estimates of the neutron field; the results agree with theory. %d},\n}\n\n", i, i, i%100, 1900+i%125, i)
	}
	src := s.String()
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for b.Loop() {
		if f := bib.Parse(src); len(f.Entries) != 10000 {
			b.Fatal(len(f.Entries))
		}
	}
}

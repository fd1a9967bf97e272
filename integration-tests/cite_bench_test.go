package integrationtests

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/lsp/bib"
	"timon.dev/timon/lsp/cite"
	"timon.dev/timon/lsp/lsptest"
)

var benchSurnames = strings.Fields(`Curie Joliot Fermi Meitner Bohr Dirac Noether Hopper Turing Lovelace Darwin Mendel Pasteur
	Lavoisier Ampère Fourier Laplace Poincaré Cauchy Galois Hilbert Gödel Schrödinger Heisenberg Pauli Born Planck Einstein
	Maxwell Faraday Kelvin Rutherford Chadwick Franklin Crick Watson McClintock Hodgkin Perutz Sanger Kornberg Lederberg
	Shannon Wiener Knuth Dijkstra Hoare Milner Lamport`)

var benchWords = strings.Fields(`radioactivity neutron decay isotope spectrum quantum field symmetry lattice protein genome
	sequence enzyme catalysis polymer crystal diffraction entropy network graph algorithm proof theorem manifold topology
	climate ocean glacier sediment carbon isotope ecology species population evolution inference estimator regression
	learning kernel sparse matrix tensor solver mesh turbulence plasma fusion laser photon detector calibration`)

// benchBib writes a realistic .bib of n entries (string macros, accents,
// abstracts) and returns its text and keys.
func benchBib(n int, seed uint64) (string, []string) {
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString("% generated for the benchmark\n@string{prl = {Physical Review Letters}}\n@string{crp = {Comptes rendus de l'Acad\\'emie des sciences}}\n\n")
	words := func(k int) string {
		w := make([]string, k)
		for i := range w {
			w[i] = benchWords[r.IntN(len(benchWords))]
		}
		return strings.Join(w, " ")
	}
	keys := make([]string, n)
	for i := range n {
		s := benchSurnames[r.IntN(len(benchSurnames))]
		year := 1900 + r.IntN(125)
		key := fmt.Sprintf("%s%d%c%d", strings.ToLower(strings.NewReplacer("è", "e", "é", "e", "ö", "o").Replace(s)), year, 'a'+rune(i%26), i)
		keys[i] = key
		venue := "journal = prl"
		if i%3 == 0 {
			venue = "journal = crp # {, t. " + fmt.Sprint(100+i%100) + "}"
		}
		fmt.Fprintf(&b, "@article{%s,\n  author = {%s, A. and B{\\'e}mont, G. and Other, C.},\n  title = {On the %s of {%s}},\n  %s,\n  year = %d,\n  abstract = {We study %s. %s.},\n}\n\n",
			key, s, words(4), words(1), venue, year, words(20), words(15))
	}
	return b.String(), keys
}

// BenchmarkLSPCitations measures, on the real timon lsp in local mode:
// the latency of citation key completion with a 10,000-entry .bib
// (p50/p99, warm, after the first request has read it; and the first
// request), the .bib parse time, and the prompt of "suggest citations"
// with 500 candidate entries (bytes, and tokens at fakellm's one token per
// 4 bytes), against sending every entry.
func BenchmarkLSPCitations(b *testing.B) {
	src, keys := benchBib(10000, 42)

	// Parse time, in-process.
	var parses []time.Duration
	for range 5 {
		t0 := time.Now()
		f := bib.Parse(src)
		parses = append(parses, time.Since(t0))
		if len(f.Entries) != 10000 || len(f.Problems) != 0 {
			b.Fatalf("%d entries, problems %v", len(f.Entries), f.Problems[:min(3, len(f.Problems))])
		}
	}
	sort.Slice(parses, func(i, j int) bool { return parses[i] < parses[j] })
	fmt.Printf("bib parse (10,000 entries, %.1f MB): median %.1f ms\n", float64(len(src))/(1<<20), ms(parses[2]))
	b.ReportMetric(ms(parses[2]), "parse-ms/10k")

	// Completion latency through the real binary.
	fake := fakellm.New()
	defer fake.Close()
	p := startBenchLSP(b, fake, lsptest.Neovim07)
	c := p.c
	ctx := ctxT(b)
	if err := os.WriteFile(filepath.Join(p.root, "refs.bib"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	prefixes := []string{"", "c", "cu", "curie19", "fer", "x", "hopper2", keys[5000][:6], keys[9999], "lamport1999"}
	var doc strings.Builder
	doc.WriteString("\\documentclass{article}\n\\addbibresource{refs.bib}\n\\begin{document}\n")
	var offs []int
	for _, pre := range prefixes {
		doc.WriteString("As shown \\citep[p.~2]{other," + pre)
		offs = append(offs, doc.Len())
		doc.WriteString("} here.\n")
	}
	doc.WriteString("\\end{document}\n")
	u := string(uri.File(filepath.Join(p.root, "paper.tex")))
	c.Open(u, "latex", doc.String())
	complete := func(i int) (time.Duration, int) {
		t0 := time.Now()
		var list protocol.CompletionList
		if err := c.Call(ctx, "textDocument/completion", map[string]any{
			"textDocument": map[string]any{"uri": u}, "position": c.Pos(u, offs[i%len(offs)]), "context": map[string]any{"triggerKind": 1},
		}, &list); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0), len(list.Items)
	}
	first, n := complete(0)
	if n == 0 {
		b.Fatal("no completion")
	}
	var lat []time.Duration
	const runs = 500
	for i := range runs {
		d, _ := complete(i)
		lat = append(lat, d)
	}
	p50, p99 := pct(lat, 50), pct(lat, 99)
	fmt.Printf("citation completion (10,000-entry .bib, %d completions): p50 %.2f ms, p99 %.2f ms; first (reads and parses the file) %.1f ms\n", runs, ms(p50), ms(p99), ms(first))
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(first), "first-ms")
	if fake.Count() != 0 {
		b.Fatal("citation completion asked the model")
	}

	// Suggest citations with 500 entries that all share words with the
	// passage: the prompt the model receives.
	src500, keys500 := benchBib(500, 7)
	if err := os.WriteFile(filepath.Join(p.root, "refs.bib"), []byte(src500), 0o644); err != nil {
		b.Fatal(err)
	}
	fake.Handle(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{Text: `{"keys": ["` + keys500[0] + `"]}`} })
	passage := "We measured the radioactivity of the isotope with a calibrated detector; the decay spectrum and the neutron field agree with the lattice model and its symmetry."
	t := string(uri.File(filepath.Join(p.root, "claim.tex")))
	c.Open(t, "latex", "\\addbibresource{refs.bib}\n\n"+passage+"\n")
	cur := strings.Index(c.Text(t), "measured")
	var acts []protocol.CodeAction
	if err := c.Call(ctx, "textDocument/codeAction", map[string]any{"textDocument": map[string]any{"uri": t}, "range": c.Range(t, cur, cur), "context": map[string]any{"diagnostics": []any{}}}, &acts); err != nil {
		b.Fatal(err)
	}
	var act protocol.CodeAction
	for _, a := range acts {
		if strings.Contains(a.Title, "Suggest citations") {
			act = a
		}
	}
	var resolved protocol.CodeAction
	if err := c.Call(ctx, "codeAction/resolve", &act, &resolved); err != nil || resolved.Edit == nil {
		b.Fatalf("resolve: %v %+v (messages %+v)", err, resolved, c.Messages())
	}
	reqs := fake.Requests()
	last := reqs[len(reqs)-1]
	bytes := 0
	for _, m := range last.Messages {
		bytes += len(m.Content)
	}
	_, entries, _ := strings.Cut(last.LastUser(), "<entries>\n")
	sent := strings.Count(entries, "\n") // one line per candidate
	all := 0
	f500 := bib.Parse(src500)
	for _, e := range f500.Entries {
		all += len(e.Key) + len(e.Authors()) + len(e.Year()) + len(e.Title()) + len(e.Field("abstract")) + 12
	}
	fmt.Printf("suggest citations (500 candidate entries): prompt %d bytes ≈ %d tokens, %d entries sent (max %d); all 500 unfiltered would be ≈ %d tokens\n",
		bytes, bytes/4, sent, cite.MaxCandidates, all/4)
	b.ReportMetric(float64(bytes/4), "prompt-tokens/500")
	p.shutdown(b)
}

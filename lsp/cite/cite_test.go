package cite_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/lsp/bib"
	"timon.dev/timon/lsp/cite"
)

const paper = `\documentclass{article}
\usepackage[style=authoryear]{biblatex}
\addbibresource{refs.bib}
\begin{document}
Radium was found in pitchblende \cite{curie1898}, and artificial
radioactivity later \citep[see][p.~2]{joliot1934, fermi1934}.
% \cite{commented} is not a citation
Starred \citet*{meitner1939} and \parencite[chap.~3]{solvay1939}
and \textcite{a}\autocite[][]{b,c} \nocite{*} \foo{x}.
\bibliography{other,more.bib}
\end{document}
`

func TestCitations(t *testing.T) {
	var got []string
	for _, a := range cite.Citations(paper) {
		var keys []string
		for _, k := range a.Keys {
			if paper[k.Start:k.End] != k.Text {
				t.Fatalf("key %q at wrong offsets", k.Text)
			}
			keys = append(keys, k.Text)
		}
		got = append(got, a.Command+":"+strings.Join(keys, ","))
	}
	want := "cite:curie1898 citep:joliot1934,fermi1934 citet:meitner1939 parencite:solvay1939 textcite:a autocite:b,c nocite:*"
	if strings.Join(got, " ") != want {
		t.Fatalf("citations\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	var res []string
	for _, r := range cite.Resources(paper) {
		res = append(res, r.Name)
	}
	if strings.Join(res, " ") != "refs.bib other.bib more.bib" {
		t.Fatalf("resources %v", res)
	}
}

func TestAt(t *testing.T) {
	cases := []struct {
		text   string // | marks the cursor
		ok     bool
		prefix string
	}{
		{`see \cite{cur|}`, true, "cur"},
		{`see \cite{|}`, true, ""},
		{`see \cite{a,|}`, true, ""},
		{`see \cite{a, jo|liot}`, true, "jo"},
		{`see \citep[p.~2]{fer|`, true, "fer"},
		{`see \parencite[see][]{x,|y}`, true, ""},
		{"see \\autocite*{a,\n  me|}", true, "me"},
		{`see \textcite{a} an|d`, false, ""},
		{`see \emph{cu|r}`, false, ""},
		{`% \cite{cu|r}`, false, ""},
		{`see \cite[cu|r]{a}`, false, ""},
		{`see \cite|{a}`, false, ""},
	}
	for _, c := range cases {
		off := strings.IndexByte(c.text, '|')
		text := c.text[:off] + c.text[off+1:]
		_, ks, ok := cite.At(text, off)
		if ok != c.ok || ok && text[ks:off] != c.prefix {
			t.Errorf("%q: ok %v prefix %q", c.text, ok, text[ks:off])
		}
	}
	text := `as \cite{alpha, beta}.`
	k, ok := cite.KeyAt(text, strings.Index(text, "eta"))
	if !ok || k.Text != "beta" || text[k.Start:k.End] != "beta" {
		t.Fatalf("KeyAt %+v %v", k, ok)
	}
}

func writeBib(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBibliographyFilesAndReload(t *testing.T) {
	root := t.TempDir()
	doc := filepath.Join(root, "paper", "main.tex")
	writeBib(t, filepath.Join(root, "paper", "refs.bib"), "@article{a, title={A}}")
	writeBib(t, filepath.Join(root, "shared", "more.bib"), "@article{b, title={B}}")
	writeBib(t, filepath.Join(root, "top.bib"), "@article{c, title={C}}")
	writeBib(t, filepath.Join(root, "deep", "down", "hidden.bib"), "@article{d, title={D}}")
	text := `\addbibresource{refs.bib}\bibliography{shared/more,missing}\addbibresource[location=remote]{https://example.org/x.bib}`
	lib := cite.NewLibrary(nil)
	set, errs := lib.Bibliography(doc, text, []string{root})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	for _, k := range []string{"a", "b", "c"} {
		if _, ok := set.Lookup(k); !ok {
			t.Errorf("%s not found in %v", k, set.Paths)
		}
	}
	if _, ok := set.Lookup("d"); ok {
		t.Error("subdirectories are not searched")
	}
	if len(set.Missing) != 1 || set.Missing[0].Name != "missing.bib" || text[set.Missing[0].Start:set.Missing[0].End] != "missing" {
		t.Fatalf("missing %+v", set.Missing)
	}
	// Parsed once while unchanged; read again when changed.
	first, _ := lib.Load(filepath.Join(root, "paper", "refs.bib"))
	again, _ := lib.Load(filepath.Join(root, "paper", "refs.bib"))
	if first != again {
		t.Fatal("an unchanged file was parsed again")
	}
	path := filepath.Join(root, "paper", "refs.bib")
	writeBib(t, path, "@article{a, title={A}}\n@article{a2, title={A2}}")
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	set, _ = lib.Bibliography(doc, text, []string{root})
	if _, ok := set.Lookup("a2"); !ok {
		t.Fatal("a changed file was not read again")
	}
	// An open buffer wins over the disk.
	lib = cite.NewLibrary(func(p string) (string, int32, bool) {
		if p == path {
			return "@article{unsaved, title={U}}", 3, true
		}
		return "", 0, false
	})
	set, _ = lib.Bibliography(doc, text, []string{root})
	if _, ok := set.Lookup("unsaved"); !ok {
		t.Fatal("the open buffer was not used")
	}
}

func setOf(src string) *cite.Set {
	return &cite.Set{Paths: []string{"refs.bib"}, Files: []*bib.File{bib.Parse(src)}}
}

const refs = `
@article{curie1898, author={Curie, Marie}, title={On a new radioactive substance contained in pitchblende}, year=1898,
  abstract={Radium and polonium separated from uranium ore.}}
@article{darwin1859, author={Darwin, Charles}, title={On the origin of species}, year=1859}
@article{fermi1934, author={Fermi, Enrico}, title={Radioactivity induced by neutron bombardment}, year=1934, keywords={neutron, radioactivity}}
@article{knuth1984, author={Knuth, Donald}, title={Literate programming}, year=1984}
`

func TestRank(t *testing.T) {
	set := setOf(refs)
	got := cite.Rank(set, `Neutron bombardment induces radioactivity $x^2$ \emph{in} pitchblende.`, 10)
	var keys []string
	for _, e := range got {
		keys = append(keys, e.Key)
	}
	if strings.Join(keys, " ") != "fermi1934 curie1898" {
		t.Fatalf("ranked %v", keys)
	}
	if got := cite.Rank(set, "nothing in common here whatsoever", 10); len(got) != 0 {
		t.Fatalf("no overlap: %v", got)
	}
}

func TestKeysAreCheckedAgainstTheBibliography(t *testing.T) {
	set := setOf(refs)
	keys, invented, err := cite.Keys("```json\n{\"keys\": [\"fermi1934\", \"smith2020\", \"fermi1934\", 7, \"curie1898\"]}\n```", set)
	if err != nil || strings.Join(keys, ",") != "fermi1934,curie1898" || invented != 2 {
		t.Fatalf("keys %v invented %d err %v", keys, invented, err)
	}
	for _, bad := range []string{"fermi1934", `{"key": "fermi1934"}`, `{"keys": "fermi1934"}`, `{"keys": null}`, ""} {
		if _, _, err := cite.Keys(bad, set); core.ErrorKind(err) != core.KindOutputRejected {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if keys, _, err := cite.Keys(`{"keys": []}`, set); err != nil || len(keys) != 0 {
		t.Fatalf("none: %v %v", keys, err)
	}
}

func TestInsertion(t *testing.T) {
	cases := map[string]string{
		"A claim.":        "A claim~\\cite{k}.",
		"A claim. \n":     "A claim~\\cite{k}. \n",
		"A claim":         "A claim~\\cite{k}",
		"Is it so?":       "Is it so~\\cite{k}?",
		"A claim .":       "A claim~\\cite{k} .", // French spacing before the stop
		"Trailing space ": "Trailing space~\\cite{k} ",
	}
	for in, want := range cases {
		off := cite.InsertAt(in, 0, len(in))
		got := in[:off] + cite.Citation(in, off, []string{"k"}) + in[off:]
		if got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestRequestStaysWithinBudget(t *testing.T) {
	var b strings.Builder
	for i := range 500 {
		b.WriteString("@article{k" + strings.Repeat("x", 3) + string(rune('a'+i%26)) + itoa(i) + ", author={A and B and C}, title={Radioactivity study " + itoa(i) + "}, year=2000, abstract={" + strings.Repeat("radioactivity measured carefully ", 40) + "}}\n")
	}
	set := setOf(b.String())
	cands := cite.Rank(set, "radioactivity study", cite.MaxCandidates)
	if len(cands) != cite.MaxCandidates {
		t.Fatalf("%d candidates", len(cands))
	}
	req, n := cite.Request("Radioactivity ⟦M1⟧ study.", cands, core.Origin{}, core.Principal{UserID: "u", Integration: core.IntegrationLSP})
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	size := 0
	for _, m := range req.Messages {
		size += len(m.Content)
	}
	if n == 0 || n > cite.MaxCandidates || size > cite.MaxCandidateBytes+3000 || req.ResponseFormat == nil {
		t.Fatalf("%d candidates, %d bytes", n, size)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}

package bib_test

import (
	"os"
	"strings"
	"testing"

	"timon.dev/timon/lsp/bib"
)

func TestParseRealWorldFile(t *testing.T) {
	src, err := os.ReadFile("testdata/real.bib")
	if err != nil {
		t.Fatal(err)
	}
	f := bib.Parse(string(src))
	var keys []string
	for _, e := range f.Entries {
		keys = append(keys, e.Key)
	}
	want := []string{"curie1898", "joliot1934", "meitner1939", "solvay1939", "schrodinger1944", "ostrom2009", "fermi1934", "hal2021"}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Fatalf("keys %v, want %v (problems %v)", keys, want, f.Problems)
	}

	// Malformed entries are reported with their line, and skipped.
	lines := map[int]string{}
	for _, p := range f.Problems {
		lines[p.Line] = p.Message
	}
	wantProblems := map[int]string{
		lineOf(t, src, "@article{broken1950"):          "is not closed before the next @",
		lineOf(t, src, "@article{bad key with spaces"): "citation key",
		lineOf(t, src, "journal = nosuchjournal"):      `undefined @string macro "nosuchjournal"`,
		lineOf(t, src, "@article{fermi1934,\n  title"): `duplicate key "fermi1934"`,
	}
	for line, says := range wantProblems {
		if !strings.Contains(lines[line], says) {
			t.Errorf("line %d: problem %q, want one saying %q (all: %v)", line, lines[line], says, f.Problems)
		}
	}
	if len(f.Problems) != len(wantProblems) {
		t.Errorf("problems %v", f.Problems)
	}

	check := func(key, field, want string) {
		t.Helper()
		e, ok := f.Lookup(key)
		if !ok {
			t.Fatalf("%s missing", key)
		}
		var got string
		switch field {
		case "authors":
			got = e.Authors()
		case "year":
			got = e.Year()
		case "venue":
			got = e.Venue()
		case "type":
			got = e.Type
		default:
			got = e.Field(field)
		}
		if got != want {
			t.Errorf("%s %s: %q, want %q", key, field, got, want)
		}
	}
	// Macros, numbers, month macros, dashes, multi-line values.
	check("curie1898", "journal", "Comptes rendus hebdomadaires des séances de l'Académie des sciences")
	check("curie1898", "authors", "Curie et al.")
	check("curie1898", "year", "1898")
	check("curie1898", "month", "December")
	check("curie1898", "pages", "1215–1217")
	check("curie1898", "abstract", "The authors announce a new element, radium, strongly radioactive, found in pitchblende after polonium.")
	// Concatenation, quoted values, accents in both forms, case of names.
	check("joliot1934", "journal", "Comptes rendus hebdomadaires des séances de l'Académie des sciences, t. 198")
	check("joliot1934", "authors", "Joliot, Curie")
	check("joliot1934", "title", "Un nouveau type de radioactivité")
	check("joliot1934", "doi", "10.1234/crp.198.254")
	check("joliot1934", "type", "article")
	// Crossref: the proceedings' fields, its title as booktitle.
	check("meitner1939", "year", "1939")
	check("meitner1939", "venue", "Proceedings of the Solvay Conference on Nuclear Physics")
	check("meitner1939", "authors", "Meitner, Frisch")
	check("solvay1939", "authors", "Bohr et al.")
	// BibLaTeX date, an @ inside a value, \"{o}.
	check("schrodinger1944", "year", "1944")
	check("schrodinger1944", "authors", "Schrödinger")
	check("schrodinger1944", "note", "Write to library@example.org for the scanned copy")
	// Letters (\O, \ss), nested accents, von parts, formatting commands.
	check("ostrom2009", "authors", "Østrom et al.")
	check("ostrom2009", "title", "A General Framework for Analyzing Sustainability — of Social-Ecological Systems")
	check("ostrom2009", "abstract", "We study commons & institutions: 50% of cases, in situ.")
	// The first of two fields with one name is kept.
	check("fermi1934", "journal", "Nature")
	check("hal2021", "title", "Étude des déchets radioactifs en France")
	check("hal2021", "authors", "Dupont, Müller")
	check("hal2021", "venue", "HAL")
	check("hal2021", "year", "2021")
}

func lineOf(t *testing.T, src []byte, s string) int {
	t.Helper()
	i := strings.Index(string(src), s)
	if i < 0 {
		t.Fatalf("%q not in the fixture", s)
	}
	return strings.Count(string(src[:i]), "\n") + 1
}

func TestNames(t *testing.T) {
	ostrom := "{\\O}strom, Elinor and {van der Waals}, Johannes and Stra{\\ss}er, J{\\\"u}rgen and Ga{\\v{s}}parovi{\\'c}, Nata{\\v s}a"
	names := bib.SplitNames(ostrom)
	var fam []string
	for _, n := range names {
		fam = append(fam, bib.Family(n))
	}
	if got := strings.Join(fam, "|"); got != "Østrom|van der Waals|Straßer|Gašparović" {
		t.Errorf("families %q", got)
	}
	cases := map[string]string{
		"Marie Curie":                          "Curie",
		"Ludwig van Beethoven":                 "van Beethoven",
		"{Barnes and Noble}":                   "Barnes and Noble",
		"Curie, Marie and Joliot, Irène":       "Curie, Joliot",
		"A. Author and B. Brown and C. Cooper": "Author et al.",
		"A. Author and others":                 "Author et al.",
		"Jean de La Fontaine":                  "de La Fontaine",
		"":                                     "",
	}
	for in, want := range cases {
		if got := bib.ShortNames(in); got != want {
			t.Errorf("ShortNames(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestText(t *testing.T) {
	cases := map[string]string{
		`{\'e}t{\'e}`:          "été",
		`\'{e}t\'e`:            "été",
		`\"{o}\"o{\"o}`:        "ööö",
		`\c{c}\c c`:            "çç",
		`\'\i`:                 "í",
		`\^{\i}le`:             "île",
		`Erd\H{o}s`:            "Erdős",
		`\k{a}\r{u}\v{Z}`:      "ąůŽ",
		`T\~{a}o`:              "Tão",
		`\~n`:                  "ñ",
		`Stra\ss e`:            "Straße",
		`{\AE}sop \oe uvre`:    "Æsop œuvre",
		`\textbf{Bold} \& Co.`: "Bold & Co.",
		`a~b`:                  "a b",
		`$\alpha$-decay`:       "α-decay",
		"  many \n spaces ":    "many spaces",
		`\'y\'Y\u{g}`:          "ýÝğ",
		`\d{a}`:                "a\u0323",
	}
	for in, want := range cases {
		if got := bib.Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

// A file that is nothing but problems still parses the rest, and never
// panics on truncated input.
func TestParseNeverFails(t *testing.T) {
	src, err := os.ReadFile("testdata/real.bib")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= len(src); i += 7 {
		bib.Parse(string(src[:i]))
	}
	f := bib.Parse("@article{a, title={x}\n@article{b, title={y}}\n@article{c,\n title = {z}")
	if len(f.Entries) != 1 || f.Entries[0].Key != "b" || len(f.Problems) != 2 {
		t.Fatalf("entries %v problems %v", f.Entries, f.Problems)
	}
	if f.Problems[0].Line != 1 || f.Problems[1].Line != 3 || !strings.Contains(f.Problems[1].Message, "never closed") {
		t.Fatalf("lines %v", f.Problems)
	}
	f = bib.Parse("@article{x, title={abc\n  @article{y, title={ok}}")
	if len(f.Entries) != 1 || f.Entries[0].Key != "y" || len(f.Problems) != 1 || !strings.Contains(f.Problems[0].Message, "unbalanced") {
		t.Fatalf("entries %v problems %v", f.Entries, f.Problems)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("@article{a, author={B{\\'e}mont, G.}, title = x # {y}, year=1}")
	f.Add("@string{x = \"a\"} @book(k, title=x)")
	f.Fuzz(func(t *testing.T, s string) {
		file := bib.Parse(s)
		for _, e := range file.Entries {
			_ = e.Authors()
			_ = e.Year()
		}
	})
}

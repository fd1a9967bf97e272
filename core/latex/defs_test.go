package latex_test

import (
	"os"
	"strings"
	"testing"

	"timon.dev/timon/core/latex"
	"timon.dev/timon/core/latex/latextest"
)

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/preambles/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestParseDefinitionsRealPreamble: a thesis preamble and its local .sty:
// each macro and environment gets its role from its body.
func TestParseDefinitionsRealPreamble(t *testing.T) {
	d := latex.ParseDefinitions(readFixture(t, "mystyle.sty"))
	d.Merge(latex.ParseDefinitions(readFixture(t, "thesis.tex"), d))
	macros := map[string]latex.Def{
		"R":              {Role: latex.RoleMath},
		"abs":            {Role: latex.RoleMath, Args: 1},
		"norm":           {Role: latex.RoleMath, Args: 2, Optional: true},
		"Tr":             {Role: latex.RoleMath},
		"argmin":         {Role: latex.RoleMath},
		"todo":           {Role: latex.RoleProse, Args: 1},
		"mot":            {Role: latex.RoleProse, Args: 1},
		"figref":         {Role: latex.RoleRef, Args: 1},
		"thmref":         {Role: latex.RoleRef, Args: 1},
		"etal":           {Role: latex.RoleProtected},
		"keyword":        {Role: latex.RoleRef, Args: 1}, // \index{#1}: not prose
		"vec":            {Role: latex.RoleMath, Args: 1},
		"eps":            {Role: latex.RoleMath},
		"pair":           {Role: latex.RoleMath, Args: 2},
		"note":           {Role: latex.RoleProse, Args: 1},
		"oldemph":        {Role: latex.RoleProse, Args: 1},
		"defn":           {Role: latex.RoleProse, Args: 1},
		"Prob":           {Role: latex.RoleMath},
		"cad":            {Role: latex.RoleProtected},
		"citeauthoryear": {Role: latex.RoleRef, Args: 1},
		"important":      {Role: latex.RoleProse, Args: 1},
	}
	for name, want := range macros {
		if got, ok := d.Macros[name]; !ok || got != want {
			t.Errorf(`\%s: got %+v (found %v), want %+v`, name, got, ok, want)
		}
	}
	envs := map[string]latex.Role{"theorem": latex.RoleProse, "lemma": latex.RoleProse, "remarque": latex.RoleProse,
		"bigeq": latex.RoleMath, "schema": latex.RoleProtected, "proof": latex.RoleProse, "algo": latex.RoleProtected}
	for name, want := range envs {
		if got, ok := d.Envs[name]; !ok || got.Role != want {
			t.Errorf("environment %s: got %+v (found %v), want role %v", name, got, ok, want)
		}
	}
}

func TestParseDefinitionsEdgeCases(t *testing.T) {
	for _, c := range []struct {
		src, name string
		want      latex.Def
		env       bool
	}{
		{`% \newcommand{\hidden}[1]{\textbf{#1}}` + "\n" + `\newcommand{\shown}{x}`, "shown", latex.Def{}, false},
		{`\newcommand\foo[3]{#1 \cite{#2} #3}`, "foo", latex.Def{Role: latex.RoleRef, Args: 3}, false},
		{`\def\bar(#1,#2){\textbf{#1}}`, "bar", latex.Def{Role: latex.RoleProtected, Args: 2}, false},
		{`\let\myref=\ref`, "myref", latex.Def{Role: latex.RoleRef, Args: 1}, false},
		{`\newcommand{\ie}{i.e.,\ }`, "ie", latex.Def{}, false},
		{`\newcommand{\vu}[1]{$\vec{#1}$}`, "vu", latex.Def{Role: latex.RoleMath, Args: 1}, false},
		{`\newenvironment{myalign}{\begin{align*}}{\end{align*}}`, "myalign", latex.Def{Role: latex.RoleMath}, true},
		{`\newenvironment{liste}{\begin{itemize}}{\end{itemize}}`, "liste", latex.Def{Role: latex.RoleProse}, true},
		{`\NewDocumentEnvironment{tab}{O{c}}{\begin{tabular}{#1}}{\end{tabular}}`, "tab", latex.Def{Role: latex.RoleProtected, Args: 1, Optional: true}, true},
	} {
		d := latex.ParseDefinitions(c.src)
		got, ok := d.Macros[c.name]
		if c.env {
			got, ok = d.Envs[c.name]
		}
		if !ok || got != c.want {
			t.Errorf("%s: %s: got %+v (found %v), want %+v", c.src, c.name, got, ok, c.want)
		}
	}
	if d := latex.ParseDefinitions(`% \newcommand{\hidden}{x}`); d.Len() != 0 {
		t.Errorf("a commented definition was read: %+v", d)
	}
	// Broken input never panics nor fails.
	for _, src := range []string{`\newcommand`, `\newcommand{\x}[`, `\def\x#1{`, `\newenvironment{x}{\begin{`, `\let\x`} {
		latex.ParseDefinitions(src)
	}
}

// TestMaskWithDefinitions: with the preamble's definitions, prose macros'
// arguments reach the model as prose, protected ones (and exactly their
// arguments) do not.
func TestMaskWithDefinitions(t *testing.T) {
	d := latex.ParseDefinitions(readFixture(t, "mystyle.sty"))
	d.Merge(latex.ParseDefinitions(readFixture(t, "thesis.tex"), d))
	o := latex.Options{Definitions: d}
	for _, c := range []struct{ src, want string }{
		{`As \figref{conv} shows, \todo{check the constant} the bound holds.`,
			`As ⟦R1⟧ shows, \todo{check the constant} the bound holds.`},
		{`The \mot{mesure} of \R is infinite, \cad unbounded.`,
			`The \mot{mesure} of ⟦M1⟧ is infinite, ⟦C2⟧ unbounded.`},
		{`By \keyword{compactness} and \thmref{main}, we conclude.`,
			`By ⟦R1⟧ and ⟦R2⟧, we conclude.`},
		{`Smith \etal{} {\bf proved} it; see \citeauthoryear{smith}.`,
			`Smith ⟦C1⟧ {\bf proved} it; see ⟦R2⟧.`},
		{"Then\n\\begin{bigeq} a &= b \\\\ c &= d \\end{bigeq}\nholds, as \\important{noted}.",
			"Then\n⟦M1⟧\nholds, as \\important{noted}."},
		{"\\begin{remarque} This is \\defn{clear}. \\end{remarque}",
			"⟦C1⟧ This is \\defn{clear}. ⟦C2⟧"},
		{"\\begin{schema}[scale=2] \\draw (0,0) -- (1,1); \\end{schema} Done.",
			"⟦C1⟧ Done."},
	} {
		m, err := latex.Mask(c.src, o)
		if err != nil {
			t.Fatalf("%q: %v", c.src, err)
		}
		if m.Text != c.want {
			t.Errorf("%q:\n got %q\nwant %q", c.src, m.Text, c.want)
		}
		if back, err := m.Unmask(m.Text); err != nil || back != c.src {
			t.Errorf("%q: round trip: %q, %v", c.src, back, err)
		}
	}
	// Without the definitions, \todo's argument is protected (guessed).
	m, _ := latex.Mask(`See \todo{check the constant} here.`, latex.Options{})
	if strings.Contains(m.Text, "constant") {
		t.Fatalf("without definitions: %q", m.Text)
	}
}

// TestDefinedProseMacroKeptByTheCheck: a user's prose macro must keep its
// braces and its words; dropping it is refused.
func TestDefinedProseMacroKeptByTheCheck(t *testing.T) {
	d := latex.ParseDefinitions(`\newcommand{\mot}[1]{\emph{#1}}`)
	m, err := latex.Mask(`Le \mot{graphe} est connexe.`, latex.Options{Definitions: d})
	if err != nil {
		t.Fatal(err)
	}
	for answer, says := range map[string]string{
		`The \mot{graph} is connected.`: "",
		`The graph is connected.`:       `drops a \mot`,
		`The \mot graph is connected.`:  `\mot lost the braces`,
		`The \mot{} is connected.`:      `\mot lost its text`,
	} {
		err := m.Verify(answer)
		if says == "" && err != nil || says != "" && (err == nil || !strings.Contains(err.Error(), says)) {
			t.Errorf("%q: %v, want %q", answer, err, says)
		}
	}
}

// TestCorpusWithDefinitions: the corpus still round-trips with a real
// preamble's definitions, and a rewrite keeping placeholders verifies.
func TestCorpusWithDefinitions(t *testing.T) {
	d := latex.ParseDefinitions(readFixture(t, "thesis.tex"))
	for _, p := range corpus(t) {
		m, err := latex.Mask(p.Text, latex.Options{Definitions: d})
		if err != nil {
			t.Fatalf("%s: %v", p.ID, err)
		}
		if back, err := m.Unmask(m.Text); err != nil || back != p.Text {
			t.Fatalf("%s: round trip: %v", p.ID, err)
		}
		if _, err := m.Unmask(latextest.RewriteWords(m.Text, 1)); err != nil {
			t.Errorf("%s: %v", p.ID, err)
		}
	}
}

package latex_test

import (
	"errors"
	"strings"
	"testing"

	"timon.dev/timon/core/latex"
)

// TestMaskConstructs: what the model sees for each construct, and that it
// comes back byte for byte.
func TestMaskConstructs(t *testing.T) {
	cases := []struct {
		name, src, want string
		o               latex.Options
	}{
		{name: "inline math", src: `Let $x_1 + \{y\}$ be given and \(a^2\) too.`, want: `Let ⟦M1⟧ be given and ⟦M2⟧ too.`},
		{name: "dollar in \\text", src: `So $a \text{ if $b$ holds}$ here.`, want: `So ⟦M1⟧ here.`},
		{name: "display math", src: "We have\n$$a=b$$\nand\n\\[ c = d \\]\nso.", want: "We have\n⟦M1⟧\nand\n⟦M2⟧\nso."},
		{name: "math environments", src: "Then\n\\begin{equation}\\label{eq:x}\n a=b % why\n\\end{equation}\nand \\begin{align*}x&=1\\\\ y&=2\\end{align*} ok.",
			want: "Then\n⟦M1⟧\nand ⟦M2⟧ ok."},
		{name: "citations and references", src: `As shown~\cite[p.~3]{knuth84,lamport94} in Section~\ref{sec:a}, Eq.~\eqref{eq:b}, \cref{x} and \Cref{y} (see \autoref{z}, page \pageref{w}).`,
			want: `As shown~⟦R1⟧ in Section~⟦R2⟧, Eq.~⟦R3⟧, ⟦R4⟧ and ⟦R5⟧ (see ⟦R6⟧, page ⟦R7⟧).`},
		{name: "citation variants", src: `Per \textcite{a}, \citep{b}; \autocite[Compare][p.\,940]{c}.`, want: `Per ⟦R1⟧, ⟦R2⟧; ⟦R3⟧.`},
		{name: "labels, urls, inputs", src: "A\\label{l:1} and \\url{http://x.org/a%20b#c} and \\href{http://y.org/?q=1%}{the site}.\n\\input{chapter1}",
			want: "A⟦R1⟧ and ⟦R2⟧ and ⟦R3⟧.\n⟦R4⟧"},
		{name: "environments and items", src: "\\begin{itemize}\n  \\item[a)] First one.\n  \\item Second.\n\\end{itemize}",
			want: "⟦C1⟧ First one.\n  ⟦C2⟧ Second.\n⟦C3⟧"},
		{name: "environment with arguments", src: "\\begin{proof}[of \\ref{t}]\nClear.\n\\end{proof}", want: "⟦C1⟧\nClear.\n⟦C2⟧"},
		{name: "prose commands stay visible", src: `An \emph{important} point\footnote{See the \textbf{appendix}.} here.`,
			want: `An \emph{important} point\footnote{See the \textbf{appendix}.} here.`},
		{name: "sectioning", src: `\section[Short]{A long title}` + "\nText.", want: `\section[Short]{A long title}` + "\nText."},
		{name: "other commands protected with arguments", src: `The \ac{SFS} method~\includegraphics[width=3cm]{fig} uses \Rr and \idx{routage}.`,
			want: `The ⟦C1⟧ method~⟦C2⟧ uses ⟦C3⟧ and ⟦C4⟧.`},
		{name: "custom macros", src: `See \myref {a} and !!{sentence}s, !!a{formula}.`, o: latex.Options{Macros: []string{"myref", "!!"}},
			want: `See ⟦C1⟧ and ⟦C2⟧s, ⟦C3⟧.`},
		{name: "prose macros", src: `Une \defi{substitution} est \idx{utile}.`, o: latex.Options{ProseMacros: []string{"defi"}},
			want: `Une \defi{substitution} est ⟦C1⟧.`},
		{name: "a prose command named as a macro is protected", src: `Text\footnote{note}.`, o: latex.Options{Macros: []string{`\footnote`}},
			want: `Text⟦C1⟧.`},
		{name: "comments", src: "Text% a note\nmore % another\n% full line\nend.", want: "Text⟦X1⟧\nmore ⟦X2⟧\nend."},
		{name: "comments kept", src: "Text% a note\nmore.", o: latex.Options{KeepComments: true}, want: "Text% a note\nmore."},
		{name: "verbatim", src: "Code:\n\\begin{verbatim}\n{ unbalanced $ % \\end{itemize}\n\\end{verbatim}\nand \\verb|x{$%| and \\lstinline{a_b} and \\texttt{c_d}.",
			want: "Code:\n⟦V1⟧\nand ⟦V2⟧ and ⟦V3⟧ and ⟦V4⟧."},
		{name: "listings and minted", src: "\\begin{lstlisting}[language=Go]\nfunc f() {\n\\end{lstlisting}\nthen \\begin{minted}{python}\nx = {\n\\end{minted}",
			want: "⟦V1⟧\nthen ⟦V2⟧"},
		{name: "tables and pictures", src: "\\begin{tabular}{ll}\na & b \\\\\n\\end{tabular}\nand \\begin{tikzpicture}\\draw (0,0);\\end{tikzpicture}.",
			want: "⟦C1⟧\nand ⟦C2⟧."},
		{name: "line breaks", src: "First\\\\\nSecond\\\\[2pt]\nThird", want: "First⟦C1⟧\nSecond⟦C2⟧\nThird"},
		{name: "adjacent constructs share a placeholder", src: "\\cite{a}\\cite{b}, and\n\\begin{itemize}\n\\item One.", want: "⟦R1⟧, and\n⟦C2⟧ One."},
		{name: "escapes stay visible", src: `It costs 5\,\% or \$3, R\&D, a\_b, \#1, \{x\}.`, want: `It costs 5\,\% or \$3, R\&D, a\_b, \#1, \{x\}.`},
		{name: "nested braces", src: `A \emph{b {c {d}} e} \foo{x{y{z}}}{w} f.`, want: `A \emph{b {c {d}} e} ⟦C1⟧ f.`},
		{name: "French typography", src: "Il dit \\og bonjour\\fg{} : «\u00a0salut\u00a0» ; 15~\\% et 5\\,m ! L'\\oe uvre de G\\\"odel.",
			want: "Il dit \\og bonjour\\fg{} : «\u00a0salut\u00a0» ; 15~\\% et 5\\,m ! L'\\oe uvre de G\\\"odel."},
		{name: "placeholder brackets in the source", src: `Semantic brackets ⟦x⟧ here.`, want: `Semantic brackets ⟦C1⟧x⟦C2⟧ here.`},
		{name: "white space around", src: "\n  Text $x$.  \n", want: "\n  Text ⟦M1⟧.  \n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := latex.Mask(c.src, c.o)
			if err != nil {
				t.Fatal(err)
			}
			if m.Text != c.want {
				t.Fatalf("masked:\n%s\nwant:\n%s", m.Text, c.want)
			}
			back, err := m.Unmask(m.Text)
			if err != nil || back != c.src {
				t.Fatalf("unmask: %v\n%q\nwant\n%q", err, back, c.src)
			}
			for _, sp := range m.Spans() {
				if sp.Placeholder != "" && !strings.Contains(m.Text, sp.Placeholder) {
					t.Fatalf("span %+v has no placeholder in the text", sp)
				}
			}
		})
	}
}

func TestMaskRefusesWhatItCannotParse(t *testing.T) {
	cases := []struct{ src, says string }{
		{"A { never closed.", "never closed"},
		{"A } too many.", "closes no {"},
		{"Math $x + y never closed.", "never closed"},
		{"Math $x\n\ny$ across a paragraph.", "end of the paragraph"},
		{"\\[ x = y", "never closed"},
		{"\\begin{equation} x", "equation environment is never closed"},
		{"\\begin{verbatim} x", "verbatim environment is never closed"},
		{"\\verb|x", "not closed on its line"},
		{"\\begin x", "not followed by {name}"},
		{"\\emph{a", "never closed"},
	}
	for _, c := range cases {
		_, err := latex.Mask(c.src, latex.Options{})
		var se *latex.SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), c.says) || se.Line < 1 {
			t.Errorf("%q: got %v, want a syntax error saying %q", c.src, err, c.says)
		}
	}
	_, err := latex.Mask("one\ntwo\nthree }", latex.Options{})
	if se := (*latex.SyntaxError)(nil); !errors.As(err, &se) || se.Line != 3 {
		t.Errorf("line of the error: %v", err)
	}
}

// verifyCase is a masked source, an answer, and what Verify must say ("" =
// accept).
type verifyCase struct {
	name, src, answer, says string
	o                       latex.Options
}

func runVerify(t *testing.T, cases []verifyCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := latex.Mask(c.src, c.o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Unmask(c.answer)
			if c.says == "" {
				if err != nil {
					t.Fatalf("refused: %v\nmasked: %s", err, m.Text)
				}
				if m.Verify(c.answer) != nil {
					t.Fatal("Verify and Unmask disagree")
				}
				return
			}
			var ve *latex.VerifyError
			if !errors.As(err, &ve) || got != "" {
				t.Fatalf("accepted (%q), want a refusal saying %q\nmasked: %s", got, c.says, m.Text)
			}
			if !strings.Contains(ve.Reason, c.says) {
				t.Fatalf("reason %q does not say %q", ve.Reason, c.says)
			}
			if err := m.Verify(c.answer); err == nil || err.Error() != ve.Error() {
				t.Fatalf("Verify says %v, Unmask %v", err, ve)
			}
		})
	}
}

func TestVerifyPlaceholders(t *testing.T) {
	src := "\\begin{itemize}\n\\item Let $x$ and $y$ be reals~\\cite{k}.\n\\item Then $z$.\n\\end{itemize}"
	// masked: ⟦C1⟧ Let ⟦M2⟧ and ⟦M3⟧ be reals~⟦R4⟧.\n⟦C5⟧ Then ⟦M6⟧.\n⟦C7⟧
	runVerify(t, []verifyCase{
		{name: "kept", src: src, answer: "⟦C1⟧ Let ⟦M2⟧ and ⟦M3⟧ be real numbers~⟦R4⟧.\n⟦C5⟧ Hence ⟦M6⟧.\n⟦C7⟧"},
		{name: "inline reordered within its item", src: src, answer: "⟦C1⟧ Let ⟦M3⟧ and ⟦M2⟧ be reals~⟦R4⟧.\n⟦C5⟧ Then ⟦M6⟧.\n⟦C7⟧"},
		{name: "dropped", src: src, answer: "⟦C1⟧ Let ⟦M2⟧ be reals~⟦R4⟧.\n⟦C5⟧ Then ⟦M6⟧.\n⟦C7⟧", says: "placeholder ⟦M3⟧ was dropped"},
		{name: "duplicated", src: src, answer: "⟦C1⟧ Let ⟦M2⟧ and ⟦M3⟧ be reals~⟦R4⟧ ⟦R4⟧.\n⟦C5⟧ Then ⟦M6⟧.\n⟦C7⟧", says: "placeholder ⟦R4⟧ was duplicated"},
		{name: "altered letter", src: src, answer: "⟦C1⟧ Let ⟦M2⟧ and ⟦M3⟧ be reals~⟦M4⟧.\n⟦C5⟧ Then ⟦M6⟧.\n⟦C7⟧", says: "placeholder ⟦R4⟧ was altered"},
		{name: "altered spacing", src: src, answer: "⟦C1⟧ Let ⟦M2⟧ and ⟦ M3 ⟧ be reals~⟦R4⟧.\n⟦C5⟧ Then ⟦M6⟧.\n⟦C7⟧", says: "placeholder ⟦M3⟧ was altered"},
		{name: "invented", src: src, answer: "⟦C1⟧ Let ⟦M2⟧ and ⟦M3⟧ be reals~⟦R4⟧ ⟦M9⟧.\n⟦C5⟧ Then ⟦M6⟧.\n⟦C7⟧", says: "invents placeholder ⟦M9⟧"},
		{name: "stray bracket", src: src, answer: "⟦C1⟧ Let ⟦M2⟧ and ⟦M3⟧ be ⟧ reals~⟦R4⟧.\n⟦C5⟧ Then ⟦M6⟧.\n⟦C7⟧", says: "altered"},
		{name: "structure reordered", src: src, answer: "⟦C5⟧ Let ⟦M2⟧ and ⟦M3⟧ be reals~⟦R4⟧.\n⟦C1⟧ Then ⟦M6⟧.\n⟦C7⟧", says: "was moved before"},
		{name: "inline moved to another item", src: src, answer: "⟦C1⟧ Let ⟦M2⟧ and ⟦M3⟧ be reals.\n⟦C5⟧ Then ⟦M6⟧~⟦R4⟧.\n⟦C7⟧", says: "⟦R4⟧ was moved to another part"},
		{name: "backslash before a placeholder", src: src, answer: "⟦C1⟧ Let \\⟦M2⟧ and ⟦M3⟧ be reals~⟦R4⟧.\n⟦C5⟧ Then ⟦M6⟧.\n⟦C7⟧", says: "backslash"},
	})
}

func TestVerifyStructure(t *testing.T) {
	runVerify(t, []verifyCase{
		{name: "braces unbalanced", src: `An \emph{important} point.`, answer: `An \emph{important point.`, says: "braces do not balance"},
		{name: "too many closing braces", src: `An \emph{important} point.`, answer: `An \emph{important}} point.`, says: "braces do not balance"},
		{name: "prose command loses its braces", src: `An \emph{important} point.`, answer: `An \emph important point.`, says: `\emph lost the braces`},
		{name: "escape dropped: %", src: `Up 15~\% today.`, answer: `Up 15~% today.`, says: `unescaped %`},
		{name: "escape dropped: _", src: `The file a\_b.`, answer: `The file a_b.`, says: `unescaped _`},
		{name: "escape dropped: &", src: `R\&D lab.`, answer: `R&D lab.`, says: `unescaped &`},
		{name: "math invented", src: `The value x.`, answer: `The value $x$.`, says: `unescaped $`},
		{name: "escape added is fine", src: `Up 15 percent.`, answer: `Up 15\,\% now.`},
		{name: "new command", src: `See the text.`, answer: `See \cite{fake} the text.`, says: `the command \cite`},
		{name: "new line break", src: `One. Two.`, answer: `One.\\ Two.`, says: `the command \\`},
		{name: "new environment", src: `One. Two.`, answer: "One.\n\\begin{itemize}\\end{itemize}", says: `the command \begin`},
		{name: "emphasis added is fine", src: `An important point.`, answer: `An \emph{important} point.`},
		{name: "footnote dropped", src: `A point.\footnote{A note.} Next.`, answer: `A point. Next.`, says: `drops a \footnote`},
		{name: "footnote added", src: `A point. Next.`, answer: `A point.\footnote{x} Next.`, says: `command \footnote`},
		{name: "paragraphs merged", src: "First para.\n\nSecond para.", answer: "First para. Second para.", says: "merges paragraphs"},
		{name: "paragraph added", src: "First para. Second para.", answer: "First para.\n\nSecond para.", says: "splits paragraphs"},
		{name: "lines reflowed is fine", src: "First line\nsecond line.", answer: "First line second line."},
		{name: "comment placeholder joined to text gets its line break", src: "Text% note\nmore.", answer: "Texts⟦X1⟧ more."},
		{name: "kept comment changed", src: "Text % note\nmore.", answer: "Text % a note\nmore.", says: "comment on line 1 was changed", o: latex.Options{KeepComments: true}},
		{name: "kept comment kept", src: "Text % note\nmore.", answer: "Texts % note\nmore and more.", o: latex.Options{KeepComments: true}},
		{name: "code fence removed", src: `A $x$ b.`, answer: "```latex\nAn ⟦M1⟧ b.\n```"},
		{name: "NUL", src: `A b.`, answer: "A\x00 b.", says: "NUL"},
		{name: "empty", src: `Plain prose.`, answer: " \n", says: "it is empty"},
		{name: "empty source", src: " \n", answer: ""},
	})
}

func TestVerifyFrenchTypography(t *testing.T) {
	fr := "On dit \\og bonjour\\fg{} : c'est~1 ; puis 15~\\% et 5\\,m ou 3\\,s !"
	guill := "Le nom «\u00a0Sybil\u00a0» vient du roman\u00a0: c'est\u00a0tout."
	runVerify(t, []verifyCase{
		{name: "kept", src: fr, answer: "On affirme \\og bonjour\\fg{} : c'est~1 ; ensuite 15~\\% et 5\\,m ou 3\\,s !"},
		{name: "\\og\\fg turned into quotes", src: fr, answer: "On dit “bonjour” : c'est~1 ; puis 15~\\% et 5\\,m ou 3\\,s !", says: "changes the quotation marks"},
		{name: "\\og\\fg unpaired", src: fr, answer: "On dit \\og bonjour : c'est~1 ; puis 15~\\% et 5\\,m ou 3\\,s !", says: `\og and \fg no longer pair up`},
		{name: "ties removed", src: fr, answer: "On dit \\og bonjour\\fg{} : c'est 1 ; puis 15 \\% et 5\\,m ou 3\\,s !", says: "non-breaking spaces (~)"},
		{name: "thin spaces removed", src: fr, answer: "On dit \\og bonjour\\fg{} : c'est~1 ; puis 15~\\% et 5 m ou 3 s !", says: `thin spaces (\,)`},
		{name: "space before punctuation removed", src: fr, answer: "On dit \\og bonjour\\fg{}: c'est~1; puis 15~\\% et 5\\,m ou 3\\,s!", says: "space the original puts before"},
		{name: "guillemets kept", src: guill, answer: "Le nom «\u00a0Sybil\u00a0» provient du roman\u00a0: voilà\u00a0tout."},
		{name: "guillemets to straight quotes", src: guill, answer: "Le nom \"Sybil\" vient du roman\u00a0: c'est\u00a0tout.", says: "changes the quotation marks"},
		{name: "guillemets unpaired", src: guill, answer: "Le nom «\u00a0Sybil vient du roman\u00a0: c'est\u00a0tout.", says: "« and » no longer pair up"},
		{name: "non-breaking space characters removed", src: guill, answer: "Le nom « Sybil » vient du roman : c'est tout.", says: "non-breaking space characters"},
		{name: "no space convention kept", src: "Le nom: Sybil; le roman: connu.", answer: "Le nom : Sybil ; le roman : connu.", says: "adds a space before"},
		{name: "translation may change typography", src: fr, o: latex.Options{Translation: true},
			answer: "They say ``hello'': it is~1; then 15\\% and 5 m or 3 s!"},
		{name: "translation keeps ties outside French punctuation", src: fr, o: latex.Options{Translation: true},
			answer: "They say ``hello'': it is 1; then 15\\% and 5 m or 3 s!", says: "loses a tie (~)"},
		{name: "translation keeps a tie before a reference", src: `See Fig.~\ref{f} and \emph{this}.`, o: latex.Options{Translation: true},
			answer: "Voir la Fig. ⟦R1⟧ et \\emph{ceci}.", says: "tie (~) before placeholder ⟦R1⟧"},
		{name: "translation keeps pairs", src: fr, o: latex.Options{Translation: true},
			answer: "They say \\og hello: it is 1; then 15\\% and 5 m or 3 s!", says: `\og and \fg no longer pair up`},
	})
}

func TestUnmaskRestoresSafely(t *testing.T) {
	cases := []struct{ name, src, answer, want string }{
		{"command name before a letter", `The set \Rr of reals.`, `The set ⟦C1⟧of reals.`, `The set \Rr of reals.`},
		{"comment joined to the next line", "A% c\nB.", "A⟦X1⟧ B.", "A% c\n B."},
		{"white space around kept", "\n  A $x$ b.\n", "   An ⟦M1⟧ b.   \n\n", "\n  An $x$ b.\n"},
		{"CRLF kept", "A $x$\r\nb.\r\n", "An ⟦M1⟧\nb.", "An $x$\r\nb.\r\n"},
		{"data wrapper removed", "A $x$ b.", "<data>\nAn ⟦M1⟧ b.\n</data>", "An $x$ b."},
	}
	for _, c := range cases {
		m, err := latex.Mask(c.src, latex.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Unmask(c.answer)
		if err != nil || got != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

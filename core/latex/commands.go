package latex

import "strings"

// kind is what a protected span stands for; it gives the placeholder its
// letter.
type kind uint8

const (
	kindCommand  kind = iota // C: commands, environments, \item, \\
	kindMath                 // M: inline and display math
	kindRef                  // R: citations, references, labels, links, inputs
	kindComment              // X: comments
	kindVerbatim             // V: verbatim code
)

func (k kind) letter() byte { return "CMRXV"[k] }

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// proseCommands keep their name visible: their brace arguments are prose
// the model may rewrite, and they must keep their braces.
var proseCommands = set(`emph textit textbf textsc textsl textup textmd textrm textsf textnormal
	underline uline enquote textsuperscript textsubscript up
	footnote footnotetext marginpar marginnote sidenote caption thanks mbox
	part chapter section subsection subsubsection paragraph subparagraph title subtitle`)

// countedCommands carry content or structure of their own: a rewrite must
// keep as many of each as the original has.
var countedCommands = set(`footnote footnotetext footnotemark marginpar marginnote sidenote caption thanks
	part chapter section subsection subsubsection paragraph subparagraph title subtitle`)

// plainCommands are visible commands without arguments: typography,
// ligatures, style and size switches.
var plainCommands = set(`og fg ldots dots textellipsis LaTeX TeX LaTeXe
	oe OE ae AE aa AA o O l L ss i j c
	ier iers ieme iemes eme emes er re no No nos Nos
	bf it em sc sl rm sf bfseries itshape scshape slshape upshape mdseries normalfont
	tiny scriptsize footnotesize small normalsize large Large LARGE huge Huge
	textquoteright textquoteleft guillemotleft guillemotright quad qquad hfill nobreak nobreakspace xspace`)

// plainSymbols are the control symbols (\ followed by one non-letter) kept
// visible: spacing, accents and escapes. \\ is not among them: it is a
// protected line break.
const plainSymbols = ",;:! \t\n-/@%$&#_{}'`^\"~=."

// safeToAdd are the commands an answer may use even if the original does
// not: emphasis, French quotes, typography, accents and escapes.
var safeToAdd = set(`og fg ldots dots emph textit textbf enquote textsuperscript up
	oe OE ae AE aa AA o O l L ss i j c ier iers eme emes er re no No nos Nos xspace LaTeX TeX textsc`)

// refCommands are references, labels, links and inputs (letter R).
var refCommands = set(`ref eqref cref Cref crefrange Crefrange cpageref Cpageref autoref Autoref pageref nameref
	vref Vref vpageref labelcref hyperref label index indexsee indexdef glossary gls Gls glspl Glspl
	url href nolinkurl path input include includeonly subfile import subimport bibliography`)

// rawArgCommands read their first brace argument verbatim (URLs may hold
// % and # unescaped).
var rawArgCommands = set(`url href nolinkurl path`)

// verbCommands hold code read raw, between delimiters or braces.
var verbCommands = set(`verb lstinline mintinline spverb Verb`)

// structuralCommands mark structure: their place relative to other
// structure must not change.
var structuralCommands = set(`item input include subfile import subimport bibliography newpage clearpage pagebreak par`)

// isCite reports whether a command is a citation (\cite, \citep,
// \textcite, \autocite, \parencite, \footcite, \Cite…).
func isCite(name string) bool { return strings.Contains(strings.ToLower(name), "cite") }

// Environments.
var (
	// rawEnvironments are read verbatim up to their \end.
	rawEnvironments = set(`verbatim verbatim* Verbatim Verbatim* BVerbatim LVerbatim lstlisting minted comment
		alltt filecontents filecontents* spverbatim`)
	// mathEnvironments are masked whole, as math.
	mathEnvironments = set(`equation equation* align align* alignat alignat* flalign flalign* gather gather*
		multline multline* eqnarray eqnarray* math displaymath dmath dmath* dgroup dgroup* subequations`)
	// opaqueEnvironments are masked whole: their body is not prose.
	opaqueEnvironments = set(`tabular tabular* tabularx tabulary longtable supertabular xtabular tabu array
		tikzpicture tikzcd picture pspicture axis algorithmic algorithm algorithm2e prooftree forest circuitikz`)
)

package latex

import (
	"sort"
	"strings"
)

// Typography that holds in every language, translations included: the
// ties before what a placeholder stands for (Fig.~\ref{…}, Theorem~\cite{…}),
// TeX quotes ``…'' (not turned into "…" or “…”) and emphasis (\emph,
// \textit, \textbf… and the writer's own prose macros: as many, none
// emptied). Within one language, the ties between words (10~km, M.~Dupont)
// and the TeX quotes are kept too.

// emphCommands are the markup commands whose number a rewrite keeps.
var emphCommands = set(`emph textit textbf textsc textsl underline uline enquote`)

// emptyArgAt reports whether the brace argument after a command at i (after
// a star and optional arguments) is empty.
func emptyArgAt(t string, i int) bool {
	j, ok := argBrace(t, i)
	return ok && strings.HasPrefix(strings.TrimLeft(t[j+1:], " \t\r\n"), "}")
}

// wordEnd reports whether c ends a word around a tie.
func wordEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '~', '{', '}', 0:
		return true
	}
	return false
}

// wordBefore is the word right before the tie at i ("" for none).
func wordBefore(t string, i int) string {
	k := i
	for k > 0 && !wordEnd(t[k-1]) && i-k < 40 {
		k--
	}
	return t[k:i]
}

// wordAfter is the word starting at i: a placeholder (NUL) alone, or the
// characters up to white space.
func wordAfter(t string, i int) string {
	if i < len(t) && t[i] == 0 {
		return t[i : i+1]
	}
	k := i
	for k < len(t) && !wordEnd(t[k]) && k-i < 40 {
		k++
	}
	return t[i:k]
}

// proseNames are the writer's prose macros (Definitions), for the checks.
func proseNames(d Definitions) map[string]bool {
	var m map[string]bool
	for name, def := range d.Macros {
		if def.Role == RoleProse && !fixedCommands[name] {
			if m == nil {
				m = map[string]bool{}
			}
			m[name] = true
		}
	}
	return m
}

// compareTypography holds ties before placeholders, TeX quotes and
// emphasis, in every language.
func (m *Masked) compareTypography(st *stats) error {
	base := m.base
	parts := make([]int, 0, len(base.tiedParts))
	for p := range base.tiedParts {
		if !st.tiedParts[p] {
			parts = append(parts, p)
		}
	}
	if len(parts) > 0 {
		sort.Ints(parts)
		return verifyErr("it loses the tie (~) before placeholder %s: keep ~ right before it, as in Fig.~\\ref{…}", m.parts[parts[0]].name)
	}
	for p := range base.tiedAfter {
		if !st.tiedAfter[p] {
			parts = append(parts, p)
		}
	}
	if len(parts) > 0 {
		sort.Ints(parts)
		return verifyErr("it loses the tie (~) after placeholder %s: keep ~ right after it", m.parts[parts[0]].name)
	}
	if base.texOpen > 0 && st.texOpen < base.texOpen {
		switch {
		case st.straight > base.straight:
			return verifyErr(`it turns TeX quotes ''…'' into straight quotes "…": keep ` + "``…''")
		case st.curly > base.curly:
			return verifyErr("it turns TeX quotes ``…'' into curly quotes “…”: keep ``…''")
		}
	}
	names := make([]string, 0, len(emphCommands)+len(m.prose))
	for name := range emphCommands {
		names = append(names, name)
	}
	for name := range m.prose {
		if !emphCommands[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if a, b := st.commands[name], base.commands[name]; a < b {
			return verifyErr(`it drops a \%s (the original has %d, the rewrite %d): keep the markup`, name, b, a)
		}
	}
	if st.emptyArg != "" && base.emptyArg == "" {
		return verifyErr(`\%s lost its text: keep the words it marks`, st.emptyArg)
	}
	return nil
}

// compareTieWords finds a tie between words turned into a space or
// dropped, the words around it kept (10~km written 10 km or 10km). A
// translation may drop the ties of French typography (before : ; ! ? \%,
// inside « »).
func (m *Masked) compareTieWords(st *stats) error {
	base := m.base
	keys := make([]string, 0, len(base.tieCtx))
	for k, n := range base.tieCtx {
		if st.tieCtx[k] < n {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		w1, w2, _ := strings.Cut(k, "~")
		for _, sep := range []string{" ", "\n", ""} {
			if sep == "" && m.opts.Translation && frenchTie(w1, w2) {
				continue
			}
			if strings.Count(st.text, w1+sep+w2) > strings.Count(base.text, w1+sep+w2) {
				shown := strings.ReplaceAll(k, "\x00", "…")
				return verifyErr("it loses the tie (~) in %q: keep ~ between these words", shown)
			}
		}
	}
	return nil
}

// frenchTie reports whether a tie between w1 and w2 belongs to French
// typography (before : ; ! ? » or \%, after «), which a translation into
// English rightly drops.
func frenchTie(w1, w2 string) bool {
	return frenchPunctAt(w2, 0) || strings.HasPrefix(w2, `\%`) || strings.HasSuffix(w1, "«")
}

// frenchPunctAt reports whether s holds, at i, punctuation that French
// typography spaces with a tie: : ; ! ? ».
func frenchPunctAt(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	switch s[i] {
	case ':', ';', '!', '?':
		return true
	}
	return strings.HasPrefix(s[i:], "»")
}

// compareTies holds the ties: those between words kept (see
// compareTieWords), then their number: every tie within one language,
// those outside French typography in a translation.
func (m *Masked) compareTies(st *stats) error {
	if err := m.compareTieWords(st); err != nil {
		return err
	}
	base := m.base
	switch {
	case !m.opts.Translation && st.ties < base.ties:
		return verifyErr("it loses a tie (~): the original has %d, the rewrite %d; keep each ~ (Fig.~3, M.~Dupont)", base.ties, st.ties)
	case st.tiesKept < base.tiesKept:
		return verifyErr("it loses a tie (~): the original has %d outside French punctuation, the rewrite %d; keep each ~ (Fig.~3, 10~km), in every language", base.tiesKept, st.tiesKept)
	case base.frTie > 0 && st.frPlain > base.frPlain:
		return verifyErr("it puts a plain space before : ; ! ? where the original has a tie (~): keep the tie, or no space in English")
	case !m.opts.Translation && st.texOpen < base.texOpen:
		return verifyErr("it drops TeX quotes ``…'' (the original has %d, the rewrite %d)", base.texOpen, st.texOpen)
	}
	return nil
}

// Terms lists the glossary terms found in the text sent to the model (its
// prose), at most MaxTermsInPrompt: what the model is given, and what
// Verify holds a translation to.
func (m *Masked) Terms() []Term {
	out := make([]Term, 0, len(m.terms))
	for _, k := range m.terms {
		if len(out) == MaxTermsInPrompt {
			break
		}
		out = append(out, m.opts.Glossary.terms[k].Term)
	}
	return out
}

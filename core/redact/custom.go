package redact

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// term is a custom literal term: matched case-insensitively, as a whole
// word (letters and digits are word characters; '_', '-', '.' are not, so
// PROJECTX_URL and projectx-api contain the term projectx).
type term struct {
	text     string
	variants []string // ASCII-lowercased spellings fed to the automaton
}

func newTerm(t string) (term, bool) {
	t = strings.TrimSpace(t)
	if t == "" {
		return term{}, false
	}
	// The automaton folds ASCII case only; for non-ASCII letters feed the
	// all-lower and all-upper spellings too, and confirm hits with EqualFold.
	seen := map[string]bool{}
	var vs []string
	for _, v := range []string{t, strings.ToLower(t), strings.ToUpper(t)} {
		v = lowerASCIIString(v)
		if !seen[v] {
			seen[v] = true
			vs = append(vs, v)
		}
	}
	return term{text: t, variants: vs}, true
}

func (t *term) check(text string, start, end int, out *[]cand) {
	if !strings.EqualFold(text[start:end], t.text) {
		return
	}
	if start > 0 {
		r, _ := utf8.DecodeLastRuneInString(text[:start])
		if isWordRune(r) {
			return
		}
	}
	if end < len(text) {
		r, _ := utf8.DecodeRuneInString(text[end:])
		if isWordRune(r) {
			return
		}
	}
	*out = append(*out, cand{Finding{Type: "custom:term", Kind: KindCustom, Start: start, End: end}, prioCustom})
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		c := byte(r)
		return ('0' <= c && c <= '9') || ('a' <= c|0x20 && c|0x20 <= 'z')
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

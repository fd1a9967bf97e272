package biblio

import (
	"regexp"
	"strconv"
	"strings"
	"sync"

	"timon.dev/timon/core"
)

// Reference-like text in a model's answer; the expressions are
// compiled on first use, not at start: every timon process (timon lsp
// too) links this package.
var (
	// A Markdown link: its destination is checked, its text kept.
	mdLink = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`\[([^\[\]\n]*)\]\(\s*<?(https?://[^\s()<>]+)>?\s*\)`)
	})
	// A bare URL.
	bareURL = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)\bhttps?://[^\s<>()\[\]"'` + "`" + `]+`) })
	// A DOI, with an optional doi: prefix.
	doiRef = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)\b(?:doi:\s*)?(10\.\d{4,9}/[^\s<>"'` + "`" + `]+)`)
	})
	// Numbered citations: [3], [1, 4], [2-5].
	numRef = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\[(\d{1,4}(?:\s*[,;–-]\s*\d{1,4})*)\]`) })
	// Author-year citations: "Dupont et al. (2019)", "Dupont and Martin
	// (2019)", "(Dupont, 2019)", "(Dupont et al., 2019)", "Dupont et al.,
	// 2019".
	surname   = `(\p{Lu}[\p{L}'’-]+)`
	coauthors = `(?:\s+et\s+al\.?|\s+(?:and|&|et)\s+\p{Lu}[\p{L}'’-]+)`
	year      = `((?:1[5-9]|20)\d{2})[a-z]?`
	authYear  = sync.OnceValue(func() []*regexp.Regexp {
		return []*regexp.Regexp{
			regexp.MustCompile(`\(\s*` + surname + coauthors + `?\s*,\s*` + year + `\s*\)`),
			regexp.MustCompile(`\b` + surname + coauthors + `\s*,?\s*\(\s*` + year + `\s*\)`),
			regexp.MustCompile(`\b` + surname + `\s+et\s+al\.?\s*,?\s*` + year + `\b`),
		}
	})
	spaceBeforePunct = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[ \t]+([.,;:!?])`) })
	emptyParens      = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\(\s*[,;]?\s*\)`) })
	manySpaces       = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[ \t]{2,}`) })
)

// Verify removes from a model's text every reference-like piece that does
// not match one of recs, the records the model was given and numbered from
// 1: numbered citations out of range, DOIs and URLs that are no record's,
// author-year citations whose author and year are no record's. It returns
// the text left and the number of pieces removed.
func Verify(text string, recs []core.Record) (string, int) {
	v := verifier{recs: recs}
	text = mdLink().ReplaceAllStringFunc(text, func(m string) string {
		sm := mdLink().FindStringSubmatch(m)
		if v.knownURL(sm[2]) {
			return m
		}
		v.removed++
		return sm[1]
	})
	text = bareURL().ReplaceAllStringFunc(text, func(m string) string {
		u, tail := trimTail(m)
		if v.knownURL(u) {
			return m
		}
		v.removed++
		return tail
	})
	text = doiRef().ReplaceAllStringFunc(text, func(m string) string {
		sm := doiRef().FindStringSubmatch(m)
		d, tail := trimTail(sm[1])
		if v.knownDOI(d) {
			return m
		}
		v.removed++
		return tail
	})
	for _, re := range authYear() {
		text = re.ReplaceAllStringFunc(text, func(m string) string {
			sm := re.FindStringSubmatch(m)
			y, _ := strconv.Atoi(sm[2])
			if v.knownAuthorYear(sm[1], y) {
				return m
			}
			v.removed++
			return ""
		})
	}
	text = numRef().ReplaceAllStringFunc(text, v.numbers)
	if v.removed > 0 {
		text = emptyParens().ReplaceAllString(text, "")
		text = spaceBeforePunct().ReplaceAllString(text, "$1")
		text = manySpaces().ReplaceAllString(text, " ")
	}
	return strings.TrimSpace(text), v.removed
}

type verifier struct {
	recs    []core.Record
	removed int
}

// trimTail splits the punctuation that ends a sentence from a URL or DOI.
func trimTail(s string) (string, string) {
	t := strings.TrimRight(s, ".,;:!?)]}'\"»")
	return t, s[len(t):]
}

func normURL(u string) string {
	u = strings.ToLower(strings.TrimSpace(u))
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	u = strings.TrimPrefix(u, "www.")
	return strings.TrimRight(u, "/")
}

func (v *verifier) knownURL(u string) bool {
	n := normURL(u)
	if d := NormalizeDOI(u); d != "" {
		return v.knownDOI(d)
	}
	for _, r := range v.recs {
		if r.URL != "" && normURL(r.URL) == n {
			return true
		}
	}
	return false
}

func (v *verifier) knownDOI(d string) bool {
	for _, r := range v.recs {
		if r.DOI != "" && strings.EqualFold(r.DOI, d) {
			return true
		}
	}
	return false
}

func (v *verifier) knownAuthorYear(name string, y int) bool {
	name = strings.TrimRight(name, "'’-")
	for _, r := range v.recs {
		if r.Year != y {
			continue
		}
		for _, a := range r.Authors {
			for _, w := range strings.FieldsFunc(a, func(c rune) bool { return c == ' ' || c == ',' || c == '.' }) {
				if strings.EqualFold(w, name) || strings.EqualFold(fold(w), fold(name)) {
					return true
				}
			}
		}
	}
	return false
}

// numbers keeps the numbers of a citation that name a record.
func (v *verifier) numbers(m string) string {
	inner := m[1 : len(m)-1]
	var kept []string
	for _, part := range strings.FieldsFunc(inner, func(c rune) bool { return c == ',' || c == ';' }) {
		part = strings.TrimSpace(part)
		ok := true
		for _, n := range strings.FieldsFunc(part, func(c rune) bool { return c == '-' || c == '–' }) {
			i, err := strconv.Atoi(strings.TrimSpace(n))
			if err != nil || i < 1 || i > len(v.recs) {
				ok = false
			}
		}
		if ok {
			kept = append(kept, part)
		} else {
			v.removed++
		}
	}
	if len(kept) == 0 {
		return ""
	}
	return "[" + strings.Join(kept, ", ") + "]"
}

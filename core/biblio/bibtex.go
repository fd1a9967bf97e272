package biblio

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"timon.dev/timon/core"
)

// BibTeX writes records as BibTeX entries (@misc, the type a search
// result carries), every field from the record. Keys are the first
// author's surname, the year and the first word of the title
// (dupont2019climate), made unique within the output.
func BibTeX(recs []core.Record) string {
	var b strings.Builder
	used := map[string]bool{}
	for i, r := range recs {
		if i > 0 {
			b.WriteByte('\n')
		}
		key := Key(r)
		for n := 0; used[key]; n++ {
			key = Key(r) + string(rune('a'+n%26)) + strings.Repeat("z", n/26)
		}
		used[key] = true
		fmt.Fprintf(&b, "@misc{%s,\n", key)
		if len(r.Authors) > 0 {
			names := make([]string, len(r.Authors))
			for j, a := range r.Authors {
				names[j] = escape(a)
				if strings.Contains(strings.ToLower(a), " and ") {
					names[j] = "{" + names[j] + "}"
				}
			}
			field(&b, "author", strings.Join(names, " and "))
		}
		field(&b, "title", "{"+escape(r.Title)+"}")
		if r.Year > 0 {
			field(&b, "year", strconv.Itoa(r.Year))
		}
		if r.DOI != "" {
			field(&b, "doi", verbatim(r.DOI))
		}
		if r.URL != "" {
			field(&b, "url", verbatim(r.URL))
		}
		if r.ID != "" && r.ID != r.URL {
			field(&b, "note", escape(r.Source+": "+r.ID))
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func field(b *strings.Builder, name, value string) {
	fmt.Fprintf(b, "  %-7s= {%s},\n", name, value)
}

// escape makes text safe inside a braced BibTeX value: LaTeX's special
// characters escaped, braces too, control characters dropped.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\textbackslash{}`)
		case '{', '}', '%', '&', '#', '$', '_':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '~':
			b.WriteString(`\textasciitilde{}`)
		case '<':
			b.WriteString(`\textless{}`)
		case '>':
			b.WriteString(`\textgreater{}`)
		case '^':
			b.WriteString(`\textasciicircum{}`)
		case '\n', '\r', '\t':
			b.WriteByte(' ')
		default:
			if !unicode.IsControl(r) {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}

// verbatim keeps a DOI or URL as written (biblatex reads those fields
// verbatim), without what could close the value: braces, backslashes,
// white space.
func verbatim(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(`{}\<>`, r) || unicode.IsSpace(r) || unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// stopWords are not a title's first word in a key.
var stopWords = map[string]bool{"a": true, "an": true, "the": true, "on": true, "of": true, "in": true,
	"le": true, "la": true, "les": true, "l": true, "un": true, "une": true, "des": true, "du": true, "de": true, "d": true}

// Key is a record's citation key: first author's surname, year, first
// word of the title, in lower-case ASCII letters.
func Key(r core.Record) string {
	var k strings.Builder
	if len(r.Authors) > 0 {
		a := r.Authors[0]
		if last, _, ok := strings.Cut(a, ","); ok {
			a = last // "Dupont, Jean"
		} else if f := strings.Fields(a); len(f) > 0 {
			a = f[len(f)-1] // "Jean Dupont"
		}
		k.WriteString(letters(a))
	}
	if k.Len() == 0 {
		k.WriteString("anon")
	}
	if r.Year > 0 {
		k.WriteString(strconv.Itoa(r.Year))
	}
	for _, w := range strings.FieldsFunc(r.Title, func(c rune) bool { return !unicode.IsLetter(c) && !unicode.IsDigit(c) }) {
		if w = letters(w); w != "" && !stopWords[w] {
			k.WriteString(w)
			break
		}
	}
	return k.String()
}

// letters is s folded to lower-case ASCII letters and digits.
func letters(s string) string {
	var b strings.Builder
	for _, r := range fold(s) {
		r = unicode.ToLower(r)
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// fold drops accents: é → e.
func fold(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

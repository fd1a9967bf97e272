package latex

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Term is one entry of a translation glossary: Source, met in the text,
// must come out as Target; with Keep (or no Target) it must stay as it is.
type Term struct {
	Source, Target string
	Keep           bool
}

// Glossary is a compiled list of terms, matched case-insensitively, on
// word boundaries, with accents (Unicode or LaTeX escapes such as \'e)
// ignored. It is immutable and safe for concurrent use.
type Glossary struct {
	terms   []gterm
	byFirst map[string][]int // first folded word of a source → terms
}

type gterm struct {
	Term
	src []string // folded words of Source
}

// target is the folded Target (or Source when kept), its words joined by
// one space; folded only for the terms found.
func (t *gterm) target() string {
	if t.Keep {
		return strings.Join(t.src, " ")
	}
	return strings.Join(foldWords(t.Target), " ")
}

// MaxTermsInPrompt bounds the terms of one paragraph given to the model.
const MaxTermsInPrompt = 100

// NewGlossary compiles terms; entries without a source word are skipped,
// and a later entry for the same source replaces an earlier one.
func NewGlossary(terms []Term) *Glossary {
	g := &Glossary{byFirst: map[string][]int{}}
	seen := map[string]int{}
	for _, t := range terms {
		src := foldWords(t.Source)
		if len(src) == 0 {
			continue
		}
		if strings.TrimSpace(t.Target) == "" {
			t.Keep = true
		}
		if t.Keep {
			t.Target = ""
		}
		gt := gterm{Term: t, src: src}
		key := strings.Join(src, " ")
		if k, ok := seen[key]; ok {
			g.terms[k] = gt
			continue
		}
		seen[key] = len(g.terms)
		g.byFirst[src[0]] = append(g.byFirst[src[0]], len(g.terms))
		g.terms = append(g.terms, gt)
	}
	return g
}

// Len is the number of terms.
func (g *Glossary) Len() int {
	if g == nil {
		return 0
	}
	return len(g.terms)
}

// find lists the indexes of the terms whose source occurs in text, in
// order of first occurrence, each once, at most limit.
func (g *Glossary) find(text string, limit int) []int {
	if g.Len() == 0 {
		return nil
	}
	words := foldWords(text)
	var out []int
	got := map[int]bool{}
	for i, w := range words {
		for _, k := range g.byFirst[w] {
			t := &g.terms[k]
			if got[k] || i+len(t.src) > len(words) {
				continue
			}
			match := true
			for n := 1; n < len(t.src); n++ {
				if words[i+n] != t.src[n] {
					match = false
					break
				}
			}
			if match {
				got[k] = true
				out = append(out, k)
				if len(out) == limit {
					return out
				}
			}
		}
	}
	return out
}

// Find lists the terms whose source occurs in text, in order of first
// occurrence, each once.
func (g *Glossary) Find(text string) []Term {
	var out []Term
	for _, k := range g.find(text, -1) {
		out = append(out, g.terms[k].Term)
	}
	return out
}

// checkTerms verifies that the answer holds the target of each term
// found in the source (indexes into g.terms).
func (g *Glossary) checkTerms(found []int, answer string) error {
	if len(found) == 0 {
		return nil
	}
	folded := " " + strings.Join(foldWords(answer), " ") + " "
	for _, k := range found {
		t := &g.terms[k]
		if tgt := t.target(); tgt == "" || strings.Contains(folded, " "+tgt+" ") {
			// A target without letters or digits cannot be checked.
			continue
		}
		if t.Keep {
			return verifyErr("'%s' must be kept as it is (glossary)", t.Source)
		}
		return verifyErr("'%s' must be translated '%s' (glossary)", t.Source, t.Target)
	}
	return nil
}

// foldWords splits s into lower-case words without accents: letters and
// digits make words, anything else separates them. LaTeX accents (\'e,
// \'{e}, \c{c}) and letters (\oe, \ss) are read as the letters they make;
// other commands separate words.
func foldWords(s string) []string {
	return strings.Fields(fold(s))
}

// fold is s lower-cased, without accents, its words separated by spaces.
func fold(s string) string {
	var w strings.Builder
	w.Grow(len(s))
	flush := func() { w.WriteByte(' ') }
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			j := i + 1
			if strings.IndexByte("'`^\"~=.", s[j]) >= 0 {
				// An accent: the letter after it (maybe in braces) counts.
				j++
				if j < len(s) && s[j] == '{' && j+2 < len(s) && s[j+2] == '}' && isLetter(s[j+1]) {
					w.WriteByte(s[j+1] | 0x20)
					i = j + 3
					continue
				}
				i = j
				continue
			}
			for j < len(s) && isLetter(s[j]) {
				j++
			}
			name := s[i+1 : j]
			switch name {
			case "c", "v", "u", "H", "k", "r":
				// \c{c}, \c c: the accented letter follows.
				k := j
				for k < len(s) && s[k] == ' ' {
					k++
				}
				if k+2 < len(s) && s[k] == '{' && s[k+2] == '}' && isLetter(s[k+1]) {
					w.WriteByte(s[k+1] | 0x20)
					i = k + 3
					continue
				}
				if k < len(s) && isLetter(s[k]) && k > j {
					w.WriteByte(s[k] | 0x20)
					i = k + 1
					continue
				}
			case "oe", "OE":
				w.WriteString("oe")
				i = j
				continue
			case "ae", "AE":
				w.WriteString("ae")
				i = j
				continue
			case "ss":
				w.WriteString("ss")
				i = j
				continue
			case "i", "j":
				w.WriteString(name)
				i = j
				continue
			}
			flush()
			if j == i+1 {
				j++
			}
			i = j
			continue
		}
		if c < utf8.RuneSelf {
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
				w.WriteByte(c)
			case 'A' <= c && c <= 'Z':
				w.WriteByte(c | 0x20)
			default:
				flush()
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if f, ok := foldAccent[r]; ok {
				w.WriteString(f)
			} else {
				w.WriteRune(unicode.ToLower(r))
			}
		case unicode.Is(unicode.Mn, r):
			// A combining accent: dropped.
		default:
			flush()
		}
	}
	return w.String()
}

// foldAccent maps accented Latin letters to their base letters.
var foldAccent = func() map[rune]string {
	m := map[rune]string{}
	for base, letters := range map[string]string{
		"a": "àáâãäåāăąÀÁÂÃÄÅĀĂĄ", "c": "çćĉċčÇĆĈĊČ", "d": "ďđĎĐ", "e": "èéêëēĕėęěÈÉÊËĒĔĖĘĚ",
		"g": "ĝğġģĜĞĠĢ", "h": "ĥħĤĦ", "i": "ìíîïĩīĭįıÌÍÎÏĨĪĬĮİ", "j": "ĵĴ", "k": "ķĶ", "l": "ĺļľŀłĹĻĽĿŁ",
		"n": "ñńņňÑŃŅŇ", "o": "òóôõöøōŏőÒÓÔÕÖØŌŎŐ", "r": "ŕŗřŔŖŘ", "s": "śŝşšŚŜŞŠ", "t": "ţťŧŢŤŦ",
		"u": "ùúûüũūŭůűųÙÚÛÜŨŪŬŮŰŲ", "w": "ŵŴ", "y": "ýÿŷÝŸŶ", "z": "źżžŹŻŽ",
		"oe": "œŒ", "ae": "æÆ", "ss": "ß",
	} {
		for _, r := range letters {
			m[r] = base
		}
	}
	return m
}()

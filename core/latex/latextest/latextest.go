// Package latextest holds test helpers for LaTeX rewriting: the evaluation
// corpus of real paragraphs (core/latex/testdata/paragraphs.jsonl, sources
// and licences in testdata/SOURCES.md) and a simulated model that rewrites
// prose while keeping placeholders, or breaks them on purpose.
package latextest

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Paragraph is one entry of the corpus.
type Paragraph struct {
	ID       string   `json:"id"`
	Lang     string   `json:"lang"`
	Source   string   `json:"source"`
	Licence  string   `json:"licence"`
	Text     string   `json:"text"`
	Features []string `json:"features"`
	Kind     string   `json:"kind"`
}

// Corpus reads the evaluation corpus (192 entries).
func Corpus(t testing.TB) []Paragraph {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("latextest: cannot locate the corpus")
	}
	f, err := os.Open(filepath.Join(filepath.Dir(file), "..", "testdata", "paragraphs.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ps []Paragraph
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var p Paragraph
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ps) < 190 {
		t.Fatalf("latextest: only %d paragraphs in the corpus", len(ps))
	}
	return ps
}

// RewriteWords simulates a model that rewrites prose and keeps every
// placeholder: it changes about one word in three and swaps some pairs of
// neighbouring words. Placeholders (⟦M1⟧, and the redaction's [[EMAIL_1]]),
// command names and words glued to a command (\'Ecrire, provok\-es) are
// never touched. The seed picks which words change.
func RewriteWords(masked string, seed int) string {
	type tok struct {
		s    string
		word bool
	}
	var ts []tok
	for i := 0; i < len(masked); {
		j := i
		r, n := utf8.DecodeRuneInString(masked[i:])
		switch {
		case strings.HasPrefix(masked[i:], "⟦") && strings.Contains(masked[i:], "⟧"):
			j = i + strings.Index(masked[i:], "⟧") + len("⟧")
		case strings.HasPrefix(masked[i:], "[[") && strings.Contains(masked[i:], "]]"):
			j = i + strings.Index(masked[i:], "]]") + 2
		case r == '\\':
			j = i + 1
			for j < len(masked) && ('a' <= masked[j] && masked[j] <= 'z' || 'A' <= masked[j] && masked[j] <= 'Z') {
				j++
			}
			if j == i+1 && j < len(masked) {
				_, m := utf8.DecodeRuneInString(masked[j:])
				j += m
			}
		case unicode.IsLetter(r):
			for j < len(masked) {
				r2, m := utf8.DecodeRuneInString(masked[j:])
				if !unicode.IsLetter(r2) {
					break
				}
				j += m
			}
		default:
			j = i + n
		}
		ts = append(ts, tok{s: masked[i:j], word: unicode.IsLetter(r)})
		i = j
	}
	free := func(k int) bool {
		return ts[k].word && (k == 0 || ts[k-1].s[0] != '\\') && (k+1 == len(ts) || ts[k+1].s[0] != '\\')
	}
	words := 0
	for k := range ts {
		if !free(k) {
			continue
		}
		words++
		switch {
		case (words+seed)%7 == 0 && k+2 < len(ts) && ts[k+1].s == " " && free(k+2):
			ts[k].s, ts[k+2].s = ts[k+2].s, ts[k].s
			ts[k+2].word = false // swapped once
		case (words+seed)%3 == 0:
			r, n := utf8.DecodeRuneInString(ts[k].s)
			ts[k].s = string(unicode.ToUpper(r)) + ts[k].s[n:] + "ed"
		}
	}
	var b strings.Builder
	for _, t := range ts {
		b.WriteString(t.s)
	}
	return b.String()
}

// Placeholders lists the placeholders of a masked text, in order.
func Placeholders(masked string) []string {
	var out []string
	for i := 0; ; {
		a := strings.Index(masked[i:], "⟦")
		if a < 0 {
			return out
		}
		b := strings.Index(masked[i+a:], "⟧")
		if b < 0 {
			return out
		}
		out = append(out, masked[i+a:i+a+b+len("⟧")])
		i += a + b + len("⟧")
	}
}

// Breakage is a way a model can damage one placeholder.
type Breakage struct {
	Name  string
	Apply func(answer, placeholder string) string
}

// Breakages drop, duplicate and alter a placeholder in the ways models do.
var Breakages = []Breakage{
	{"dropped", func(a, ph string) string { return strings.Replace(a, ph, "", 1) }},
	{"duplicated", func(a, ph string) string { return strings.Replace(a, ph, ph+" "+ph, 1) }},
	{"duplicated at the end", func(a, ph string) string { return a + " " + ph }},
	{"letter changed", func(a, ph string) string { return strings.Replace(a, ph, swapLetter(ph), 1) }},
	{"number changed", func(a, ph string) string { return strings.Replace(a, ph, strings.TrimSuffix(ph, "⟧")+"9⟧", 1) }},
	{"space inside", func(a, ph string) string {
		return strings.Replace(a, ph, "⟦"+ph[len("⟦"):len("⟦")+1]+" "+ph[len("⟦")+1:], 1)
	}},
	{"lower case", func(a, ph string) string { return strings.Replace(a, ph, strings.ToLower(ph), 1) }},
	{"brackets changed", func(a, ph string) string {
		return strings.Replace(a, ph, "[["+strings.TrimSuffix(strings.TrimPrefix(ph, "⟦"), "⟧")+"]]", 1)
	}},
	{"closing bracket cut", func(a, ph string) string { return strings.Replace(a, ph, strings.TrimSuffix(ph, "⟧"), 1) }},
}

func swapLetter(ph string) string {
	l := ph[len("⟦")]
	other := byte('M')
	if l == 'M' {
		other = 'R'
	}
	return "⟦" + string(other) + ph[len("⟦")+1:]
}

// Carelessness is a way a careless model damages typography while keeping
// every placeholder: it applies to the n-th occurrence of what it damages
// and reports false when there is none.
type Carelessness struct {
	Name  string
	Apply func(answer string, n int) (string, bool)
}

// Carelessnesses lose ties, TeX quotes and emphasis in the ways models do.
var Carelessnesses = []Carelessness{
	{"tie turned into a space", func(a string, n int) (string, bool) { return replaceNth(a, "~", " ", n) }},
	{"tie dropped", func(a string, n int) (string, bool) { return dropTie(a, n) }},
	{"TeX quotes straightened", func(a string, n int) (string, bool) { return requote(a, n, `"`, `"`) }},
	{"TeX quotes curled", func(a string, n int) (string, bool) { return requote(a, n, "“", "”") }},
	{"emphasis dropped", func(a string, n int) (string, bool) { return unwrap(a, n, false) }},
	{"emphasis emptied", func(a string, n int) (string, bool) { return unwrap(a, n, true) }},
}

// replaceNth replaces the n-th unescaped occurrence of old in s.
func replaceNth(s, old, new string, n int) (string, bool) {
	seen := 0
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if strings.HasPrefix(s[i:], old) {
			if seen == n {
				return s[:i] + new + s[i+len(old):], true
			}
			seen++
		}
	}
	return s, false
}

// requote turns the n-th “…” pair into open…close.
func requote(s string, n int, open, close string) (string, bool) {
	from := 0
	for seen := 0; ; seen++ {
		a := strings.Index(s[from:], "``")
		if a < 0 {
			return s, false
		}
		a += from
		b := strings.Index(s[a+2:], "''")
		if b < 0 {
			return s, false
		}
		b += a + 2
		if seen == n {
			return s[:a] + open + s[a+2:b] + close + s[b+2:], true
		}
		from = b + 2
	}
}

// unwrap removes the n-th \emph{…} (or \textit, \textbf): the markup only,
// or, with empty, the words it marks.
func unwrap(s string, n int, empty bool) (string, bool) {
	seen := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		for _, c := range []string{`\emph{`, `\textit{`, `\textbf{`} {
			if !strings.HasPrefix(s[i:], c) {
				continue
			}
			if seen != n {
				seen++
				break
			}
			open := i + len(c) - 1
			depth, end := 0, -1
			for k := open; k < len(s) && end < 0; k++ {
				switch s[k] {
				case '\\':
					k++
				case '{':
					depth++
				case '}':
					if depth--; depth == 0 {
						end = k
					}
				}
			}
			if end < 0 {
				return s, false
			}
			if empty {
				return s[:open+1] + s[end:], true
			}
			return s[:i] + s[open+1:end] + s[end+1:], true
		}
	}
	return s, false
}

// dropTie removes the n-th tie, but not those of French typography (before
// : ; ! ? » or \%, after «), which a translation into English drops
// rightly.
func dropTie(s string, n int) (string, bool) {
	seen := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] != '~' {
			continue
		}
		rest, before := s[i+1:], s[:i]
		if strings.HasPrefix(rest, `\%`) || strings.HasPrefix(rest, "»") || strings.HasSuffix(before, "«") ||
			rest != "" && strings.IndexByte(":;!?", rest[0]) >= 0 {
			continue
		}
		if seen == n {
			return before + rest, true
		}
		seen++
	}
	return s, false
}

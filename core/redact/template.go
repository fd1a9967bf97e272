package redact

import (
	"regexp"
	"regexp/syntax"
	"strings"
)

// gitleaks' "semi-generic" rules all share one shape:
//
//	[\w.-]{0,50}?KEYWORD[ \t\w.-]{0,20}[\s'"]{0,3}OP[\x60'"\s=]{0,5}(VALUE)TERM
//
// Go's regexp needs microseconds per call on it (the lazy 50-byte prefix
// keeps dozens of threads alive), and keywords like "key" or "token" are
// everywhere in code. This file gives those rules an exact fast path: a
// plain-Go check that an operator and a long-enough value follow the
// keyword, then an anchored expression from the keyword on, with the
// match's start computed the way the lazy prefix would find it.

// gitleaks' semi-generic template: identifier, then these, then a value.
const (
	templateMid = `(?:[ \t\w.-]{0,20})[\s'"]{0,3}`
	templateOp  = `(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)`
)

// gitleaksTerm ends most gitleaks expressions: what may follow a secret.
const gitleaksTerm = `(?:[\x60'"\s;]|\\[nr]|$)`

// templateHead is how gitleaks' standard semi-generic rules begin.
const templateHead = `(?i)[\w.-]{0,50}?(?:`

// templateCore returns `(?i)^(?:KEYWORDS)REST` for a standard semi-generic
// rule whose anchors are exactly its keywords, or "".
func templateCore(expr string, anchors []caseLit) (string, int) {
	if !strings.HasPrefix(expr, templateHead) {
		return "", 0
	}
	// The keyword group ends at the ')' balancing templateHead's '('.
	end := -1
	walkGroups(expr, len(templateHead), func(i, depth int) bool {
		if expr[i] == ')' && depth == -1 {
			end = i
			return false
		}
		return true
	})
	if end < 0 || !strings.HasPrefix(expr[end+1:], templateMid) {
		return "", 0
	}
	kw, err := syntax.Parse("(?i)"+expr[len(templateHead):end], syntax.Perl)
	if err != nil {
		return "", 0
	}
	li := literalInfo(kw)
	if !li.isEx || len(li.exact) != len(anchors) || len(minimalSet(li.exact)) != len(li.exact) {
		return "", 0 // some keyword is not an anchor: no exact emulation
	}
	core := "(?i)^(?:" + expr[len(templateHead):end] + ")" + expr[end+1:]
	if _, err := syntax.Parse(core, syntax.Perl); err != nil {
		return "", 0
	}
	return core, 50
}

// templatePrefix parses the identifier part of a semi-generic rule.
func templatePrefix(expr string) (*syntax.Regexp, bool) {
	i := strings.Index(expr, templateMid)
	if i < 0 || !strings.Contains(expr[i:], templateOp) {
		return nil, false
	}
	prefix := expr[:i]
	for extra := 0; extra < 4; extra++ {
		if t, err := syntax.Parse(prefix+strings.Repeat(")", extra), syntax.Perl); err == nil {
			return t, true
		}
	}
	return nil, false
}

// templateWindow builds the window function of a gitleaks semi-generic
// rule, `[\w.-]{0,50}?KEYWORD[ \t\w.-]{0,20}[\s'"]{0,3}OP[\x60'"\s=]{0,5}(VALUE)TERM`:
// the match starts in the identifier run before the keyword and ends just
// after a run of value characters that starts within ten bytes of the
// operator; no operator, or no run as long as the shortest value, no match.
func templateWindow(expr string, before int) func(string, int, int, *tmplCache) (int, int, bool) {
	minVal, valSet, termSet := 1, (*[256]bool)(nil), (*[256]bool)(nil)
	termEmpty := true
	if i := strings.Index(expr, templateOp); i >= 0 {
		suffix := expr[i+len(templateOp):]
		if strings.HasPrefix(expr, "(?i)") {
			suffix = "(?i)" + suffix
		}
		if t, err := syntax.Parse(suffix, syntax.Perl); err == nil {
			if c := firstCapture(t); c != nil {
				var s [256]bool
				byteUnion(c, &s)
				valSet = &s
				minVal = maxInt(1, minMatchLen(c))
				// what must follow the value: the node after the capture
				// (only for gitleaks' standard terminator, whose only empty
				// alternative is the end of the text)
				if t.Op == syntax.OpConcat && strings.HasSuffix(expr, gitleaksTerm) {
					for k, sub := range t.Sub {
						if sub == c && k+1 < len(t.Sub) {
							var ts [256]bool
							termEmpty = firstBytes(t.Sub[k+1], &ts)
							termSet = &ts
						}
					}
				}
			}
		}
	}
	var notTerm *[256]bool
	if termSet != nil {
		notTerm = complement(termSet)
	}
	maxRun := 4096
	return func(text string, s, e int, c *tmplCache) (int, int, bool) {
		o := operatorAfterCached(text, e, &c.ident)
		if o < 0 {
			return 0, 0, false
		}
		hi := -1
		if valSet == nil {
			hi = minInt(len(text), o+1024)
		} else {
			for p := o + 1; p <= o+10 && p < len(text); p++ {
				// the run of value bytes at p, at most maxRun long: runs
				// and terminators are cached, neighbouring hits share them
				q := minInt(c.val.runEnd(text, p, valSet), p+maxRun)
				if q-p < minVal || q <= hi {
					continue
				}
				// The value must be followed by the terminator: somewhere
				// in the run if terminator bytes are value bytes, else at
				// its end.
				if termSet != nil && !(termEmpty && q == len(text)) {
					x := p + minVal
					if x >= len(text) {
						continue
					}
					if x = c.term.runEnd(text, x, notTerm); x > q || x >= len(text) {
						continue
					}
				}
				hi = q
			}
			if hi < 0 {
				return 0, 0, false
			}
			hi = minInt(len(text), hi+2) // the terminator: a byte, or \n
		}
		lo := s
		for lo > 0 && s-lo < before && isWordDotDash(text[lo-1]) {
			lo--
		}
		return lo, hi, true
	}
}

// tmplCache holds a template rule's cached runs during one scan.
type tmplCache struct {
	ident, val, term spanCache
}

func isWordDotDash(c byte) bool {
	return c == '_' || c == '.' || c == '-' || ('0' <= c && c <= '9') || ('a' <= c|0x20 && c|0x20 <= 'z')
}

// operatorAfterCached returns the position of the assignment-like operator of
// gitleaks' semi-generic template after a keyword ending at i: identifier
// characters or blanks, at most three quotes or spaces, then one of
// = > : | ? , — or -1.
func operatorAfterCached(text string, i int, c *spanCache) int {
	if j := c.runEnd(text, i, identOrBlankSet); j-i > 160 {
		return -1 // the operator must come within 160 bytes
	} else {
		i = j
	}
	for k := 0; k < 3 && i < len(text) && isSpaceOrQuote(text[i]); k++ {
		i++
	}
	if i >= len(text) {
		return -1
	}
	switch text[i] {
	case '=', '>', ':', '|', '?', ',':
		return i
	}
	return -1
}

func isIdentOrBlank(c byte) bool {
	return c == '_' || c == '.' || c == '-' || c == ' ' || c == '\t' ||
		('0' <= c && c <= '9') || ('a' <= c|0x20 && c|0x20 <= 'z')
}

func isSpaceOrQuote(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f', '\v', '\'', '"':
		return true
	}
	return false
}

func (r *rule) coreRegexp() *regexp.Regexp {
	r.coreOnce.Do(func() { r.coreRE = regexp.MustCompile(r.core) })
	return r.coreRE
}

// runTemplate is the fast path of gitleaks' standard semi-generic rules,
// `(?i)[\w.-]{0,50}?(?:KEYWORDS)REST`, whose anchors are exactly the
// keywords. It gives the matches FindAll would give on the whole text: a
// match starts at the smallest keyword position k where `^(?:KEYWORDS)REST`
// matches (the lazy prefix tries keyword positions in order), as far left
// as the identifier run allows, at most 50 bytes before k and not before
// the previous match's end; the anchored expression yields its groups.
func (rs *ruleSet) runTemplate(text string, r *rule, hits []hit, st *scanState) {
	prevEnd := 0
	lastK := -1
	var m []int
	st.tmpl = tmplCache{}
	for i, h := range hits {
		if i%checkEvery == checkEvery-1 && st.stopped() {
			return
		}
		k, e := int(h.start), int(h.end)
		if k < prevEnd || k == lastK {
			continue
		}
		lastK = k
		_, hi, ok := r.window(text, k, e, &st.tmpl)
		if !ok {
			continue
		}
		g := r.coreRegexp().FindStringSubmatchIndex(text[k:hi])
		if g == nil {
			continue
		}
		s := k
		for s > prevEnd && k-s < r.tmplPrefix && isWordDotDash(text[s-1]) {
			s--
		}
		m = append(m[:0], g...)
		for i := range m {
			if m[i] >= 0 {
				m[i] += k
			}
		}
		m[0] = s
		prevEnd = m[1]
		// gitleaks trims newlines off the match; the start is an identifier
		// byte, so only the end can move.
		for m[1] > m[0] && text[m[1]-1] == '\n' {
			m[1]--
		}
		rs.emit(text, r, m, st)
	}
}

// walkGroups calls visit at each '(', ')' and '|' of the regular
// expression expr from byte from on, outside escapes and character
// classes, with the nesting depth after that byte relative to from (a ')'
// closing a group opened before from gives -1). It stops when visit
// returns false.
func walkGroups(expr string, from int, visit func(i, depth int) bool) {
	depth := 0
	for i := from; i < len(expr); i++ {
		switch expr[i] {
		case '\\':
			i++
		case '[':
			for i++; i < len(expr) && expr[i] != ']'; i++ {
				if expr[i] == '\\' {
					i++
				}
			}
		case '(', ')', '|':
			switch expr[i] {
			case '(':
				depth++
			case ')':
				depth--
			}
			if !visit(i, depth) {
				return
			}
		}
	}
}

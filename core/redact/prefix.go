package redact

import (
	"regexp"
	"regexp/syntax"
	"strings"
)

// Rules whose every match starts with one of their anchors (`glpat-…`,
// `\bghp_…`, `AKIA…`) need not run their expression over merged windows:
// when a keyword is repeated, the windows merge into the whole text and Go's
// regexp then crawls through it with every bounded repetition alive. As a
// match can only start at a hit, FindAll's leftmost-first matches are found
// by trying the expression anchored at each hit in order, skipping the hits
// inside the previous match: each try stops as soon as the match can no
// longer extend.

// prefixCore returns `^(?:EXPR)` when every anchor starts every match it is
// in (nothing before it), with a leading \b taken out (leadWB: checked on the
// text, where the byte before the hit is known), or "".
func prefixCore(tree *syntax.Regexp, anchors []caseLit) (string, bool) {
	for _, a := range anchors {
		if a.pre != 0 || a.preNL != 0 || a.orig == "" || !isASCIIWord(a.orig[0]) {
			return "", false
		}
	}
	rest, leadWB := tree, false
	if rest.Op == syntax.OpConcat && len(rest.Sub) > 1 && rest.Sub[0].Op == syntax.OpWordBoundary {
		rest = &syntax.Regexp{Op: syntax.OpConcat, Flags: rest.Flags, Sub: rest.Sub[1:]}
		leadWB = true
	}
	if leadingAssertion(rest) {
		return "", false // an assertion the anchored expression cannot see
	}
	core := "^(?:" + rest.String() + ")"
	t, err := syntax.Parse(core, syntax.Perl)
	if err != nil || t.CapNames() == nil || len(t.CapNames()) != len(tree.CapNames()) {
		return "", false
	}
	return core, leadWB
}

// leadingAssertion reports whether re can begin with an empty-width
// assertion other than a \b the anchored form gets right.
func leadingAssertion(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpBeginText, syntax.OpNoWordBoundary, syntax.OpWordBoundary,
		syntax.OpEndLine, syntax.OpEndText, syntax.OpEmptyMatch:
		return true
	case syntax.OpCapture:
		return leadingAssertion(re.Sub[0])
	case syntax.OpConcat:
		return len(re.Sub) > 0 && leadingAssertion(re.Sub[0])
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if leadingAssertion(s) {
				return true
			}
		}
	case syntax.OpStar, syntax.OpQuest, syntax.OpRepeat, syntax.OpPlus:
		return true // may match nothing, or start with anything
	}
	return false
}

func isASCIIWord(c byte) bool {
	return c == '_' || ('0' <= c && c <= '9') || ('a' <= c|0x20 && c|0x20 <= 'z')
}

func (r *rule) prefixRegexp() *regexp.Regexp {
	r.prefixOnce.Do(func() {
		if re, err := regexp.Compile(r.prefix); err == nil {
			r.prefixRE = re
		}
	})
	return r.prefixRE
}

// runPrefix finds r's matches by trying its anchored expression at each
// hit (see the comment above).
func (rs *ruleSet) runPrefix(text string, r *rule, hits []hit, st *scanState) {
	re := r.prefixRegexp()
	st.later = append(st.later[:0], make([]laterCache, len(r.later))...)
	prevEnd, lastP := 0, -1
	for i, h := range hits {
		if i%checkEvery == checkEvery-1 && st.stopped() {
			return
		}
		p, e := int(h.start), int(h.end)
		if p < prevEnd || p == lastP {
			continue
		}
		lastP = p
		if r.leadWB && p > 0 && isASCIIWord(text[p-1]) {
			continue // the anchor starts with a word byte: \b needs a non-word one before
		}
		if !r.laterPresent(text, e, st) {
			continue
		}
		a := &r.anchors[h.anchor]
		hi := minInt(len(text), p+minInt(a.post, capUnbounded))
		if hi < e {
			hi = e
		}
		if a.postNL < unbounded {
			hi = minInt(hi, st.lines.endFwd(text, e, a.postNL, hi))
		}
		hi = widenHi(text, hi)
		m := re.FindStringSubmatchIndex(text[p:hi])
		if m == nil {
			continue
		}
		for k := range m {
			if m[k] >= 0 {
				m[k] += p
			}
		}
		if m[1] > m[0] {
			prevEnd = m[1]
		}
		rs.found(text, r, m, st)
	}
}

// splitAlternatives splits a gitleaks expression `A|B` (alternatives at the
// top level, e.g. a semi-generic template or a token format) into rules
// of their own, so that each takes its fast path instead of the slow
// general one. The findings are those of the whole expression: a match of
// the whole is a match of one alternative, and the secret is the first
// non-empty group either way (only done when the rule names no group);
// overlapping matches of two alternatives merge into one finding. Leading
// flags apply to every alternative.
func splitAlternatives(g glRule) []string {
	if g.SecretGroup != 0 {
		return []string{g.Regex}
	}
	if _, ok := anchorOverride[g.ID]; ok {
		return []string{g.Regex}
	}
	t, err := syntax.Parse(g.Regex, syntax.Perl)
	if err != nil || t.Op != syntax.OpAlternate {
		return []string{g.Regex}
	}
	expr, flags := g.Regex, ""
	if strings.HasPrefix(expr, "(?i)") {
		expr, flags = expr[4:], "(?i)"
	}
	var parts []string
	last := 0
	walkGroups(expr, 0, func(i, depth int) bool {
		if expr[i] == '|' && depth == 0 {
			parts = append(parts, flags+expr[last:i])
			last = i + 1
		}
		return true
	})
	parts = append(parts, flags+expr[last:])
	if len(parts) != len(t.Sub) {
		return []string{g.Regex} // not the split the parser sees
	}
	for _, p := range parts {
		if _, err := syntax.Parse(p, syntax.Perl); err != nil {
			return []string{g.Regex}
		}
	}
	return parts
}

package redact

import (
	"math"
	"regexp/syntax"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file analyses a regular expression's syntax tree to drive the fast
// path: which literals every match must contain (the anchors the keyword
// automaton looks for), and how far a match can extend around such a literal
// (bytes and newlines), so that the expression only runs on small windows.

const (
	unbounded = math.MaxInt32

	maxExactSet = 64 // largest literal set kept exact before giving up
	maxExactLen = 64 // longest literal kept (fits a uint64 case mask)
)

// litInfo summarises what a sub-expression's matches contain. Exactly one of
// exact (the node matches one of these strings) or need (every match
// contains one of these strings) is meaningful; both nil means "anything".
type litInfo struct {
	exact []caseLit
	need  []caseLit
	isEx  bool
}

// caseLit is a literal with its original case: orig holds the bytes the
// regular expression asked for, fold the positions where case is ignored.
type caseLit struct {
	orig string
	fold uint64
	// follow is the node that comes right after the literal in its
	// concatenation, when known: hits are checked against its first
	// character run (e.g. "s." must be followed by 24 alphanumerics).
	follow *syntax.Regexp
	next   *syntax.Regexp // the node after follow in the same concatenation
	// followLast: follow ends its concatenation, so next is what comes
	// after the enclosing node (set when an enclosing concatenation knows)
	followLast bool
	// Extent of a match around an occurrence of the literal: at most pre
	// bytes (preNL newlines) before its start, at most post bytes (postNL
	// newlines) from its start to the match's end. unbounded if unknown.
	pre, post, preNL, postNL int
}

// mkExact is a literal that is a whole match.
func mkExact(orig string, fold uint64) caseLit {
	return caseLit{orig: orig, fold: fold, post: len(orig), postNL: strings.Count(orig, "\n")}
}

func (c caseLit) lower() string { return lowerASCIIString(c.orig) }

// matchAt reports whether s (same length) satisfies the literal.
func (c caseLit) matchAt(s string) bool {
	if len(s) != len(c.orig) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], c.orig[i]
		if c.fold&(1<<uint(i)) != 0 {
			a, b = lowerASCII(a), lowerASCII(b)
		}
		if a != b {
			return false
		}
	}
	return true
}

// followCheck is a necessary condition on the bytes right after an anchor:
// at least min bytes of set.
type followCheck struct {
	set *[256]bool
	min int
	// after, when set, is disjoint from set and what must come right after
	// the run: the run is then exactly the maximal one, at most max bytes
	// long (max < 0: unbounded).
	after *[256]bool
	max   int
	atEnd bool // the end of the text may follow the run too
}

func (f followCheck) ok(text string, e int) bool {
	if f.set == nil {
		return true
	}
	if e+f.min > len(text) {
		return false
	}
	for i := e; i < e+f.min; i++ {
		if !f.set[text[i]] {
			return false
		}
	}
	return true
}

// okRun is ok given the end of the maximal run of f.set bytes from e.
func (f followCheck) okRun(text string, e, runEnd int) bool {
	n := runEnd - e
	if n < f.min {
		return false
	}
	if f.after == nil {
		return true
	}
	if f.max >= 0 && n > f.max {
		return false
	}
	if runEnd == len(text) {
		return f.atEnd
	}
	return f.after[text[runEnd]]
}

// followOf derives a followCheck from the node following an anchor (its
// leading run of one character class) and from the node after that (next).
func followOf(re, next *syntax.Regexp) followCheck {
	if re == nil {
		return followCheck{}
	}
	switch re.Op {
	case syntax.OpCapture:
		return followOf(re.Sub[0], next)
	case syntax.OpConcat:
		if len(re.Sub) == 1 {
			return followOf(re.Sub[0], next)
		}
		if len(re.Sub) > 1 {
			return followOf(re.Sub[0], re.Sub[1])
		}
	case syntax.OpRepeat:
		if re.Min >= 1 {
			if s := byteSet(re.Sub[0]); s != nil {
				return followCheck{set: s, min: minInt(re.Min, 512)}.then(re.Max, next)
			}
		}
	case syntax.OpPlus:
		if s := byteSet(re.Sub[0]); s != nil {
			return followCheck{set: s, min: 1}.then(-1, next)
		}
	case syntax.OpCharClass, syntax.OpLiteral, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		if s := byteSet(re); s != nil {
			return followCheck{set: s, min: 1}.then(1, next)
		}
	}
	return followCheck{}
}

// then adds what must follow a run of at most max bytes of f.set: the
// first bytes of next, when next cannot match the empty string and cannot
// start with a byte of the run.
func (f followCheck) then(max int, next *syntax.Regexp) followCheck {
	if next == nil {
		return f
	}
	var t [256]bool
	ok, atEnd := firstBytesOrEnd(next, &t)
	if !ok {
		return f
	}
	for b := range t {
		if t[b] && f.set[b] {
			return f
		}
	}
	f.after, f.max, f.atEnd = &t, -1, atEnd
	if max >= 0 {
		f.max = max
		for b := utf8.RuneSelf; b < 256; b++ {
			if f.set[b] {
				f.max = mulLen(max, utf8.UTFMax) // a rune may take 4 bytes
				break
			}
		}
	}
	return f
}

// firstBytesOrEnd is firstBytes for a node that must consume a byte or be
// at the end of the text (gitleaks' terminator `(?:[\x60'"\s;]|\\[nr]|$)`):
// ok is false when it can match the empty string elsewhere.
func firstBytesOrEnd(re *syntax.Regexp, t *[256]bool) (ok, atEnd bool) {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	switch re.Op {
	case syntax.OpEndText:
		return true, true
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			if sub.Op == syntax.OpEndText {
				atEnd = true
			} else if firstBytes(sub, t) {
				return false, false
			}
		}
		return true, atEnd
	}
	return !firstBytes(re, t), false
}

// byteSet is the set of first bytes a one-character node can match; bytes
// >= 0x80 are included when the node can match any non-ASCII rune.
func byteSet(re *syntax.Regexp) *[256]bool {
	var s [256]bool
	switch re.Op {
	case syntax.OpAnyChar:
		for i := range s {
			s[i] = true
		}
	case syntax.OpAnyCharNotNL:
		for i := range s {
			s[i] = i != '\n'
		}
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			for r := lo; r <= hi && r < utf8.RuneSelf; r++ {
				s[r] = true
			}
			if hi >= utf8.RuneSelf {
				for b := 0x80; b < 256; b++ {
					s[b] = true
				}
			}
		}
	case syntax.OpLiteral:
		if len(re.Rune) != 1 {
			return nil
		}
		r := re.Rune[0]
		if r >= utf8.RuneSelf {
			return nil
		}
		s[r] = true
		if re.Flags&syntax.FoldCase != 0 && isASCIILetter(byte(r)) {
			s[r|0x20] = true
			s[r&^0x20] = true
			// K and S also fold to non-ASCII runes
			for b := 0x80; b < 256; b++ {
				s[b] = true
			}
		}
	default:
		return nil
	}
	return &s
}

func anyInfo() litInfo { return litInfo{} }

func exactInfo(ls ...caseLit) litInfo { return litInfo{exact: ls, isEx: true} }

// toNeed converts an exact set into a requirement; a set containing the empty
// string requires nothing.
func (li litInfo) toNeed() litInfo {
	if !li.isEx {
		return li
	}
	for _, l := range li.exact {
		if l.orig == "" {
			return anyInfo()
		}
	}
	return litInfo{need: minimalSet(li.exact)}
}

// minimalSet drops literals that contain another literal of the set (finding
// the shorter one is enough) and duplicates.
func minimalSet(ls []caseLit) []caseLit {
	sorted := append([]caseLit(nil), ls...)
	sort.Slice(sorted, func(i, j int) bool {
		if len(sorted[i].orig) != len(sorted[j].orig) {
			return len(sorted[i].orig) < len(sorted[j].orig)
		}
		return sorted[i].orig < sorted[j].orig
	})
	var out []caseLit
next:
	for _, l := range sorted {
		for i := range out {
			k := &out[i]
			// Only drop when the shorter one is case-insensitive wherever the
			// longer one is, to stay conservative: compare lowercased and
			// require the shorter literal to be fully folded or equal. The
			// kept literal may now be hit inside the dropped one: widen its
			// extents to cover that.
			same := k.orig == l.orig && k.fold == l.fold
			if same || strings.Contains(l.lower(), k.lower()) && k.fold == (1<<uint(len(k.orig)))-1 {
				lo, ko := l.lower(), k.lower()
				for o := strings.Index(lo, ko); o >= 0; {
					k.pre = maxInt(k.pre, addLen(l.pre, o))
					k.post = maxInt(k.post, l.post-o)
					if l.post >= unbounded {
						k.post = unbounded
					}
					nx := strings.Index(lo[o+1:], ko)
					if nx < 0 {
						break
					}
					o += 1 + nx
				}
				k.preNL = maxInt(k.preNL, addLen(l.preNL, strings.Count(l.orig, "\n")))
				k.postNL = maxInt(k.postNL, l.postNL)
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// needScore ranks requirement sets: longer shortest literal first, then
// fewer literals.
func needScore(ls []caseLit) (int, int) {
	if len(ls) == 0 {
		return 0, 0
	}
	m := unbounded
	for _, l := range ls {
		if len(l.orig) < m {
			m = len(l.orig)
		}
	}
	return m, -len(ls)
}

func betterNeed(a, b []caseLit) bool {
	am, an := needScore(a)
	bm, bn := needScore(b)
	if am != bm {
		return am > bm
	}
	return an > bn
}

func cross(a, b []caseLit) ([]caseLit, bool) {
	if len(a)*len(b) > maxExactSet {
		return nil, false
	}
	out := make([]caseLit, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			if len(x.orig)+len(y.orig) > maxExactLen {
				return nil, false
			}
			out = append(out, mkExact(x.orig+y.orig, x.fold|y.fold<<uint(len(x.orig))))
		}
	}
	return out, true
}

// literalInfo analyses re. The result's need set (after toNeed) lists the
// literals one of which every match contains; empty means no such literal
// was found.
func literalInfo(re *syntax.Regexp) litInfo {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return exactInfo(caseLit{})
	case syntax.OpLiteral:
		fold := re.Flags&syntax.FoldCase != 0
		var b strings.Builder
		var mask uint64
		for _, r := range re.Rune {
			if r >= utf8.RuneSelf {
				if fold {
					return anyInfo()
				}
				b.WriteRune(r)
				continue
			}
			if fold && isASCIILetter(byte(r)) {
				if b.Len() >= 64 {
					return anyInfo()
				}
				mask |= 1 << uint(b.Len())
			}
			b.WriteByte(byte(r))
		}
		if b.Len() > maxExactLen {
			return anyInfo()
		}
		return exactInfo(mkExact(b.String(), mask))
	case syntax.OpCharClass:
		n := 0
		for i := 0; i+1 < len(re.Rune); i += 2 {
			n += int(re.Rune[i+1]-re.Rune[i]) + 1
			if n > 4 {
				return anyInfo()
			}
		}
		if n == 0 {
			return anyInfo()
		}
		var ls []caseLit
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if r >= utf8.RuneSelf {
					return anyInfo()
				}
				ls = append(ls, mkExact(string(rune(r)), 0))
			}
		}
		return exactInfo(ls...)
	case syntax.OpCapture:
		return literalInfo(re.Sub[0])
	case syntax.OpQuest:
		sub := literalInfo(re.Sub[0])
		if sub.isEx && len(sub.exact) < maxExactSet {
			return exactInfo(append(append([]caseLit(nil), sub.exact...), caseLit{})...)
		}
		return anyInfo()
	case syntax.OpPlus:
		return repeated(literalInfo(re.Sub[0]).toNeed(), re.Sub[0], -1)
	case syntax.OpRepeat:
		sub := literalInfo(re.Sub[0])
		if re.Min == 0 {
			if re.Max == 1 && sub.isEx && len(sub.exact) < maxExactSet {
				return exactInfo(append(append([]caseLit(nil), sub.exact...), caseLit{})...)
			}
			return anyInfo()
		}
		if sub.isEx && re.Min == re.Max {
			cur := []caseLit{{}}
			ok := true
			for i := 0; i < re.Min && ok; i++ {
				cur, ok = cross(cur, sub.exact)
			}
			if ok {
				return exactInfo(cur...)
			}
		}
		return repeated(sub.toNeed(), re.Sub[0], re.Max)
	case syntax.OpConcat:
		// Prefix and suffix sums of the children's extents, to place a
		// literal found in children a..b-1 within the whole match.
		n := len(re.Sub)
		pm, pn := make([]int, n+1), make([]int, n+1)
		for i, sub := range re.Sub {
			pm[i+1] = addLen(pm[i], maxMatchLen(sub))
			pn[i+1] = addLen(pn[i], maxNewlines(sub))
		}
		sm, sn := make([]int, n+1), make([]int, n+1)
		for i := n - 1; i >= 0; i-- {
			sm[i] = addLen(sm[i+1], maxMatchLen(re.Sub[i]))
			sn[i] = addLen(sn[i+1], maxNewlines(re.Sub[i]))
		}
		place := func(ls []caseLit, a, b int, follow *syntax.Regexp, setFollow bool) []caseLit {
			out := make([]caseLit, len(ls))
			for i, l := range ls {
				if setFollow {
					l.follow, l.next, l.followLast = follow, nil, false
					if follow != nil && b+1 < n {
						l.next = re.Sub[b+1] // follow is re.Sub[b]
					}
					l.followLast = follow != nil && b+1 == n
				} else if l.follow != nil && l.next == nil && l.followLast && b < n {
					// the literal's run ends the child re.Sub[b-1]
					l.next, l.followLast = re.Sub[b], false
				}
				l.pre, l.preNL = addLen(pm[a], l.pre), addLen(pn[a], l.preNL)
				l.post, l.postNL = addLen(l.post, sm[b]), addLen(l.postNL, sn[b])
				out[i] = l
			}
			return out
		}
		cur := []caseLit{{}}
		curStart := 0
		var best []caseLit
		flushed := false
		flush := func(end int, follow *syntax.Regexp) {
			nd := exactInfo(cur...).toNeed()
			if len(nd.need) > 0 && (best == nil || betterNeed(nd.need, best)) {
				best = place(nd.need, curStart, end, follow, true)
			}
			cur = []caseLit{{}}
			curStart = end
		}
		for i, sub := range re.Sub {
			si := literalInfo(sub)
			if si.isEx {
				if next, ok := cross(cur, si.exact); ok {
					cur = next
					continue
				}
				flush(i, nil)
				flushed = true
				cur = si.exact
				continue
			}
			flush(i, sub)
			flushed = true
			curStart = i + 1
			if len(si.need) > 0 && (best == nil || betterNeed(si.need, best)) {
				best = place(si.need, i, i+1, nil, false)
			}
		}
		if !flushed {
			return exactInfo(cur...)
		}
		flush(n, nil)
		if best == nil {
			return anyInfo()
		}
		return litInfo{need: best}
	case syntax.OpAlternate:
		allExact := true
		var ex []caseLit
		for _, sub := range re.Sub {
			si := literalInfo(sub)
			if !si.isEx {
				allExact = false
				break
			}
			ex = append(ex, si.exact...)
		}
		if allExact && len(ex) <= maxExactSet {
			return exactInfo(ex...)
		}
		var need []caseLit
		for _, sub := range re.Sub {
			si := literalInfo(sub).toNeed()
			if len(si.need) == 0 {
				return anyInfo()
			}
			need = append(need, si.need...)
		}
		return litInfo{need: minimalSet(need)}
	}
	return anyInfo()
}

// repeated places the literals of a repeated sub-expression (max
// repetitions, -1: unbounded): other repetitions may come before and after.
func repeated(li litInfo, sub *syntax.Regexp, max int) litInfo {
	if len(li.need) == 0 {
		return li
	}
	extra, extraNL := unbounded, unbounded
	if max >= 1 {
		extra, extraNL = mulLen(maxMatchLen(sub), max-1), mulLen(maxNewlines(sub), max-1)
	}
	out := make([]caseLit, len(li.need))
	for i, l := range li.need {
		l.pre, l.preNL = addLen(l.pre, extra), addLen(l.preNL, extraNL)
		l.post, l.postNL = addLen(l.post, extra), addLen(l.postNL, extraNL)
		l.follow, l.next, l.followLast = nil, nil, false
		out[i] = l
	}
	return litInfo{need: out}
}

// anchorsOf returns the literals every match of re contains (one of them at
// least), or nil when none usable was found (shortest shorter than minLen).
func anchorsOf(re *syntax.Regexp, minLen int) []caseLit {
	li := literalInfo(re).toNeed()
	if len(li.need) == 0 {
		return nil
	}
	if m, _ := needScore(li.need); m < minLen {
		return nil
	}
	return li.need
}

// maxRuneBytes is the longest UTF-8 encoding among r and its case variants
// when fold is set.
func maxRuneBytes(r rune, fold bool) int {
	n := utf8.RuneLen(r)
	if n < 0 {
		n = 3 // invalid runes match as U+FFFD
	}
	if fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if l := utf8.RuneLen(f); l > n {
				n = l
			}
		}
	}
	return n
}

func addLen(a, b int) int {
	if a >= unbounded || b >= unbounded {
		return unbounded
	}
	return a + b
}

func mulLen(a, n int) int {
	if a == 0 {
		return 0
	}
	if a >= unbounded || n >= unbounded || n < 0 {
		return unbounded
	}
	if a*n >= unbounded {
		return unbounded
	}
	return a * n
}

// maxMatchLen is the longest match of re in bytes (unbounded if none).
func maxMatchLen(re *syntax.Regexp) int {
	return maxOver(re, func(re *syntax.Regexp) int {
		switch re.Op {
		case syntax.OpLiteral:
			n := 0
			for _, r := range re.Rune {
				n += maxRuneBytes(r, re.Flags&syntax.FoldCase != 0)
			}
			return n
		case syntax.OpCharClass:
			if len(re.Rune) == 0 {
				return 0
			}
			hi := re.Rune[len(re.Rune)-1]
			n := utf8.RuneLen(hi)
			if n < 0 {
				n = 4
			}
			return n
		case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
			return 4
		}
		return 0
	})
}

// maxNewlines is the largest number of '\n' a match of re can contain.
func maxNewlines(re *syntax.Regexp) int {
	return maxOver(re, func(re *syntax.Regexp) int {
		switch re.Op {
		case syntax.OpLiteral:
			n := 0
			for _, r := range re.Rune {
				if r == '\n' {
					n++
				}
			}
			return n
		case syntax.OpCharClass:
			for i := 0; i+1 < len(re.Rune); i += 2 {
				if re.Rune[i] <= '\n' && '\n' <= re.Rune[i+1] {
					return 1
				}
			}
			return 0
		case syntax.OpAnyChar:
			return 1
		}
		return 0
	})
}

// maxOver is the largest sum, over a match of re, of what leaf counts of
// each single-character part (literal, class, any character); the
// operators (capture, repeats, concatenation, alternation) combine their
// parts' counts, unbounded when a repeat has no maximum.
func maxOver(re *syntax.Regexp, leaf func(*syntax.Regexp) int) int {
	switch re.Op {
	case syntax.OpCapture, syntax.OpQuest:
		return maxOver(re.Sub[0], leaf)
	case syntax.OpStar, syntax.OpPlus:
		return mulLen(maxOver(re.Sub[0], leaf), unbounded)
	case syntax.OpRepeat:
		if re.Max < 0 {
			return mulLen(maxOver(re.Sub[0], leaf), unbounded)
		}
		return mulLen(maxOver(re.Sub[0], leaf), re.Max)
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n = addLen(n, maxOver(s, leaf))
		}
		return n
	case syntax.OpAlternate:
		n := 0
		for _, s := range re.Sub {
			if l := maxOver(s, leaf); l > n {
				n = l
			}
		}
		return n
	}
	return leaf(re)
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func lowerASCIIString(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = lowerASCII(b[j])
			}
			return string(b)
		}
	}
	return s
}

// minMatchLen is the shortest match of re in bytes.
func minMatchLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(string(re.Rune))
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minMatchLen(re.Sub[0])
	case syntax.OpRepeat:
		return mulLen(minMatchLen(re.Sub[0]), re.Min)
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n = addLen(n, minMatchLen(s))
		}
		return n
	case syntax.OpAlternate:
		n := unbounded
		for _, s := range re.Sub {
			if l := minMatchLen(s); l < n {
				n = l
			}
		}
		return n
	}
	return 0
}

// byteUnion is the set of bytes any character of re's matches can be
// (ASCII exactly; every byte >= 0x80 when non-ASCII is possible).
func byteUnion(re *syntax.Regexp, s *[256]bool) {
	switch re.Op {
	case syntax.OpLiteral, syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		if re.Op == syntax.OpLiteral && len(re.Rune) != 1 {
			for _, r := range re.Rune {
				byteUnion(&syntax.Regexp{Op: syntax.OpLiteral, Rune: []rune{r}, Flags: re.Flags}, s)
			}
			return
		}
		if b := byteSet(re); b != nil {
			for i, ok := range b {
				if ok {
					s[i] = true
				}
			}
		} else {
			for i := 0x80; i < 256; i++ {
				s[i] = true
			}
		}
	default:
		for _, sub := range re.Sub {
			byteUnion(sub, s)
		}
	}
}

// firstCapture returns the first capture group of re, if any.
func firstCapture(re *syntax.Regexp) *syntax.Regexp {
	if re.Op == syntax.OpCapture {
		return re
	}
	for _, sub := range re.Sub {
		if c := firstCapture(sub); c != nil {
			return c
		}
	}
	return nil
}

// firstBytes adds to s the bytes a match of re can start with, and reports
// whether re can match the empty string (then what follows it, or the end
// of the text, can come first: callers treat that as "anything").
func firstBytes(re *syntax.Regexp, s *[256]bool) (nullable bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return true
		}
		byteUnion(&syntax.Regexp{Op: syntax.OpLiteral, Rune: re.Rune[:1], Flags: re.Flags}, s)
		return false
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		byteUnion(re, s)
		return false
	case syntax.OpCapture, syntax.OpPlus:
		return firstBytes(re.Sub[0], s)
	case syntax.OpStar, syntax.OpQuest:
		firstBytes(re.Sub[0], s)
		return true
	case syntax.OpRepeat:
		n := firstBytes(re.Sub[0], s)
		return n || re.Min == 0
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !firstBytes(sub, s) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		n := false
		for _, sub := range re.Sub {
			if firstBytes(sub, s) {
				n = true
			}
		}
		return n
	}
	for i := range s {
		s[i] = true
	}
	return true
}

// laterLiterals finds, for a top-level concatenation, the literal sets the
// match requires after the anchor set chosen by literalInfo, with the most
// bytes and newlines that can separate the end of the anchor from them: a
// hit lacking one of them within that reach cannot be part of a match.
type laterLit struct {
	lits      []caseLit
	gapBytes  int // max bytes from the anchor's end to the literal's start
	gapNL     int
	maxLitLen int
}

func laterLiterals(re *syntax.Regexp) []laterLit {
	if re.Op != syntax.OpConcat {
		return nil
	}
	type candidate struct {
		lits []caseLit
		a, b int // children a..b-1
	}
	var cands []candidate
	cur, curStart := []caseLit{{}}, 0
	flush := func(end int) {
		if nd := exactInfo(cur...).toNeed(); len(nd.need) > 0 {
			cands = append(cands, candidate{nd.need, curStart, end})
		}
		cur, curStart = []caseLit{{}}, end
	}
	for i, sub := range re.Sub {
		si := literalInfo(sub)
		if si.isEx {
			if next, ok := cross(cur, si.exact); ok {
				cur = next
				continue
			}
			flush(i)
			cur = si.exact
			continue
		}
		flush(i)
		curStart = i + 1
		if nd := si.toNeed(); len(nd.need) > 0 {
			cands = append(cands, candidate{nd.need, i, i + 1})
		}
	}
	flush(len(re.Sub))
	// The anchor: the first best, as literalInfo picks it.
	best := -1
	for i, c := range cands {
		if best < 0 || betterNeed(c.lits, cands[best].lits) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	var out []laterLit
	for _, c := range cands[best+1:] {
		if m, _ := needScore(c.lits); m < 2 {
			continue
		}
		gap, gapNL := 0, 0
		for _, sub := range re.Sub[cands[best].b:c.a] {
			gap = addLen(gap, maxMatchLen(sub))
			gapNL = addLen(gapNL, maxNewlines(sub))
		}
		if gapNL >= unbounded && gap >= unbounded {
			continue
		}
		l := laterLit{lits: c.lits, gapBytes: gap, gapNL: gapNL}
		for _, x := range c.lits {
			l.maxLitLen = maxInt(l.maxLitLen, len(x.orig))
		}
		out = append(out, l)
	}
	return out
}

package redact

import (
	"context"
	"sort"
)

// Bounded cost. A rule's hits can be dense (a keyword repeated a million
// times), so nothing may cost more than a constant per hit unless it is
// shared with the neighbouring hits: runs of a byte class, the next
// occurrence of a literal and line boundaries are cached per scan and
// answered again for the next hit, each rescan starting where the last one
// stopped. Every scan below is thus linear in the text for a rule, whatever
// the number of hits.

// spanCache remembers one run of bytes of a set: every byte of
// text[from:end] is in the set, and end == len(text) or text[end] is not.
type spanCache struct {
	from, end int
	ok        bool
}

// runEnd returns the end of the run of bytes of set starting at x (x
// itself when text[x] is not in set). Queries at increasing x, or slightly
// decreasing, reuse the cached run: total work is linear in the text.
func (c *spanCache) runEnd(text string, x int, set *[256]bool) int {
	if c.ok && x >= c.from && x <= c.end {
		return c.end
	}
	stop := len(text)
	if c.ok && x < c.from {
		stop = c.from // joins the cached run if the bytes up to it are in set
	}
	j := x
	for j < stop && set[text[j]] {
		j++
	}
	if c.ok && x < c.from && j == c.from {
		c.from = x
		return c.end
	}
	c.from, c.end, c.ok = x, j, true
	return j
}

// complement returns the set of bytes not in s.
func complement(s *[256]bool) *[256]bool {
	var c [256]bool
	for i := range c {
		c[i] = !s[i]
	}
	return &c
}

// setOf returns the set of bytes for which f is true.
func setOf(f func(byte) bool) *[256]bool {
	var s [256]bool
	for i := range s {
		s[i] = f(byte(i))
	}
	return &s
}

var identOrBlankSet = setOf(isIdentOrBlank)

// lines indexes the newlines of a text, built on first use in a scan:
// the n-th line above or below a position is then a binary search instead
// of a walk that, per hit, could cross the whole text.
type lines struct {
	nl    []int32
	built bool
}

func (l *lines) reset() { l.nl, l.built = l.nl[:0], false }

func (l *lines) index(text string) []int32 {
	if !l.built {
		l.built = true
		for i := 0; i < len(text); i++ {
			if text[i] == '\n' {
				l.nl = append(l.nl, int32(i))
			}
		}
	}
	return l.nl
}

// startBack is lineStartBack: the start of the line n lines above the one
// holding p, not going below floor.
func (l *lines) startBack(text string, p, n, floor int) int {
	nl := l.index(text)
	k := sort.Search(len(nl), func(i int) bool { return int(nl[i]) >= p }) - 1 - n
	if k < 0 || int(nl[k]) < floor {
		return floor
	}
	return int(nl[k]) + 1
}

// endFwd is lineEndFwd: the end (after the '\n') of the line n lines below
// the one holding e-1, not going past ceil.
func (l *lines) endFwd(text string, e, n, ceil int) int {
	nl := l.index(text)
	k := sort.Search(len(nl), func(i int) bool { return int(nl[i]) >= e }) + n
	if k >= len(nl) || int(nl[k]) >= ceil {
		return ceil
	}
	return int(nl[k]) + 1
}

// laterCache remembers, for a laterCheck, the occurrence of one of its
// literals with the smallest end among those starting at or after from:
// [start, end), or end < 0 when there is none.
type laterCache struct {
	from, start, end int
	ok               bool
}

// firstEnd returns the smallest end of an occurrence of one of l's
// literals starting at or after e, or -1.
func (l *laterCheck) firstEnd(text string, e int, c *laterCache) int {
	if c.ok && e >= c.from && (c.end < 0 || e <= c.start) {
		return c.end
	}
	if c.ok && e < c.from {
		// An occurrence starting in [e, from) ends before from+maxLitLen;
		// if there is none, the cached answer holds.
		hi := minInt(len(text), c.from+l.maxLitLen)
		if s, n := l.ac.first(text[e:hi]); n > 0 {
			return e + s + n
		}
		return c.end
	}
	c.from, c.ok = e, true
	if s, n := l.ac.first(text[e:]); n > 0 {
		c.start, c.end = e+s, e+s+n
	} else {
		c.end = -1
	}
	return c.end
}

// first returns the start and length of the occurrence that ends first in
// text (the shortest when several end there), or n == 0.
func (a *automaton) first(text string) (start, n int) {
	if a == nil || a.nstates <= 1 {
		return 0, 0
	}
	delta, class, firstOut := a.delta, &a.class, a.firstOut
	var row uint32
	for i := 0; i < len(text); i++ {
		row = delta[row+uint32(class[text[i]])]
		if row >= firstOut {
			for _, id := range a.out[int(row)/a.nclass] {
				if pl := int(a.patLen[id]); n == 0 || pl < n {
					n = pl
				}
			}
			return i + 1 - n, n
		}
	}
	return 0, 0
}

// around mirrors gitleaks' notion of a finding's line: from the newline
// before the match (included) to the newline after it.
func (l *lines) around(text string, s, e int) (ls, le int) {
	nl := l.index(text)
	k := sort.Search(len(nl), func(i int) bool { return int(nl[i]) >= s }) - 1
	if k >= 0 {
		ls = int(nl[k])
	}
	k = sort.Search(len(nl), func(i int) bool { return int(nl[i]) >= e })
	le = len(text)
	if k < len(nl) {
		le = int(nl[k])
	}
	return ls, le
}

// lineRef is a finding's line for the allowlists that test it; their
// verdict is cached per line, as every finding on a long line would
// otherwise rescan it.
type lineRef struct {
	st     *scanState
	text   string
	ls, le int
}

type lineResult struct {
	a      *allowlist
	ls, le int
	ok     bool
}

func (l *lineRef) match(a *allowlist) bool {
	for i := range l.st.lineRes {
		if c := &l.st.lineRes[i]; c.a == a {
			if c.ls != l.ls || c.le != l.le {
				c.ls, c.le = l.ls, l.le
				c.ok = l.le > l.ls && a.regexMatch(l.text[l.ls:l.le])
			}
			return c.ok
		}
	}
	ok := l.le > l.ls && a.regexMatch(l.text[l.ls:l.le])
	l.st.lineRes = append(l.st.lineRes, lineResult{a, l.ls, l.le, ok})
	return ok
}

// coverIndex answers whether a finding more specific than gitleaks'
// generic rule covers a span, in O(log n) instead of a pass over all
// findings per candidate.
type coverIndex struct {
	start, maxEnd []int // by start; maxEnd: the largest end up to here
}

func (st *scanState) coverIndex() *coverIndex {
	c := &st.cover
	c.start, c.maxEnd = c.start[:0], c.maxEnd[:0]
	fs := st.findings
	sorted := sort.SliceIsSorted(fs, func(i, j int) bool { return fs[i].Start < fs[j].Start })
	if !sorted {
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].Start < fs[j].Start })
	}
	for _, f := range fs {
		if f.prio <= prioGeneric {
			continue
		}
		m := f.End
		if n := len(c.maxEnd); n > 0 && c.maxEnd[n-1] > m {
			m = c.maxEnd[n-1]
		}
		c.start, c.maxEnd = append(c.start, f.Start), append(c.maxEnd, m)
	}
	return c
}

// covers reports whether an indexed finding spans [s, e).
func (c *coverIndex) covers(s, e int) bool {
	k := sort.SearchInts(c.start, s+1) - 1 // last finding starting at or before s
	return k >= 0 && c.maxEnd[k] >= e
}

// backSpan remembers the run of base64 bytes [start, end): start is the
// run's first byte, every byte up to end is in it.
type backSpan struct {
	start, end int
	ok         bool
}

// runStart returns the start of the run of base64 bytes ending at s (s
// itself if text[s-1] is not one). Candidates inside one long run share
// the walk back.
func (c *backSpan) runStart(text string, s int) int {
	if c.ok && c.start <= s && s <= c.end {
		return c.start
	}
	i := s
	floor := 0
	if c.ok && s > c.end {
		floor = c.end
	}
	for i > floor && isB64Byte(text[i-1]) {
		i--
	}
	if c.ok && s > c.end && i == c.end {
		c.end = s
		return c.start
	}
	c.start, c.end, c.ok = i, s, true
	return i
}

// Interruption. A scan checks its context between stages, between rules,
// every scanChunk bytes of the keyword pass and every checkEvery hits or
// candidates: an expired deadline stops the CPU work within a few
// milliseconds, even on a large text.
const (
	scanChunk  = 64 << 10
	checkEvery = 256
)

// scanHookKey carries, in tests, a function called at every check.
type scanHookKey struct{}

// setContext starts a scan under ctx.
func (st *scanState) setContext(ctx context.Context) {
	st.release()
	st.ctx, st.done = ctx, ctx.Done()
	st.hook, _ = ctx.Value(scanHookKey{}).(func())
}

// release ends a scan: its context is forgotten, and so are the pieces of
// the text it memoised.
func (st *scanState) release() {
	st.ctx, st.done, st.err, st.hook = nil, nil, nil, nil
	clear(st.memo)
}

// stopped reports whether the scan must stop: its context is done.
func (st *scanState) stopped() bool {
	if st.err != nil {
		return true
	}
	if st.done == nil {
		return false
	}
	if st.hook != nil {
		st.hook()
	}
	select {
	case <-st.done:
		st.err = st.ctx.Err()
		return true
	default:
		return false
	}
}

// followRun caches the runs of one byte set after anchor hits.
type followRun struct {
	set *[256]bool
	c   spanCache
}

// followOK is f.ok, with long runs measured once for all the hits in them.
func (st *scanState) followOK(f *followCheck, text string, e int) bool {
	if f.set == nil {
		return true
	}
	if f.after == nil && f.min <= 32 {
		return f.ok(text, e)
	}
	if e+f.min > len(text) {
		return false
	}
	for i := range st.follows {
		if st.follows[i].set == f.set {
			return f.okRun(text, e, st.follows[i].c.runEnd(text, e, f.set))
		}
	}
	st.follows = append(st.follows, followRun{set: f.set})
	return f.okRun(text, e, st.follows[len(st.follows)-1].c.runEnd(text, e, f.set))
}

// memoKey is an allowlist and the match it was tested on.
type memoKey struct {
	a *allowlist
	t string
}

// memoMax bounds the verdicts remembered per scan.
const memoMax = 4096

// memoMatch is a.regexMatch(t), remembered per scan: a value repeated all
// over a text is tested against an allowlist's expression once.
func (l *lineRef) memoMatch(a *allowlist, t string) bool {
	st := l.st
	if ok, hit := st.memo[memoKey{a, t}]; hit {
		return ok
	}
	ok := a.regexMatch(t)
	if st.memo == nil {
		st.memo = map[memoKey]bool{}
	}
	if len(st.memo) < memoMax {
		st.memo[memoKey{a, t}] = ok
	}
	return ok
}

var wordDotDashSet = setOf(isWordDotDash)

// keyedHit is what matchAssignment needs first, with the identifier run
// shared by all the hits in it: the identifier holding the hit ends within
// 128 bytes of it and is followed by what one of matchAssignment's forms
// needs next (an optional quote or "']", blanks, then ':', '=', a call's
// '(' or ',', an XML '>', a line end, `value=`, or — after blanks — a
// Dockerfile, flag or .netrc value). A run of keywords ("SECRETSECRET…")
// then costs a constant per hit.
func keyedHit(text string, k, e int, c *spanCache) bool {
	i := c.runEnd(text, e, wordDotDashSet)
	if i > k+128 {
		return false
	}
	quoted := false
	if i < len(text) && (text[i] == '"' || text[i] == '\'') {
		i++
		quoted = true
		if i < len(text) && text[i] == ']' {
			i++
		}
	}
	b := i
	i = skipBlanks(text, i)
	if i >= len(text) {
		return false
	}
	switch text[i] {
	case ':', '=', '(', ',', '>', '\n', '\r':
		return true
	}
	return i > b || quoted && len(text)-i >= 6 && text[i:i+6] == "value="
}

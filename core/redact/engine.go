package redact

import (
	"context"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"unicode/utf8"
)

// This file holds the fast path shared by every regex-based detector
// (gitleaks' rules, the built-in secret heuristics, custom patterns):
//
//  1. One Aho-Corasick automaton (automaton.go) runs over the text once, ASCII
//     case-insensitively, looking for every rule's gating keywords (gitleaks'
//     `keywords`: a rule only applies when one occurs anywhere in the text,
//     exactly gitleaks' prefilter) and every rule's anchors: literals that
//     every match of the rule's expression contains, derived from its syntax
//     tree (regexinfo.go). A hit is kept if the literal matches with its
//     original case and the bytes after it fit what the expression needs
//     next (e.g. 24 alphanumerics after "s.").
//  2. A rule runs its expression only on windows around its kept hits. The
//     syntax tree also gives, per anchor, how many bytes and newlines a match
//     can extend before and after it: the window covers every match that can
//     contain the hit, and is widened to a line or word boundary so that \b,
//     ^ and $ see the same context as in the whole text. Overlapping windows
//     merge, so a rule never scans more than the text once. Literals the
//     expression requires later (curl ... -u) must be within reach too.
//     Rules whose matches start with an anchor instead try their
//     expression anchored at each hit (prefix.go): merged windows of dense
//     hits would make Go's regexp crawl through the whole text.
//  3. gitleaks' semi-generic rules take an exact plain-Go fast path
//     (template.go); the built-in heuristics are hand-written matchers
//     (secrets.go). A rule with no literal at all runs on the whole text,
//     still only when gated in (none among the built-in rules).
//  4. Candidates then go through gitleaks' checks (secret group, entropy,
//     stop words, allowlists) and ours (validators, notASecret). The costly
//     allowlist expressions of gitleaks' generic rule run last, only for
//     candidates no more specific finding covers (settle).

// rulePriority orders overlapping findings of equal length: more specific
// wins.
const (
	prioPersonal  = 1
	prioGeneric   = 2 // gitleaks' generic rules
	prioHeuristic = 3 // password/secret/token assignments
	prioBuiltin   = 4 // url passwords, auth headers, Mistral keys
	prioSpecific  = 5 // gitleaks' token-format rules
	prioCustom    = 6 // the institution's own terms and patterns
)

// rule is one regex detector. Its expression is compiled on first use
// (gitleaks' 217 expressions take ~100 ms to compile and most texts need a
// handful of them).
type rule struct {
	typ  string
	kind Kind
	prio int

	expr   string
	reOnce sync.Once
	re     *regexp.Regexp

	group int // gitleaks semantics: >0 this group, 0 first non-empty group
	// groupFrom (non-gitleaks rules with group 0): mask the first non-empty
	// group from this index; 0 means 1.
	groupFrom int
	entropy   float64
	keywords  []int32 // gating keyword ids (any of); none: always on
	allow     []*allowlist
	gitleaks  bool // gitleaks semantics and global allowlists

	anchors  []caseLit     // nil: run on the whole text; each with its extents
	follows  []followCheck // per anchor
	later    []laterCheck  // literals required after the anchor, within reach
	template bool          // gitleaks semi-generic: operator must follow the keyword

	// window, when set, replaces the generic window: it returns
	// the part of text every match containing the hit lies in, or ok=false
	// when no match can contain it.
	window func(text string, s, e int, c *tmplCache) (lo, hi int, ok bool)
	// validate, when set, gets the text and the secret's offsets and returns
	// false to drop a candidate (heuristics beyond what a regex says).
	validate func(text string, start, end int) bool

	// core and tmplPrefix: the fast path of standard semi-generic rules
	// (see runTemplate); core is compiled on first use.
	core       string
	coreOnce   sync.Once
	coreRE     *regexp.Regexp
	tmplPrefix int
	// prefix, when set, is `^(?:EXPR)` for a rule whose matches all start
	// with an anchor (EXPR without a leading \b, then leadWB): it runs
	// at each hit instead of over merged windows (see runPrefix).
	prefix     string
	leadWB     bool
	prefixOnce sync.Once
	prefixRE   *regexp.Regexp
	// matcher, when set, replaces the expression: at an anchor hit (s, e)
	// it returns the match and the value to mask.
	matcher func(text string, s, e int) (ms, me, vs, ve int, ok bool)
	// newMatcher, when set, makes the matcher used for one scan, with
	// its own cache of the runs its hits share (see matchProse).
	newMatcher func() func(text string, s, e int) (ms, me, vs, ve int, ok bool)
	// keyed: the matcher needs an assignment operator after the
	// identifier holding the hit (password_assignment)
	keyed bool
}

func (r *rule) regexp() *regexp.Regexp {
	r.reOnce.Do(func() { r.re = regexp.MustCompile(r.expr) })
	return r.re
}

// ruleSet is a compiled set of rules with its automaton.
type ruleSet struct {
	rules    []*rule
	ac       *automaton
	patRefs  [][]patRef // automaton pattern id -> what it means
	nkw      int
	fullScan []int // rules without anchors
	global   []*allowlist
	keywords []string // gating keywords, lowercase; index = keyword id
	terms    []term
}

// dropTrees lets go of the syntax trees the analysis kept: an anchor
// holds the nodes that follow it only to derive its follow check, which
// is done once the set is built. The built-in set is kept for the
// process's life; its trees are some 100 KB scattered over the heap.
func (rs *ruleSet) dropTrees() {
	for _, r := range rs.rules {
		for i := range r.anchors {
			r.anchors[i].follow, r.anchors[i].next = nil, nil
		}
	}
	for _, refs := range rs.patRefs {
		for i := range refs {
			refs[i].anchor.follow, refs[i].anchor.next = nil, nil
		}
	}
}

// patRef is one meaning of an automaton pattern: a gating keyword, an
// anchor of a rule (with its case), or a custom term.
type patRef struct {
	kw     int32 // >= 0: keyword id
	rule   int32 // >= 0: rule index (anchor)
	anchor caseLit
	aidx   int16 // index of the anchor in the rule
	follow followCheck
	term   int32 // >= 0: term index
}

// compileRule analyses expr and fills r's anchors and bounds. eager
// compiles the expression now (custom patterns: errors must surface in New).
func compileRule(r *rule, expr string, eager bool) error {
	tree, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return err
	}
	r.expr = expr
	if eager {
		re, err := regexp.Compile(expr)
		if err != nil {
			return err
		}
		r.reOnce.Do(func() { r.re = re })
	}
	if tree.Op != syntax.OpConcat {
		r.template = false // e.g. TEMPLATE|OTHER: the template shape is not the whole rule
	}
	if r.template {
		// Anchor on the identifier part only, so that the operator check
		// right after the hit is meaningful.
		if prefix, ok := templatePrefix(expr); ok {
			r.anchors = anchorsOf(prefix, 2)
			if r.anchors != nil {
				r.window = templateWindow(expr, maxMatchLen(prefix))
				r.core, r.tmplPrefix = templateCore(expr, r.anchors)
			}
		}
		if r.anchors == nil {
			r.template = false
		}
	}
	if r.anchors == nil {
		r.anchors = anchorsOf(tree, 2)
	}
	if r.anchors == nil {
		// One-byte anchors still beat running on the whole text.
		r.anchors = anchorsOf(tree, 1)
	}
	for _, a := range r.anchors {
		r.follows = append(r.follows, followOf(a.follow, a.next))
	}
	if !r.template && r.anchors != nil {
		r.prefix, r.leadWB = prefixCore(tree, r.anchors)
		for _, l := range laterLiterals(tree) {
			pats := make([]string, len(l.lits))
			for i, x := range l.lits {
				pats[i] = x.lower()
			}
			r.later = append(r.later, laterCheck{ac: newAutomaton(pats), laterLit: l})
		}
	}
	return nil
}

// laterCheck looks for a literal the match needs after the anchor.
type laterCheck struct {
	laterLit
	ac *automaton
}

// present reports whether one of the literals starts within reach after e
// (c: this check's cache for the current scan).
func (l *laterCheck) present(text string, e int, st *scanState, c *laterCache) bool {
	hi := len(text)
	if l.gapBytes < unbounded {
		hi = minInt(hi, e+l.gapBytes+l.maxLitLen)
	}
	if l.gapNL < unbounded {
		// the literal starts within gapNL line breaks, and may hold some
		hi = minInt(hi, minInt(len(text), st.lines.endFwd(text, e, l.gapNL, len(text))+l.maxLitLen))
	}
	if hi-e <= 256 {
		return l.ac.contains(text[e:hi])
	}
	end := l.firstEnd(text, e, c)
	return end >= 0 && end <= hi
}

// build assembles the automaton over keywords, anchors and terms.
func (rs *ruleSet) build() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("building the keyword automaton: %v", p)
		}
	}()
	keywords := rs.keywords
	index := map[string]int32{}
	var pats []string
	add := func(p string, ref patRef) {
		id, ok := index[p]
		if !ok {
			id = int32(len(pats))
			index[p] = id
			pats = append(pats, p)
			rs.patRefs = append(rs.patRefs, nil)
		}
		rs.patRefs[id] = append(rs.patRefs[id], ref)
	}
	rs.nkw = len(keywords)
	for i, k := range keywords {
		add(k, patRef{kw: int32(i), rule: -1, term: -1})
	}
	for i, r := range rs.rules {
		if r.anchors == nil {
			rs.fullScan = append(rs.fullScan, i)
			continue
		}
		for k, a := range r.anchors {
			add(a.lower(), patRef{kw: -1, rule: int32(i), anchor: a, aidx: int16(k), follow: r.follows[k], term: -1})
		}
	}
	for i, t := range rs.terms {
		for _, v := range t.variants {
			add(v, patRef{kw: -1, rule: -1, term: int32(i)})
		}
	}
	rs.ac = newAutomaton(pats)
	return nil
}

// hit is an anchor occurrence for a rule.
type hit struct {
	rule   int32
	start  int32
	end    int32
	anchor int16
}

// scanState is per-Scan scratch memory, pooled.
type scanState struct {
	kwSeen   []bool
	hits     []hit
	windows  [][2]int
	findings []cand
	pending  []pendingCand
	counts   []int32
	sorted   []hit
	acHits   []int32
	lines    lines        // newline index of the text, built on demand
	later    []laterCache // per laterCheck of the rule being run
	tmpl     tmplCache    // template windows of the rule being run
	lineRes  []lineResult // line allowlists' verdicts on the last line seen
	cover    coverIndex
	b64      backSpan // the base64 run before the last secret candidate

	ctx  context.Context
	done <-chan struct{}
	err  error // why the scan stopped
	hook func()

	follows []followRun // runs after anchors, per byte set
	memo    map[memoKey]bool
}

var scanPool = sync.Pool{New: func() any { return new(scanState) }}

// groupHits orders hits by rule (counting sort, stable), then by start
// within a rule (they arrive by end position: nearly sorted already).
func (st *scanState) groupHits(nrules int) {
	if len(st.hits) < 2 {
		return
	}
	if cap(st.counts) < nrules+1 {
		st.counts = make([]int32, nrules+1)
	}
	counts := st.counts[:nrules+1]
	clear(counts)
	for _, h := range st.hits {
		counts[h.rule+1]++
	}
	for i := 1; i <= nrules; i++ {
		counts[i] += counts[i-1]
	}
	if cap(st.sorted) < len(st.hits) {
		st.sorted = make([]hit, len(st.hits))
	}
	out := st.sorted[:len(st.hits)]
	for _, h := range st.hits {
		out[counts[h.rule]] = h
		counts[h.rule]++
	}
	// insertion sort by (rule, start): only out-of-order neighbours move
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].rule == out[j-1].rule && out[j].start < out[j-1].start; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	st.hits, st.sorted = out, st.hits[:0]
}

// scanRules appends the findings of every rule to st.findings.
func (rs *ruleSet) scanRules(text string, st *scanState) {
	if cap(st.kwSeen) < rs.nkw {
		st.kwSeen = make([]bool, rs.nkw)
	}
	st.kwSeen = st.kwSeen[:rs.nkw]
	clear(st.kwSeen)
	st.hits = st.hits[:0]
	st.pending = st.pending[:0]
	st.lines.reset()
	st.lineRes = st.lineRes[:0]
	st.b64 = backSpan{}
	st.follows = st.follows[:0]
	st.acHits = st.acHits[:0]
	var row uint32
	for lo := 0; lo < len(text); lo += scanChunk {
		if st.stopped() {
			return
		}
		st.acHits, row = rs.ac.scanChunk(text, lo, minInt(len(text), lo+scanChunk), row, st.acHits)
	}
	for x := 0; x+1 < len(st.acHits); x += 2 {
		if x%(2*checkEvery*16) == 0 && st.stopped() {
			return
		}
		id, start := st.acHits[x], int(st.acHits[x+1])
		for _, ref := range rs.patRefs[id] {
			switch {
			case ref.kw >= 0:
				st.kwSeen[ref.kw] = true
			case ref.rule >= 0:
				end := start + len(ref.anchor.orig)
				if ref.anchor.matchAt(text[start:end]) && st.followOK(&ref.follow, text, end) {
					st.hits = append(st.hits, hit{rule: ref.rule, start: int32(start), end: int32(end), anchor: ref.aidx})
				}
			case ref.term >= 0:
				rs.terms[ref.term].check(text, start, start+len(rs.ac.patterns[id]), &st.findings)
			}
		}
	}
	st.groupHits(len(rs.rules))
	for i := 0; i < len(st.hits); {
		j := i
		for j < len(st.hits) && st.hits[j].rule == st.hits[i].rule {
			j++
		}
		r := rs.rules[st.hits[i].rule]
		if st.stopped() {
			return
		}
		if rs.gated(r, st.kwSeen) {
			switch {
			case r.matcher != nil:
				rs.runMatcher(text, r, st.hits[i:j], st)
			case r.core != "":
				rs.runTemplate(text, r, st.hits[i:j], st)
			case r.prefix != "" && r.prefixRegexp() != nil:
				rs.runPrefix(text, r, st.hits[i:j], st)
			default:
				rs.runWindows(text, r, st.hits[i:j], st)
			}
		}
		i = j
	}
	for _, ri := range rs.fullScan {
		r := rs.rules[ri]
		if st.stopped() {
			return
		}
		if rs.gated(r, st.kwSeen) {
			rs.runOn(text, r, 0, len(text), st)
		}
	}
	rs.settle(text, st)
}

func (rs *ruleSet) gated(r *rule, seen []bool) bool {
	if len(r.keywords) == 0 {
		return true
	}
	for _, k := range r.keywords {
		if seen[k] {
			return true
		}
	}
	return false
}

// Window bounds, see the file comment.
const (
	capUnbounded = 64 << 10 // bytes searched around a hit when a rule is unbounded
	snapLine     = 256      // how far to look for a line start/end when widening
	snapWord     = 64       // how far to look for a non-word byte otherwise
)

func (rs *ruleSet) runWindows(text string, r *rule, hits []hit, st *scanState) {
	st.windows = st.windows[:0]
	st.tmpl = tmplCache{}
	st.later = append(st.later[:0], make([]laterCache, len(r.later))...)
	for _, h := range hits {
		p, e := int(h.start), int(h.end)
		if r.window != nil {
			lo, hi, ok := r.window(text, p, e, &st.tmpl)
			if !ok {
				continue
			}
			st.addWindow(lo, hi)
			continue
		}
		if !r.laterPresent(text, e, st) {
			continue
		}
		a := &r.anchors[h.anchor]
		before, after := minInt(a.pre, capUnbounded), minInt(a.post, capUnbounded)
		lo := maxInt(0, p-before)
		hi := p + after
		if hi < e {
			hi = e
		}
		if hi > len(text) {
			hi = len(text)
		}
		if a.preNL < unbounded {
			lo = maxInt(lo, st.lines.startBack(text, p, a.preNL, lo))
		}
		if a.postNL < unbounded {
			hi = minInt(hi, st.lines.endFwd(text, e, a.postNL, hi))
		}
		st.addWindow(lo, hi)
	}
	// Widen the merged windows (not each hit's: that would cost up to
	// snapLine bytes per hit), then merge those that now touch.
	ws := st.windows
	st.windows = st.windows[len(ws):]
	for _, w := range ws {
		lo, hi := widen(text, w[0], w[1])
		st.addWindow(lo, hi)
	}
	for _, w := range st.windows {
		if st.stopped() {
			break
		}
		rs.runOn(text, r, w[0], w[1], st)
	}
	st.windows = ws[:0]
}

func (r *rule) laterPresent(text string, e int, st *scanState) bool {
	for i := range r.later {
		if !r.later[i].present(text, e, st, &st.later[i]) {
			return false
		}
	}
	return true
}

func (st *scanState) addWindow(lo, hi int) {
	if n := len(st.windows); n > 0 && lo <= st.windows[n-1][1] {
		st.windows[n-1][0] = minInt(st.windows[n-1][0], lo)
		st.windows[n-1][1] = maxInt(st.windows[n-1][1], hi)
		return
	}
	st.windows = append(st.windows, [2]int{lo, hi})
}

// widen moves window edges outward to a line start/end, or failing that to
// a non-word byte, so assertions at the edges see real context.
func widen(text string, lo, hi int) (int, int) {
	if lo > 0 && text[lo-1] != '\n' {
		floor := maxInt(0, lo-snapLine)
		if j := strings.LastIndexByte(text[floor:lo], '\n'); j >= 0 {
			lo = floor + j + 1
		} else {
			k := lo
			for k > 0 && lo-k < snapWord && isWordByte(text[k-1]) {
				k--
			}
			lo = k
		}
	}
	return lo, widenHi(text, hi)
}

// widenHi is widen's upper edge.
func widenHi(text string, hi int) int {
	if hi < len(text) && (hi == 0 || text[hi-1] != '\n') {
		ceil := minInt(len(text), hi+snapLine)
		if j := strings.IndexByte(text[hi:ceil], '\n'); j >= 0 {
			hi = hi + j + 1
		} else {
			k := hi
			for k < len(text) && k-hi < snapWord && isWordByte(text[k]) {
				k++
			}
			hi = k
		}
	}
	return hi
}

func isWordByte(c byte) bool {
	return c == '_' || ('0' <= c && c <= '9') || ('a' <= c|0x20 && c|0x20 <= 'z') || c >= utf8.RuneSelf
}

// runOn runs r's expression over text[lo:hi] and records its findings,
// with gitleaks' semantics for gitleaks' rules.
func (rs *ruleSet) runOn(text string, r *rule, lo, hi int, st *scanState) {
	re := r.regexp()
	for _, m := range re.FindAllStringSubmatchIndex(text[lo:hi], -1) {
		for i := range m {
			if m[i] >= 0 {
				m[i] += lo
			}
		}
		rs.found(text, r, m, st)
	}
}

// found records a match of r's expression (m: absolute submatch offsets).
func (rs *ruleSet) found(text string, r *rule, m []int, st *scanState) {
	if r.gitleaks {
		// gitleaks trims newlines around the match, then extracts the
		// secret by matching the expression again on the trimmed match.
		match := text[m[0]:m[1]]
		trimmed := strings.Trim(match, "\n")
		if trimmed == "" {
			return
		}
		off := m[0] + strings.Index(match, trimmed)
		g := r.regexp().FindStringSubmatchIndex(trimmed)
		if g == nil {
			return
		}
		for i := range g {
			if g[i] >= 0 {
				g[i] += off
			}
		}
		m = g
	}
	rs.emit(text, r, m, st)
}

// emit applies r's secret-group choice, entropy threshold, allowlists and
// validators to one match (m: absolute submatch offsets) and records it.
func (rs *ruleSet) emit(text string, r *rule, m []int, st *scanState) {
	ms, me := m[0], m[1]
	ss, se := ms, me
	switch {
	case r.gitleaks:
		// gitleaks: the secret group, or the first non-empty group.
		if len(m) > 2 {
			if r.group > 0 {
				if 2*r.group+1 < len(m) {
					ss, se = m[2*r.group], m[2*r.group+1]
					if ss < 0 {
						ss, se = ms, ms
					}
				}
			} else {
				for k := 1; 2*k+1 < len(m); k++ {
					if m[2*k] >= 0 && m[2*k+1] > m[2*k] {
						ss, se = m[2*k], m[2*k+1]
						break
					}
				}
			}
		}
	case len(m) <= 2:
	case r.group > 0:
		if 2*r.group+1 >= len(m) || m[2*r.group] < 0 {
			return
		}
		ss, se = m[2*r.group], m[2*r.group+1]
	default:
		for k := maxInt(1, r.groupFrom); 2*k+1 < len(m); k++ {
			if m[2*k] >= 0 && m[2*k+1] > m[2*k] {
				ss, se = m[2*k], m[2*k+1]
				break
			}
		}
	}
	secret := text[ss:se]
	// Cheapest checks first; a candidate must pass them all.
	if r.entropy != 0 && shannonEntropy(secret) <= r.entropy {
		return
	}
	if se <= ss {
		return
	}
	if r.validate != nil && !r.validate(text, ss, se) {
		return
	}
	if r.kind == KindSecret && (notASecret(text, ss, se, r.typ, &st.b64) || r.gitleaks && sentenceEndedWords(text, ss, se)) {
		return
	}
	if r.gitleaks && (len(rs.global) > 0 || len(r.allow) > 0) {
		// Stop words (one automaton pass) before any allowlist expression.
		if anyStopWord(rs.global, secret) || anyStopWord(r.allow, secret) {
			return
		}
		if r.prio == prioGeneric {
			// Decided in settle: if a more specific finding covers it, its
			// (costly) allowlist expressions need not run at all.
			st.pending = append(st.pending, pendingCand{cand{Finding{Type: r.typ, Kind: r.kind, Start: ss, End: se}, r.prio}, r, ms, me})
			return
		}
		if rs.allowed(text, r, secret, ms, me, st) {
			return
		}
	}
	st.findings = append(st.findings, cand{Finding{Type: r.typ, Kind: r.kind, Start: ss, End: se}, r.prio})
}

// runMatcher runs a hand-written matcher at each hit.
func (rs *ruleSet) runMatcher(text string, r *rule, hits []hit, st *scanState) {
	prevEnd := 0
	var m [4]int
	st.tmpl = tmplCache{}
	match := r.matcher
	if r.newMatcher != nil {
		match = r.newMatcher()
	}
	for i, h := range hits {
		if i%checkEvery == checkEvery-1 && st.stopped() {
			return
		}
		k, e := int(h.start), int(h.end)
		if k < prevEnd {
			continue
		}
		if r.keyed && !keyedHit(text, k, e, &st.tmpl.ident) {
			continue
		}
		ms, me, vs, ve, ok := match(text, k, e)
		if !ok || ms < prevEnd {
			continue
		}
		prevEnd = me
		m = [4]int{ms, me, vs, ve}
		rs.emit(text, r, m[:], st)
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}

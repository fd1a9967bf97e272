package redact

import (
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"sort"
	"strings"
	"sync"
	"time"
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
//     tree (regexinfo.go), and checked with their original case on a hit.
//  2. A rule runs its expression only on windows around its anchor hits. A
//     window covers every match that can contain the hit: it is bounded by
//     the expression's longest match (bytes) and by the most newlines a match
//     can span (lines), then widened to a line or word boundary so that \b, ^
//     and $ see the same context as in the whole text. Overlapping windows
//     are merged, so a rule never scans more than the text once.
//  3. Rules without a usable anchor run on the whole text, still only when
//     gated in. gitleaks' "semi-generic" rules (identifier, operator, value)
//     first check, in plain Go, that an assignment operator follows the
//     keyword; most keyword hits in ordinary code stop there.

// rulePriority orders overlapping findings of equal length: more specific
// wins.
const (
	prioPersonal = 1
	prioGeneric  = 2 // gitleaks' generic rules, assignment heuristics
	prioBuiltin  = 3 // url passwords, auth headers, Mistral keys
	prioSpecific = 4 // gitleaks' token-format rules
	prioCustom   = 5 // the institution's own terms and patterns
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

	anchors  []caseLit     // nil: run on the whole text
	follows  []followCheck // per anchor
	before   int           // bytes a match can start before an anchor hit
	after    int           // bytes a match can end after an anchor hit starts
	beforeNL int           // newlines a match can span before the hit
	afterNL  int           // newlines a match can span after the hit
	template bool          // gitleaks semi-generic: operator must follow the keyword

	// precheck, when set, is a cheap necessary condition on the text right
	// after an anchor hit (s, e: the hit).
	precheck func(text string, s, e int) bool
	// window, when set, replaces precheck and the generic window: it returns
	// the part of text every match containing the hit lies in, or ok=false
	// when no match can contain it.
	window func(text string, s, e int) (lo, hi int, ok bool)
	// validate, when set, gets the text and the secret's offsets and returns
	// false to drop a candidate (heuristics beyond what a regex says).
	validate func(text string, start, end int) bool
	// wholeMatch masks the whole match rather than a capture group.
	wholeMatch bool

	// core and tmplPrefix: the fast path of standard semi-generic rules
	// (see runTemplate).
	core       *regexp.Regexp
	tmplPrefix int
	// matcher, when set, replaces the expression: at an anchor hit (s, e)
	// it returns the match and the value to mask.
	matcher func(text string, s, e int) (ms, me, vs, ve int, ok bool)
}

func (r *rule) regexp() *regexp.Regexp {
	r.reOnce.Do(func() { r.re = regexp.MustCompile(r.expr) })
	return r.re
}

type allowlist struct {
	and       bool
	target    string
	expr      string
	once      sync.Once
	re        *regexp.Regexp
	stopWords []string
	stopAC    *automaton
}

func (a *allowlist) init() {
	a.once.Do(func() {
		if a.expr != "" {
			a.re = regexp.MustCompile(a.expr)
		}
		if len(a.stopWords) > 8 {
			a.stopAC = newAutomaton(a.stopWords)
		}
	})
}

func (a *allowlist) hasStopWord(secret string) bool {
	if a.stopAC != nil {
		found := false
		a.stopAC.scan(secret, func(int32, int) { found = true })
		return found
	}
	ls := strings.ToLower(secret)
	for _, w := range a.stopWords {
		if strings.Contains(ls, w) {
			return true
		}
	}
	return false
}

func (a *allowlist) allowed(secret, match, line string) bool {
	a.init()
	var regexOK, stopOK bool
	if a.re != nil {
		t := secret
		switch a.target {
		case "match":
			t = match
		case "line":
			t = line
		}
		regexOK = t != "" && a.re.MatchString(t)
	}
	if len(a.stopWords) > 0 && secret != "" {
		stopOK = a.hasStopWord(secret)
	}
	if a.and {
		ok := true
		if a.re != nil {
			ok = ok && regexOK
		}
		if len(a.stopWords) > 0 {
			ok = ok && stopOK
		}
		return ok
	}
	return regexOK || stopOK
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

// patRef is one meaning of an automaton pattern: a gating keyword, an
// anchor of a rule (with its case), or a custom term.
type patRef struct {
	kw     int32 // >= 0: keyword id
	rule   int32 // >= 0: rule index (anchor)
	anchor caseLit
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
	maxLen := maxMatchLen(tree)
	maxNL := maxNewlines(tree)
	r.before, r.after = maxLen, maxLen
	r.beforeNL, r.afterNL = maxNL, maxNL
	if r.template {
		// Anchor on the identifier part only, so that the operator check
		// right after the hit is meaningful.
		if prefix, ok := templatePrefix(expr); ok {
			r.anchors = anchorsOf(prefix, 2)
			if r.anchors != nil {
				r.before = maxMatchLen(prefix)
				r.beforeNL = maxNewlines(prefix)
				r.window = templateWindow(expr, r.before)
				r.core, r.tmplPrefix = templateCore(expr, prefix, r.anchors)
			}
		}
		if r.anchors == nil {
			r.template = false
		}
	}
	if r.anchors == nil {
		r.anchors = anchorsOf(tree, 2)
	}
	for _, a := range r.anchors {
		r.follows = append(r.follows, followOf(a.follow))
	}
	return nil
}

// gitleaks' semi-generic template: identifier, then these, then a value.
const (
	templateMid = `(?:[ \t\w.-]{0,20})[\s'"]{0,3}`
	templateOp  = `(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)`
)

// templateHead is how gitleaks' standard semi-generic rules begin.
const templateHead = `(?i)[\w.-]{0,50}?(?:`

// templateCore returns `(?i)^(?:KEYWORDS)REST` for a standard semi-generic
// rule whose anchors are exactly its keywords, or nil.
func templateCore(expr string, prefix *syntax.Regexp, anchors []caseLit) (*regexp.Regexp, int) {
	if !strings.HasPrefix(expr, templateHead) {
		return nil, 0
	}
	// The keyword group ends at the ')' balancing templateHead's '('.
	depth, end := 1, -1
	for i := len(templateHead); i < len(expr) && end < 0; i++ {
		switch expr[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				end = i
			}
		}
	}
	if end < 0 || !strings.HasPrefix(expr[end+1:], templateMid) {
		return nil, 0
	}
	kw, err := syntax.Parse("(?i)"+expr[len(templateHead):end], syntax.Perl)
	if err != nil {
		return nil, 0
	}
	li := literalInfo(kw)
	if !li.isEx || len(li.exact) != len(anchors) || len(minimalSet(li.exact)) != len(li.exact) {
		return nil, 0 // some keyword is not an anchor: no exact emulation
	}
	core, err := regexp.Compile("(?i)^(?:" + expr[len(templateHead):end] + ")" + expr[end+1:])
	if err != nil {
		return nil, 0
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

// build assembles the automaton over keywords, anchors and terms.
func (rs *ruleSet) build() {
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
			add(a.lower(), patRef{kw: -1, rule: int32(i), anchor: a, follow: r.follows[k], term: -1})
		}
	}
	for i, t := range rs.terms {
		for _, v := range t.variants {
			add(v, patRef{kw: -1, rule: -1, term: int32(i)})
		}
	}
	rs.ac = newAutomaton(pats)
}

// hit is an anchor occurrence for a rule.
type hit struct {
	rule  int32
	start int32
	end   int32
}

// scanState is per-Scan scratch memory, pooled.
type scanState struct {
	kwSeen   []bool
	hits     []hit
	windows  [][2]int
	findings []cand
}

var scanPool = sync.Pool{New: func() any { return new(scanState) }}

// scanRules appends the findings of every rule to st.findings.
func (rs *ruleSet) scanRules(text string, st *scanState) {
	if cap(st.kwSeen) < rs.nkw {
		st.kwSeen = make([]bool, rs.nkw)
	}
	st.kwSeen = st.kwSeen[:rs.nkw]
	clear(st.kwSeen)
	st.hits = st.hits[:0]
	rs.ac.scan(text, func(id int32, start int) {
		for _, ref := range rs.patRefs[id] {
			switch {
			case ref.kw >= 0:
				st.kwSeen[ref.kw] = true
			case ref.rule >= 0:
				end := start + len(ref.anchor.orig)
				if ref.anchor.matchAt(text[start:end]) && ref.follow.ok(text, end) {
					st.hits = append(st.hits, hit{rule: ref.rule, start: int32(start), end: int32(end)})
				}
			case ref.term >= 0:
				rs.terms[ref.term].check(text, start, start+len(rs.ac.patterns[id]), &st.findings)
			}
		}
	})
	if len(st.hits) > 0 {
		sort.Slice(st.hits, func(i, j int) bool {
			if st.hits[i].rule != st.hits[j].rule {
				return st.hits[i].rule < st.hits[j].rule
			}
			return st.hits[i].start < st.hits[j].start
		})
	}
	for i := 0; i < len(st.hits); {
		j := i
		for j < len(st.hits) && st.hits[j].rule == st.hits[i].rule {
			j++
		}
		r := rs.rules[st.hits[i].rule]
		if rs.gated(r, st.kwSeen) {
			switch {
			case r.matcher != nil:
				rs.runMatcher(text, r, st.hits[i:j], st)
			case r.core != nil:
				rs.runTemplate(text, r, st.hits[i:j], st)
			default:
				rs.runWindows(text, r, st.hits[i:j], st)
			}
		}
		i = j
	}
	for _, ri := range rs.fullScan {
		r := rs.rules[ri]
		if rs.gated(r, st.kwSeen) {
			rs.runOn(text, r, 0, len(text), st)
		}
	}
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

// window bounds, see the file comment.
const (
	capUnbounded = 64 << 10 // bytes searched around a hit when a rule is unbounded
	snapLine     = 256      // how far to look for a line start/end when widening
	snapWord     = 64       // how far to look for a non-word byte otherwise
)

func (rs *ruleSet) runWindows(text string, r *rule, hits []hit, st *scanState) {
	st.windows = st.windows[:0]
	for _, h := range hits {
		p, e := int(h.start), int(h.end)
		if r.window != nil {
			lo, hi, ok := r.window(text, p, e)
			if !ok {
				continue
			}
			st.addWindow(lo, hi)
			continue
		}
		if r.precheck != nil && !r.precheck(text, p, e) {
			continue
		}
		before, after := r.before, r.after
		if before >= unbounded {
			before = capUnbounded
		}
		if after >= unbounded {
			after = capUnbounded
		}
		lo := p - before
		if lo < 0 {
			lo = 0
		}
		hi := p + after
		if hi < e {
			hi = e
		}
		if hi > len(text) {
			hi = len(text)
		}
		if r.beforeNL < unbounded {
			lo = maxInt(lo, lineStartBack(text, p, r.beforeNL, lo))
		}
		if r.afterNL < unbounded {
			hi = minInt(hi, lineEndFwd(text, e, r.afterNL, hi))
		}
		lo, hi = widen(text, lo, hi)
		st.addWindow(lo, hi)
	}
	for _, w := range st.windows {
		rs.runOn(text, r, w[0], w[1], st)
	}
}

func (st *scanState) addWindow(lo, hi int) {
	if n := len(st.windows); n > 0 && lo <= st.windows[n-1][1] {
		st.windows[n-1][0] = minInt(st.windows[n-1][0], lo)
		st.windows[n-1][1] = maxInt(st.windows[n-1][1], hi)
		return
	}
	st.windows = append(st.windows, [2]int{lo, hi})
}

// templateWindow builds the window function of a gitleaks semi-generic
// rule, `[\w.-]{0,50}?KEYWORD[ \t\w.-]{0,20}[\s'"]{0,3}OP[\x60'"\s=]{0,5}(VALUE)TERM`:
// the match starts in the identifier run before the keyword and ends just
// after a run of value characters that starts within ten bytes of the
// operator; no operator, or no run as long as the shortest value, no match.
func templateWindow(expr string, before int) func(string, int, int) (int, int, bool) {
	minVal, valSet := 1, (*[256]bool)(nil)
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
			}
		}
	}
	return func(text string, s, e int) (int, int, bool) {
		o := operatorAfter(text, e)
		if o < 0 {
			return 0, 0, false
		}
		hi := -1
		if valSet == nil {
			hi = minInt(len(text), o+1024)
		} else {
			for p := o + 1; p <= o+10 && p < len(text); p++ {
				q := p
				for q < len(text) && valSet[text[q]] && q-p < 4096 {
					q++
				}
				if q-p >= minVal && q > hi {
					hi = q
				}
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

func isWordDotDash(c byte) bool {
	return c == '_' || c == '.' || c == '-' || ('0' <= c && c <= '9') || ('a' <= c|0x20 && c|0x20 <= 'z')
}

// operatorAfter returns the position of the assignment-like operator of
// gitleaks' semi-generic template after a keyword ending at i: identifier
// characters or blanks, at most three quotes or spaces, then one of
// = > : | ? , — or -1.
func operatorAfter(text string, i int) int {
	limit := i + 160
	if limit > len(text) {
		limit = len(text)
	}
	for i < limit && isIdentOrBlank(text[i]) {
		i++
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

// operatorFollows is the necessary condition of gitleaks' semi-generic
// template after the keyword: identifier characters, at most three quotes
// or spaces, then an assignment-like operator.
func operatorFollows(text string, i int) bool {
	limit := i + 160
	if limit > len(text) {
		limit = len(text)
	}
	for i < limit && isIdentOrBlank(text[i]) {
		i++
	}
	for k := 0; k < 3 && i < len(text) && isSpaceOrQuote(text[i]); k++ {
		i++
	}
	if i >= len(text) {
		return false
	}
	switch text[i] {
	case '=', '>', ':', '|', '?', ',':
		return true
	}
	return false
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

// lineStartBack returns the start of the line n lines above the one holding
// p, not going below floor.
func lineStartBack(text string, p, n, floor int) int {
	i := p
	for k := 0; k <= n; k++ {
		j := strings.LastIndexByte(text[floor:i], '\n')
		if j < 0 {
			return floor
		}
		i = floor + j
		if k == n {
			return i + 1
		}
	}
	return i + 1
}

// lineEndFwd returns the end (after the '\n') of the line n lines below the
// one holding e-1, not going past ceil.
func lineEndFwd(text string, e, n, ceil int) int {
	i := e
	for k := 0; k <= n; k++ {
		j := strings.IndexByte(text[i:ceil], '\n')
		if j < 0 {
			return ceil
		}
		i = i + j + 1
	}
	return i
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
	return lo, hi
}

func isWordByte(c byte) bool {
	return c == '_' || ('0' <= c && c <= '9') || ('a' <= c|0x20 && c|0x20 <= 'z') || c >= utf8.RuneSelf
}

// runOn runs r's expression over text[lo:hi] and records findings with
// gitleaks' semantics (secret group, entropy, allowlists).
var debugStats map[string][3]int64

// runOn runs r's expression over text[lo:hi] and records its findings.
func (rs *ruleSet) runOn(text string, r *rule, lo, hi int, st *scanState) {
	if debugStats != nil {
		t0 := time.Now()
		defer func() {
			v := debugStats[r.typ]
			v[0]++
			v[1] += int64(hi - lo)
			v[2] += int64(time.Since(t0))
			debugStats[r.typ] = v
		}()
	}
	re := r.regexp()
	for _, m := range re.FindAllStringSubmatchIndex(text[lo:hi], -1) {
		for i := range m {
			if m[i] >= 0 {
				m[i] += lo
			}
		}
		if r.gitleaks {
			// gitleaks trims newlines around the match, then extracts the
			// secret by matching the expression again on the trimmed match.
			match := text[m[0]:m[1]]
			trimmed := strings.Trim(match, "\n")
			if trimmed == "" {
				continue
			}
			off := m[0] + strings.Index(match, trimmed)
			g := re.FindStringSubmatchIndex(trimmed)
			if g == nil {
				continue
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
	case r.wholeMatch || len(m) <= 2:
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
	if r.entropy != 0 && shannonEntropy(secret) <= r.entropy {
		return
	}
	if r.gitleaks && (len(rs.global) > 0 || len(r.allow) > 0) {
		match := strings.Trim(text[ms:me], "\n")
		line := lineAround(text, ms, me)
		if anyAllowed(rs.global, secret, match, line) || anyAllowed(r.allow, secret, match, line) {
			return
		}
	}
	if se <= ss {
		return
	}
	if r.validate != nil && !r.validate(text, ss, se) {
		return
	}
	if r.kind == KindSecret && notASecret(text, ss, se, r.typ) {
		return
	}
	st.findings = append(st.findings, cand{Finding{Type: r.typ, Kind: r.kind, Start: ss, End: se}, r.prio})
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
	for _, h := range hits {
		k, e := int(h.start), int(h.end)
		if k < prevEnd || k == lastK {
			continue
		}
		lastK = k
		_, hi, ok := r.window(text, k, e)
		if !ok {
			continue
		}
		g := r.core.FindStringSubmatchIndex(text[k:hi])
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

// runMatcher runs a hand-written matcher at each hit.
func (rs *ruleSet) runMatcher(text string, r *rule, hits []hit, st *scanState) {
	prevEnd := 0
	var m [4]int
	for _, h := range hits {
		k, e := int(h.start), int(h.end)
		if k < prevEnd {
			continue
		}
		ms, me, vs, ve, ok := r.matcher(text, k, e)
		if !ok || ms < prevEnd {
			continue
		}
		prevEnd = me
		m = [4]int{ms, me, vs, ve}
		rs.emit(text, r, m[:], st)
	}
}

func anyAllowed(as []*allowlist, secret, match, line string) bool {
	for _, a := range as {
		if a.allowed(secret, match, line) {
			return true
		}
	}
	return false
}

// lineAround mirrors gitleaks' notion of a finding's line: from the newline
// before the match (included) to the newline after it.
func lineAround(text string, s, e int) string {
	ls := strings.LastIndexByte(text[:s], '\n')
	if ls < 0 {
		ls = 0
	}
	le := strings.IndexByte(text[e:], '\n')
	if le < 0 {
		le = len(text)
	} else {
		le += e
	}
	return text[ls:le]
}

// shannonEntropy is gitleaks' entropy measure (over runes, bits per rune).
func shannonEntropy(s string) float64 {
	if s == "" {
		return 0
	}
	var ascii [128]int
	var other map[rune]int
	for _, r := range s {
		if r < 128 {
			ascii[r]++
		} else {
			if other == nil {
				other = map[rune]int{}
			}
			other[r]++
		}
	}
	inv := 1 / float64(len(s))
	e := 0.0
	for _, c := range ascii {
		if c > 0 {
			f := float64(c) * inv
			e -= f * math.Log2(f)
		}
	}
	for _, c := range other {
		f := float64(c) * inv
		e -= f * math.Log2(f)
	}
	return e
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

// compileGitleaks turns the generated table into rules; keywords are
// registered in kw (lowercase keyword -> id).
func compileGitleaks(kw map[string]int32, keywords *[]string) ([]*rule, []*allowlist, error) {
	kwID := func(k string) int32 {
		k = strings.ToLower(k)
		if id, ok := kw[k]; ok {
			return id
		}
		id := int32(len(*keywords))
		kw[k] = id
		*keywords = append(*keywords, k)
		return id
	}
	var rules []*rule
	for _, g := range gitleaksRules {
		r := &rule{
			typ:      g.ID,
			kind:     KindSecret,
			prio:     prioSpecific,
			group:    g.SecretGroup,
			entropy:  g.Entropy,
			gitleaks: true,
			template: strings.Contains(g.Regex, templateMid),
		}
		if strings.Contains(g.ID, "generic") {
			r.prio = prioGeneric
		}
		for _, k := range g.Keywords {
			r.keywords = append(r.keywords, kwID(k))
		}
		for _, a := range g.Allowlists {
			r.allow = append(r.allow, newAllowlist(a))
		}
		if err := compileRule(r, g.Regex, false); err != nil {
			return nil, nil, fmt.Errorf("gitleaks rule %s: %w", g.ID, err)
		}
		rules = append(rules, r)
	}
	var global []*allowlist
	for _, a := range gitleaksGlobalAllowlists {
		global = append(global, newAllowlist(a))
	}
	return rules, global, nil
}

func newAllowlist(a glAllowlist) *allowlist {
	al := &allowlist{and: a.And, target: a.Target, expr: a.Regex}
	for _, w := range a.StopWords {
		al.stopWords = append(al.stopWords, strings.ToLower(w))
	}
	return al
}

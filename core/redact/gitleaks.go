package redact

import (
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
)

//go:generate go run -C ../../tools/gitleaks ./gengitleaks -o ../../core/redact/gitleaks_rules.go

// glRule is one gitleaks rule as generated from gitleaks' default config.
type glRule struct {
	ID          string
	Regex       string
	SecretGroup int
	Entropy     float64
	Keywords    []string
	Allowlists  []glAllowlist
}

// glAllowlist is a gitleaks allowlist reduced to what applies to a bare text:
// a joined regex (tested against the secret, the match or the line per
// Target) and stop words (tested against the secret).
type glAllowlist struct {
	And       bool
	Target    string // "" (secret), "match" or "line"
	Regex     string
	StopWords []string
}

type allowlist struct {
	and       bool
	target    string
	expr      string
	once      sync.Once
	re        *regexp.Regexp
	reAC      *automaton // anchors of re: no anchor in the target, no match
	reAnchors []caseLit
	stopWords []string
	stopAC    *automaton
}

func (a *allowlist) init() {
	a.once.Do(func() {
		if a.expr != "" {
			a.re = regexp.MustCompile(a.expr)
			if t, err := syntax.Parse(a.expr, syntax.Perl); err == nil {
				if as := anchorsOf(t, 2); as != nil {
					pats := make([]string, len(as))
					for i, l := range as {
						pats[i] = l.lower()
					}
					a.reAC, a.reAnchors = newAutomaton(pats), as
				}
			}
		}
		if len(a.stopWords) > 8 {
			a.stopAC = newAutomaton(a.stopWords)
		}
	})
}

// regexMatch is re.MatchString(t), skipped when none of the expression's
// anchors occurs in t.
func (a *allowlist) regexMatch(t string) bool {
	if a.reAC != nil {
		found := false
		a.reAC.scan(t, func(id int32, start int) {
			if !found && a.reAnchors[id].matchAt(t[start:start+len(a.reAnchors[id].orig)]) {
				found = true
			}
		})
		if !found {
			return false
		}
	}
	return a.re.MatchString(t)
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

func (a *allowlist) allowed(secret, match string, line *lineRef) bool {
	a.init()
	var regexOK, stopOK bool
	if a.re != nil {
		switch a.target {
		case "match":
			regexOK = match != "" && line.memoMatch(a, match)
		case "line":
			regexOK = line.match(a)
		default:
			regexOK = secret != "" && line.memoMatch(a, secret)
		}
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

// anyStopWord reports whether an "or" allowlist rejects secret by its stop
// words alone.
func anyStopWord(as []*allowlist, secret string) bool {
	for _, a := range as {
		a.init()
		if !a.and && len(a.stopWords) > 0 && secret != "" && a.hasStopWord(secret) {
			return true
		}
	}
	return false
}

// allowed applies the global and the rule's allowlists to a match.
func (rs *ruleSet) allowed(text string, r *rule, secret string, ms, me int, st *scanState) bool {
	match := strings.Trim(text[ms:me], "\n")
	line := lineRef{st: st, text: text}
	line.ls, line.le = st.lines.around(text, ms, me)
	return anyAllowed(rs.global, secret, match, &line) || anyAllowed(r.allow, secret, match, &line)
}

// pendingCand is a generic-rule candidate awaiting its allowlists.
type pendingCand struct {
	cand
	r      *rule
	ms, me int
}

// settle decides the pending generic candidates: dropped when a finding of
// another rule covers them (resolve would merge them into it, typed after
// it: the output is the same), else kept unless an allowlist allows them.
func (rs *ruleSet) settle(text string, st *scanState) {
	if len(st.pending) == 0 {
		return
	}
	cover := st.coverIndex()
	for i, p := range st.pending {
		if i%checkEvery == checkEvery-1 && st.stopped() {
			return
		}
		if cover.covers(p.Start, p.End) || rs.allowed(text, p.r, text[p.Start:p.End], p.ms, p.me, st) {
			continue
		}
		st.findings = append(st.findings, p.cand)
	}
}

func anyAllowed(as []*allowlist, secret, match string, line *lineRef) bool {
	for _, a := range as {
		if a.allowed(secret, match, line) {
			return true
		}
	}
	return false
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

// anchorOverride gives the part of a gitleaks rule whose matches we report,
// when the rest only yields findings notASecret drops anyway:
// sourcegraph-access-token also matches any 40-hex string (a git SHA)
// whenever "sourcegraph" occurs in the text; only its sgp_ tokens matter,
// and anchoring on "sgp_" spares a scan of the whole text.
var anchorOverride = map[string]string{
	"sourcegraph-access-token": `(?i)\b(\b(sgp_(?:[a-fA-F0-9]{16}|local)_[a-fA-F0-9]{40}|sgp_[a-fA-F0-9]{40})\b)(?:[\x60'"\s;]|\\[nr]|$)`,
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
	for _, g0 := range gitleaksRules {
		for _, expr := range splitAlternatives(g0) {
			g := g0
			g.Regex = expr
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
			if !r.template && strings.HasSuffix(expr, gitleaksTerm) {
				// A token-format key may also end a sentence or a clause
				// ("my key is AIza….", "(sk_live_…)"): gitleaks misses those.
				expr = strings.TrimSuffix(expr, gitleaksTerm) + sentenceTerm
			}
			if err := compileRule(r, expr, false); err != nil {
				return nil, nil, fmt.Errorf("gitleaks rule %s: %w", g.ID, err)
			}
			if sub, ok := anchorOverride[g.ID]; ok {
				t, err := syntax.Parse(sub, syntax.Perl)
				if err != nil {
					return nil, nil, fmt.Errorf("gitleaks rule %s: anchor override: %w", g.ID, err)
				}
				r.anchors = anchorsOf(t, 2)
				r.prefix = "" // derived from the expression's own anchors
				r.follows = make([]followCheck, len(r.anchors))
				for k, a := range r.anchors {
					r.follows[k] = followOf(a.follow, a.next)
				}
			}
			rules = append(rules, r)
		}
	}
	var global []*allowlist
	for _, a := range gitleaksGlobalAllowlists {
		global = append(global, newAllowlist(a))
	}
	return rules, global, nil
}

// sentenceTerm is gitleaksTerm plus punctuation that ends a sentence or a
// bracket, followed by a blank, a quote or the end.
const sentenceTerm = `(?:[\x60'"\s;]|\\[nr]|$|[.,:!?)\]>*](?:[\x60'"\s*]|$))`

func newAllowlist(a glAllowlist) *allowlist {
	al := &allowlist{and: a.And, target: a.Target, expr: a.Regex}
	for _, w := range a.StopWords {
		al.stopWords = append(al.stopWords, strings.ToLower(w))
	}
	return al
}

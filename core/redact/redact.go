// Package redact finds what must not leave the institution in a text bound
// for a model — secrets, personal data, the institution's own terms — and
// replaces it with reversible placeholders, then puts the values back in the
// model's answer, streaming included.
//
// It is pure: no I/O, no logging; its only global state is the built-in
// rule set, compiled once (~25 ms of CPU at the first New) and immutable
// after. A Redactor is built once per profile (New with custom terms or
// patterns costs a few milliseconds) and is safe for concurrent use. A Vault
// holds the value↔placeholder mapping of one request or one conversation.
//
// The design (its trade-offs and why) is in docs/design/redact.md.
package redact

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Kind groups finding types.
type Kind string

// Finding kinds.
const (
	KindSecret   Kind = "secret"
	KindPersonal Kind = "personal"
	KindCustom   Kind = "custom"
)

// Finding is one detected value: its type ("email", "phone", "iban", "nir",
// "siren", "siret", "card", "url_password", "password_assignment",
// "auth_header", "mistral_api_key", a gitleaks rule id such as
// "aws-access-token" or "github-pat", "custom:term", "custom:<pattern name>"),
// its kind, and its byte offsets in the scanned text. Never the value.
// Context detectors add "passport", "id_card" (personal), "basic_auth",
// "azure_storage_key" and "aws_secret_key" (secrets).
type Finding struct {
	Type       string
	Kind       Kind
	Start, End int
}

// Action is what a profile does with a finding type.
type Action string

// Actions.
const (
	ActionMask  Action = "mask"
	ActionBlock Action = "block"
	ActionAllow Action = "allow"
)

// Profile configures a Redactor.
type Profile struct {
	Name string
	// Actions per finding Type, then per Kind ("secret", "personal",
	// "custom") as a fallback; for custom findings "custom:<name>" is the
	// Type. Anything not listed is masked.
	Actions map[string]Action
	// Terms are literal terms (code names, partner names) matched
	// case-insensitively as whole words; Type "custom:term".
	Terms []string
	// Patterns are named regular expressions (Go syntax); Type
	// "custom:<name>". The first capture group is masked if there is one,
	// else the whole match.
	Patterns []Pattern
}

// Pattern is a named custom regular expression.
type Pattern struct{ Name, Regex string }

// Redactor scans and masks texts for one profile. Safe for concurrent use.
type Redactor struct {
	name    string
	actions map[string]Action
	rs      *ruleSet
}

// BlockedError reports that the profile blocks a finding of this type.
type BlockedError struct{ Type string }

func (e *BlockedError) Error() string { return "blocked: the text contains a " + e.Type }

// ErrScan wraps a detector failure: the text must not be sent.
var ErrScan = errors.New("redact: scan failed")

// shared is the compiled built-in rule set (gitleaks and built-in
// heuristics), built once per process.
var shared = sync.OnceValues(func() (*ruleSet, error) {
	kw := map[string]int32{}
	var keywords []string
	rules, global, err := compileGitleaks(kw, &keywords)
	if err != nil {
		return nil, err
	}
	builtin, err := builtinRules()
	if err != nil {
		return nil, err
	}
	rs := &ruleSet{rules: append(rules, builtin...), global: global, keywords: keywords}
	if err := rs.build(); err != nil {
		return nil, err
	}
	rs.dropTrees()
	return rs, nil
})

var patternName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// New compiles a Redactor for p. It fails on an unknown action, a bad
// pattern name or a pattern that does not compile (the error names it).
func New(p Profile) (*Redactor, error) {
	base, err := shared()
	if err != nil {
		return nil, fmt.Errorf("redact: compiling built-in rules: %w", err)
	}
	r := &Redactor{name: p.Name, actions: map[string]Action{}, rs: base}
	for k, a := range p.Actions {
		switch a {
		case ActionMask, ActionBlock, ActionAllow:
		default:
			return nil, fmt.Errorf("redact: profile %q: unknown action %q for %q (want mask, block or allow)", p.Name, a, k)
		}
		r.actions[k] = a
	}
	var terms []term
	for _, t := range p.Terms {
		if tt, ok := newTerm(t); ok {
			terms = append(terms, tt)
		}
	}
	var custom []*rule
	seen := map[string]bool{}
	for _, pat := range p.Patterns {
		if !patternName.MatchString(pat.Name) {
			return nil, fmt.Errorf("redact: profile %q: pattern name %q: want letters, digits, '_', '.', '-'", p.Name, pat.Name)
		}
		if seen[pat.Name] {
			return nil, fmt.Errorf("redact: profile %q: duplicate pattern name %q", p.Name, pat.Name)
		}
		seen[pat.Name] = true
		cr := &rule{typ: "custom:" + pat.Name, kind: KindCustom, prio: prioCustom}
		if err := compileRule(cr, pat.Regex, true); err != nil {
			return nil, fmt.Errorf("redact: profile %q: pattern %q: %w", p.Name, pat.Name, err)
		}
		custom = append(custom, cr)
	}
	if len(terms) > 0 || len(custom) > 0 {
		rs := &ruleSet{
			rules:    append(append([]*rule(nil), base.rules...), custom...),
			global:   base.global,
			keywords: base.keywords,
			terms:    terms,
		}
		if err := rs.build(); err != nil {
			return nil, fmt.Errorf("redact: profile %q: %w", p.Name, err)
		}
		r.rs = rs
	}
	return r, nil
}

// maxText bounds the texts Scan accepts (offsets are kept in 32 bits).
const maxText = 1 << 30

// cand is a finding with its priority, before overlaps are resolved.
type cand struct {
	Finding
	prio int
}

// Scan returns the findings in text, sorted by offset and non-overlapping:
// overlapping findings are merged into one spanning all of them (nothing
// detected is left visible), typed after the longest, then most specific.
func (r *Redactor) Scan(text string) []Finding {
	gs := r.scanGroups(text)
	if len(gs) == 0 {
		return nil
	}
	out := make([]Finding, len(gs))
	for i, g := range gs {
		out[i] = g.Finding
	}
	return out
}

// group is a merged finding and the candidates it was merged from.
type group struct {
	Finding
	parts []cand
}

// scanGroups runs every detector and merges overlapping candidates.
func (r *Redactor) scanGroups(text string) []group {
	gs, _ := r.scanGroupsContext(context.Background(), text)
	return gs
}

// scanGroupsContext is scanGroups stopping early, with an error wrapping
// ctx.Err(), once ctx is done.
func (r *Redactor) scanGroupsContext(ctx context.Context, text string) ([]group, error) {
	if len(text) > maxText {
		panic("redact: text larger than 1 GiB") // Redact turns this into an error
	}
	st := scanPool.Get().(*scanState)
	defer scanPool.Put(st)
	st.findings = st.findings[:0]
	st.setContext(ctx)
	defer st.release()
	r.rs.scanRules(text, st)
	if !st.stopped() {
		scanPersonal(text, &st.findings)
	}
	if st.stopped() {
		return nil, fmt.Errorf("redact: scan interrupted: %w", st.err)
	}
	return resolve(st.findings), nil
}

// scanSafe is scanGroupsContext turning a detector panic into an error.
func (r *Redactor) scanSafe(ctx context.Context, text string) (gs []group, err error) {
	defer func() {
		if p := recover(); p != nil {
			gs, err = nil, fmt.Errorf("%w: %v", ErrScan, p)
		}
	}()
	return r.scanGroupsContext(ctx, text)
}

// resolve sorts candidates and merges overlapping ones into groups whose
// span is their union, typed after the best of them.
func resolve(cs []cand) []group {
	if len(cs) == 0 {
		return nil
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Start != cs[j].Start {
			return cs[i].Start < cs[j].Start
		}
		return better(cs[i], cs[j])
	})
	var out []group
	// cs is scratch memory reused by the next scan: the groups' parts are
	// views of one copy of it (one allocation, not one per group).
	all := append([]cand(nil), cs...)
	first := 0
	best, end := cs[0], cs[0].End
	flush := func(last int) {
		parts := all[first:last:last]
		out = append(out, group{Finding{Type: best.Type, Kind: best.Kind, Start: cs[first].Start, End: end}, parts})
	}
	for i := 1; i < len(cs); i++ {
		c := cs[i]
		if c.Start < end {
			if better(c, best) {
				best = c
			}
			end = maxInt(end, c.End)
			continue
		}
		flush(i)
		first, best, end = i, c, c.End
	}
	flush(len(cs))
	return out
}

// better: longer first, then higher priority, then type name (determinism).
func better(a, b cand) bool {
	if la, lb := a.End-a.Start, b.End-b.Start; la != lb {
		return la > lb
	}
	if a.prio != b.prio {
		return a.prio > b.prio
	}
	return a.Type < b.Type
}

// Counts returns the number of findings per Type.
func Counts(f []Finding) map[string]int {
	m := make(map[string]int, len(f))
	for _, x := range f {
		m[x.Type]++
	}
	return m
}

// action is the profile's action for f.
func (r *Redactor) action(f Finding) Action {
	if a, ok := r.actions[f.Type]; ok {
		return a
	}
	if a, ok := r.actions[string(f.Kind)]; ok {
		return a
	}
	return ActionMask
}

// strictest is the action of a merged finding: block if any part is
// blocked, else mask if any part is masked (an allowed e-mail overlapping a
// password does not let the password through), else allow; with the type of
// the part that decided.
func (r *Redactor) strictest(g group) (Action, string) {
	act, typ := ActionAllow, g.Type
	for _, p := range g.parts {
		switch a := r.action(p.Finding); {
		case a == ActionBlock:
			return ActionBlock, p.Type
		case a == ActionMask && act == ActionAllow:
			act = ActionMask
		}
	}
	return act, typ
}

// Redact masks text per the profile: every finding whose action is mask is
// replaced by a placeholder from v (same value, same placeholder within the
// vault). It returns the masked text and the masked findings (offsets in
// text). If a finding's action is block, it returns a *BlockedError and no
// text. If detection fails it returns an error wrapping ErrScan and no text.
// Only a nil error makes the returned text safe to send.
func (r *Redactor) Redact(v *Vault, text string) (out string, masked []Finding, err error) {
	return r.RedactContext(context.Background(), v, text)
}

// RedactContext is Redact bounded by ctx: when ctx ends before the scan is
// over it returns an error wrapping ctx.Err() and no text, so a caller's time
// budget refuses the request instead of passing it through.
func (r *Redactor) RedactContext(ctx context.Context, v *Vault, text string) (out string, masked []Finding, err error) {
	if err := ctx.Err(); err != nil {
		return "", nil, fmt.Errorf("redact: %w", err)
	}
	if v == nil {
		return "", nil, errors.New("redact: nil vault")
	}
	defer func() {
		if p := recover(); p != nil {
			out, masked, err = "", nil, fmt.Errorf("%w: %v", ErrScan, p)
		}
	}()
	gs, err := r.scanSafe(ctx, text)
	if err != nil {
		return "", nil, err
	}
	if err := ctx.Err(); err != nil {
		return "", nil, fmt.Errorf("redact: %w", err)
	}
	for _, g := range gs {
		switch act, typ := r.strictest(g); act {
		case ActionBlock:
			return "", nil, &BlockedError{Type: typ}
		case ActionMask:
			masked = append(masked, g.Finding)
		}
	}
	return v.mask(text, masked), masked, nil
}

// MaskOutput scans a model's answer — before Restore, so the values the
// vault will put back are still placeholders and are never touched — and
// replaces every secret in it with "[REDACTED <type>]", so that a key the
// model produced never reaches an editor, a chat or a merge request.
// Personal data and custom terms in answers are left alone: the model
// legitimately repeats names and addresses it was given (as placeholders,
// restored afterwards) or that the user asked about, and masking them one
// way would make answers unreadable. If scanning fails the whole answer is
// replaced by a marker (fail closed). The findings' offsets are in text.
func (r *Redactor) MaskOutput(v *Vault, text string) (string, []Finding) {
	gs, err := r.scanSafe(context.Background(), text)
	if err != nil {
		return "[REDACTED answer: scan failed]", []Finding{{Type: "scan_error", Kind: KindSecret, Start: 0, End: len(text)}}
	}
	var b strings.Builder
	var secrets []Finding
	last := 0
	for _, g := range gs {
		// A span holding a secret is masked whatever else overlaps it.
		var secret *cand
		for i := range g.parts {
			if p := &g.parts[i]; p.Kind == KindSecret && (secret == nil || better(*p, *secret)) {
				secret = p
			}
		}
		if secret == nil {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(text))
		}
		b.WriteString(text[last:g.Start])
		b.WriteString("[REDACTED ")
		b.WriteString(secret.Type)
		b.WriteString("]")
		last = g.End
		secrets = append(secrets, Finding{Type: secret.Type, Kind: KindSecret, Start: g.Start, End: g.End})
	}
	if len(secrets) == 0 {
		return text, nil
	}
	b.WriteString(text[last:])
	return b.String(), secrets
}

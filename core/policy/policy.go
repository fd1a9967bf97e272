// Package policy turns the rules of the configuration into a Decision for
// each request: allowed or denied (and by which rule), the data
// classification, the providers and models to try in order, the redaction
// profile and how much of the content the journal keeps. It is pure: no I/O,
// no clock.
//
// Rules are tried in order and the first whose match fits the request
// decides; when none fits, the request is denied ("no rule allows it"). A
// provider not marked sovereign is never chosen unless the deciding rule sets
// allow_non_sovereign and the request's classification lists that provider.
package policy

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"timon.dev/timon/core"
)

// Content levels: how much of a request the journal keeps.
const (
	ContentNone   = "none"
	ContentHashes = "hashes"
	ContentFull   = "full"
)

// Config is the policy part of the configuration file.
type Config struct {
	// Rules, tried in order; the first that matches decides.
	Rules []Rule `yaml:"rules"`
	// Routes maps a task (or "default") to the models to try, in order.
	Routes map[string][]string `yaml:"routes"`
	// Classifications maps a classification to the providers that may
	// receive data of that class. A class not listed may go to any
	// sovereign provider; an empty list means nothing of that class leaves.
	Classifications map[core.Classification][]string `yaml:"classifications"`
	// DefaultClassification applies when a request carries no hint; zero
	// means internal.
	DefaultClassification core.Classification `yaml:"default_classification"`
	// DefaultProfile is the redaction profile when a rule names none; zero
	// means "default".
	DefaultProfile string `yaml:"default_redaction_profile"`
	// DefaultContent is the journal content level when a rule names none;
	// zero means hashes.
	DefaultContent string `yaml:"default_content"`
}

// Rule allows or denies the requests it matches.
type Rule struct {
	Name   string `yaml:"name"`
	Effect string `yaml:"effect"` // allow or deny
	// Reason is shown to the user when the rule denies.
	Reason string `yaml:"reason"`
	Match  Match  `yaml:"match"`
	// Models a caller may ask for by name, beyond those of the route.
	Models []string `yaml:"models"`
	// Routes overrides the configuration's routes for the matched requests.
	Routes map[string][]string `yaml:"routes"`
	// AllowNonSovereign lets providers not marked sovereign serve the
	// matched requests, where the classification lists them.
	AllowNonSovereign bool `yaml:"allow_non_sovereign"`
	// Classification raises the request's classification to at least this.
	Classification core.Classification `yaml:"classification"`
	// Profile names the redaction profile.
	Profile string `yaml:"redaction_profile"`
	// Content sets the journal's content level: none, hashes or full.
	Content string `yaml:"content"`
	// Moderation, when set, has a classifier check what is sent and what
	// is answered (see Moderation).
	Moderation *Moderation `yaml:"moderation"`
}

// Match lists the conditions of a rule; an empty list matches anything, and
// a rule matches when every non-empty list does.
type Match struct {
	Users        []string           `yaml:"users"`
	Groups       []string           `yaml:"groups"` // any of them
	Integrations []core.Integration `yaml:"integrations"`
	Tasks        []core.Task        `yaml:"tasks"`
	Channels     []string           `yaml:"channels"`
	// Paths are globs: with a slash, matched against the whole path (a
	// trailing /** matches everything below); without, against its base name.
	Paths []string `yaml:"paths"`
	// Classifications matches the request's classification hint (after the
	// default applies).
	Classifications []core.Classification `yaml:"classifications"`
}

// Provider describes what the policy needs to know of a provider.
type Provider struct {
	Name      string
	Models    []string
	Sovereign bool
}

// Candidate is one provider and model to try.
type Candidate struct {
	Provider string
	Model    string
}

// Decision is the policy's answer for one request.
type Decision struct {
	Allow          bool
	Rule           string // the deciding rule; "default" when none matched
	Reason         string // for people, when denied
	Classification core.Classification
	Candidates     []Candidate // in failover order
	Profile        string
	Content        string
	// Moderation is the deciding rule's moderation; nil when it has none.
	Moderation *Moderation
}

// Policy is a compiled, validated Config. It is safe for concurrent use.
type Policy struct {
	cfg       Config
	providers []Provider
}

// New validates cfg against the configured providers.
func New(cfg Config, providers []Provider) (*Policy, error) {
	known := map[string]bool{}
	models := map[string]bool{}
	for _, p := range providers {
		known[p.Name] = true
		for _, m := range p.Models {
			models[m] = true
		}
	}
	if cfg.DefaultClassification == "" {
		cfg.DefaultClassification = core.ClassInternal
	}
	if !cfg.DefaultClassification.Valid() {
		return nil, fieldErr("default_classification", "unknown classification %q (expected public, internal, confidential or secret)", cfg.DefaultClassification)
	}
	if cfg.DefaultProfile == "" {
		cfg.DefaultProfile = "default"
	}
	if cfg.DefaultContent == "" {
		cfg.DefaultContent = ContentHashes
	}
	if err := checkContent(cfg.DefaultContent); err != nil {
		return nil, fieldErr("default_content", "%v", err)
	}
	for class, names := range cfg.Classifications {
		if !class.Valid() {
			return nil, fieldErr("classifications."+string(class), "unknown classification %q", class)
		}
		for j, n := range names {
			if !known[n] {
				return nil, fieldErr(fmt.Sprintf("classifications.%s[%d]", class, j), "unknown provider %q", n)
			}
		}
	}
	if err := checkRoutes("routes", cfg.Routes, models); err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for i, r := range cfg.Rules {
		where := fmt.Sprintf("rules[%d]", i)
		if r.Name == "" {
			return nil, fieldErr(where, "a rule needs a name (it is journaled with every request it decides)")
		}
		if names[r.Name] {
			return nil, fieldErr(where+".name", "rule name %q is used by another rule", r.Name)
		}
		names[r.Name] = true
		if r.Effect != "allow" && r.Effect != "deny" {
			return nil, fieldErr(where+".effect", "expected allow or deny, got %q", r.Effect)
		}
		for j, in := range r.Match.Integrations {
			if !in.Valid() {
				return nil, fieldErr(fmt.Sprintf("%s.match.integrations[%d]", where, j), "unknown integration %q (expected lsp, mattermost, slack, gitlab or api)", in)
			}
		}
		for j, t := range r.Match.Tasks {
			if !t.Valid() {
				return nil, fieldErr(fmt.Sprintf("%s.match.tasks[%d]", where, j), "unknown task %q (expected chat, complete, rewrite, summarize, explain, review, embed or refs)", t)
			}
		}
		for j, c := range r.Match.Classifications {
			if !c.Valid() {
				return nil, fieldErr(fmt.Sprintf("%s.match.classifications[%d]", where, j), "unknown classification %q", c)
			}
		}
		if r.Classification != "" && !r.Classification.Valid() {
			return nil, fieldErr(where+".classification", "unknown classification %q", r.Classification)
		}
		for j, p := range r.Match.Paths {
			if _, err := path.Match(strings.TrimSuffix(p, "/**"), ""); err != nil {
				return nil, fieldErr(fmt.Sprintf("%s.match.paths[%d]", where, j), "bad path glob %q: %v", p, err)
			}
		}
		if r.Content != "" {
			if err := checkContent(r.Content); err != nil {
				return nil, fieldErr(where+".content", "%v", err)
			}
		}
		for j, m := range r.Models {
			if !models[m] {
				return nil, fieldErr(fmt.Sprintf("%s.models[%d]", where, j), "model %q is served by no provider", m)
			}
		}
		if err := checkRoutes(where+".routes", r.Routes, models); err != nil {
			return nil, err
		}
		if err := checkModeration(where+".moderation", r.Moderation); err != nil {
			return nil, err
		}
	}
	return &Policy{cfg: cfg, providers: providers}, nil
}

// FieldError is a configuration error at a path such as rules[2].effect.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

func fieldErr(path, format string, args ...any) error {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

func checkContent(c string) error {
	switch c {
	case ContentNone, ContentHashes, ContentFull:
		return nil
	}
	return fmt.Errorf("expected none, hashes or full, got %q", c)
}

func checkRoutes(where string, routes map[string][]string, models map[string]bool) error {
	for task, ms := range routes {
		if task != "default" && !core.Task(task).Valid() {
			return fieldErr(where+"."+task, "unknown task %q (expected a task or default)", task)
		}
		for j, m := range ms {
			if !models[m] {
				return fieldErr(fmt.Sprintf("%s.%s[%d]", where, task, j), "model %q is served by no provider", m)
			}
		}
	}
	return nil
}

// Profiles returns the redaction profiles the policy refers to.
func (p *Policy) Profiles() []string {
	out := []string{p.cfg.DefaultProfile}
	for _, r := range p.cfg.Rules {
		if r.Profile != "" && !slices.Contains(out, r.Profile) {
			out = append(out, r.Profile)
		}
	}
	return out
}

// Decide applies the rules to req.
func (p *Policy) Decide(req *core.Request) Decision {
	return p.decide(req, func(d *Decision, r *Rule) {
		if r.Moderation.Active() {
			d.Moderation = r.Moderation
		}
		d.Candidates, d.Reason = p.candidates(req, r, d.Classification)
		d.Allow = len(d.Candidates) > 0
	})
}

// decide finds the first rule matching req. A deny rule decides at once;
// an allowing one is completed by allow, which says where the request may
// go.
func (p *Policy) decide(req *core.Request, allow func(*Decision, *Rule)) Decision {
	class := req.Classification
	if class == "" {
		class = p.cfg.DefaultClassification
	}
	for i := range p.cfg.Rules {
		r := &p.cfg.Rules[i]
		if !r.Match.matches(req, class) {
			continue
		}
		d := Decision{Rule: r.Name, Classification: maxClass(class, r.Classification), Profile: r.Profile, Content: r.Content}
		if d.Profile == "" {
			d.Profile = p.cfg.DefaultProfile
		}
		if d.Content == "" {
			d.Content = p.cfg.DefaultContent
		}
		if r.Effect == "deny" {
			d.Reason = r.Reason
			if d.Reason == "" {
				d.Reason = fmt.Sprintf("denied by rule %q", r.Name)
			}
			return d
		}
		allow(&d, r)
		return d
	}
	return Decision{Rule: "default", Classification: class, Profile: p.cfg.DefaultProfile, Content: p.cfg.DefaultContent,
		Reason: fmt.Sprintf("no rule allows task %s for %s", req.Task, req.Principal)}
}

func (p *Policy) candidates(req *core.Request, r *Rule, class core.Classification) ([]Candidate, string) {
	// Embeddings need a model made for them: task embed never falls back
	// to the default route, whose models write text.
	fallback := req.Task != core.TaskEmbed
	route := r.Routes[string(req.Task)]
	if route == nil && fallback {
		route = r.Routes["default"]
	}
	if route == nil {
		route = p.cfg.Routes[string(req.Task)]
	}
	if route == nil && fallback {
		route = p.cfg.Routes["default"]
	}
	models := route
	if req.Model != "" {
		if !slices.Contains(route, req.Model) && !slices.Contains(r.Models, req.Model) {
			return nil, fmt.Sprintf("model %q is not allowed for task %s by rule %q", req.Model, req.Task, r.Name)
		}
		models = []string{req.Model}
	}
	if len(models) == 0 {
		return nil, fmt.Sprintf("no model is configured for task %s (routes)", req.Task)
	}
	allowed, listed := p.cfg.Classifications[class]
	var out []Candidate
	refusedSovereign := false
	for _, m := range models {
		for _, pr := range p.providers {
			if !slices.Contains(pr.Models, m) {
				continue
			}
			if listed && !slices.Contains(allowed, pr.Name) {
				continue
			}
			if !pr.Sovereign && !(r.AllowNonSovereign && listed) {
				refusedSovereign = true
				continue
			}
			out = append(out, Candidate{Provider: pr.Name, Model: m})
		}
	}
	if len(out) == 0 {
		reason := fmt.Sprintf("no provider may receive %s data for model %s", class, strings.Join(models, ", "))
		if refusedSovereign {
			reason += " (only non-sovereign providers serve it, and rule " + fmt.Sprintf("%q", r.Name) + " does not allow them for this classification)"
		}
		return nil, reason
	}
	return out, ""
}

func (m *Match) matches(req *core.Request, class core.Classification) bool {
	if len(m.Users) > 0 && !slices.Contains(m.Users, req.Principal.UserID) {
		return false
	}
	if len(m.Groups) > 0 && !slices.ContainsFunc(m.Groups, req.Principal.InGroup) {
		return false
	}
	if len(m.Integrations) > 0 && !slices.Contains(m.Integrations, req.Principal.Integration) {
		return false
	}
	if len(m.Tasks) > 0 && !slices.Contains(m.Tasks, req.Task) {
		return false
	}
	if len(m.Channels) > 0 && !slices.Contains(m.Channels, req.Origin.Channel) {
		return false
	}
	if len(m.Classifications) > 0 && !slices.Contains(m.Classifications, class) {
		return false
	}
	if len(m.Paths) > 0 && !slices.ContainsFunc(m.Paths, func(g string) bool { return MatchPath(g, req.Origin.Path) }) {
		return false
	}
	return true
}

// MatchPath reports whether file path p matches glob g: a glob with a slash
// matches the whole path (a trailing /** anything below), one without
// matches the base name.
func MatchPath(g, p string) bool {
	if p == "" {
		return false
	}
	if dir, ok := strings.CutSuffix(g, "/**"); ok {
		return p == dir || strings.HasPrefix(p, dir+"/") || matchAnyPrefix(dir, p)
	}
	if strings.Contains(g, "/") {
		ok, _ := path.Match(g, p)
		return ok
	}
	ok, _ := path.Match(g, path.Base(p))
	return ok
}

func matchAnyPrefix(dirGlob, p string) bool {
	parts := strings.Split(p, "/")
	for i := 1; i < len(parts); i++ {
		if ok, _ := path.Match(dirGlob, strings.Join(parts[:i], "/")); ok {
			return true
		}
	}
	return false
}

func maxClass(a, b core.Classification) core.Classification {
	if slices.Index(core.Classifications, b) > slices.Index(core.Classifications, a) {
		return b
	}
	return a
}

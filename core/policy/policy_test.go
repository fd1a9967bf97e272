package policy_test

import (
	"errors"
	"strings"
	"testing"

	"timon.dev/timon/core"
	"timon.dev/timon/core/policy"
)

var providers = []policy.Provider{
	{Name: "onprem", Models: []string{"mistral-small", "codestral"}, Sovereign: true},
	{Name: "backup", Models: []string{"mistral-small"}, Sovereign: true},
	{Name: "cloud", Models: []string{"mistral-small", "gpt-big"}, Sovereign: false},
}

func mustPolicy(t *testing.T, cfg policy.Config) *policy.Policy {
	t.Helper()
	p, err := policy.New(cfg, providers)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func req(user string, groups []string, in core.Integration, task core.Task) *core.Request {
	return &core.Request{Principal: core.Principal{UserID: user, Groups: groups, Integration: in}, Task: task}
}

func TestDecide(t *testing.T) {
	p := mustPolicy(t, policy.Config{
		Routes: map[string][]string{"default": {"mistral-small"}, "complete": {"codestral"}},
		Classifications: map[core.Classification][]string{
			core.ClassPublic: {"onprem", "cloud"},
			core.ClassSecret: {},
		},
		Rules: []policy.Rule{
			{Name: "students-no-review", Effect: "deny", Reason: "reviews are for staff", Match: policy.Match{Groups: []string{"students"}, Tasks: []core.Task{core.TaskReview}}},
			{Name: "slack-only-chat", Effect: "deny", Match: policy.Match{Integrations: []core.Integration{core.IntegrationSlack}, Tasks: []core.Task{core.TaskReview, core.TaskComplete}}},
			{Name: "tex", Effect: "allow", Match: policy.Match{Paths: []string{"*.tex"}}, Profile: "strict", Content: "none", Classification: core.ClassConfidential},
			{Name: "public-cloud", Effect: "allow", Match: policy.Match{Classifications: []core.Classification{core.ClassPublic}}, AllowNonSovereign: true, Models: []string{"gpt-big"}},
			{Name: "staff", Effect: "allow", Match: policy.Match{Groups: []string{"staff", "students"}}},
		},
	})

	cases := []struct {
		name       string
		req        *core.Request
		allow      bool
		rule       string
		candidates string
		reason     string
	}{
		{name: "staff chat routes to sovereign providers in order", req: req("a", []string{"staff"}, core.IntegrationAPI, core.TaskChat),
			allow: true, rule: "staff", candidates: "onprem/mistral-small backup/mistral-small"},
		{name: "completion uses its own route", req: req("a", []string{"staff"}, core.IntegrationLSP, core.TaskComplete),
			allow: true, rule: "staff", candidates: "onprem/codestral"},
		{name: "first matching rule wins: deny", req: req("s", []string{"students"}, core.IntegrationGitLab, core.TaskReview),
			allow: false, rule: "students-no-review", reason: "reviews are for staff"},
		{name: "deny by integration and task", req: req("a", []string{"staff"}, core.IntegrationSlack, core.TaskComplete),
			allow: false, rule: "slack-only-chat", reason: `denied by rule "slack-only-chat"`},
		{name: "no rule matches", req: req("x", []string{"visitors"}, core.IntegrationAPI, core.TaskChat),
			allow: false, rule: "default", reason: "no rule allows"},
		{name: "path glob", req: func() *core.Request {
			r := req("x", nil, core.IntegrationLSP, core.TaskRewrite)
			r.Origin.Path = "paper/intro.tex"
			return r
		}(), allow: true, rule: "tex", candidates: "onprem/mistral-small backup/mistral-small"},
		{name: "non-sovereign only when the rule and the classification allow it", req: func() *core.Request {
			r := req("x", nil, core.IntegrationAPI, core.TaskChat)
			r.Classification = core.ClassPublic
			return r
		}(), allow: true, rule: "public-cloud", candidates: "onprem/mistral-small cloud/mistral-small"},
		{name: "asked model allowed by the rule", req: func() *core.Request {
			r := req("x", nil, core.IntegrationAPI, core.TaskChat)
			r.Classification, r.Model = core.ClassPublic, "gpt-big"
			return r
		}(), allow: true, rule: "public-cloud", candidates: "cloud/gpt-big"},
		{name: "asked model not allowed", req: func() *core.Request {
			r := req("a", []string{"staff"}, core.IntegrationAPI, core.TaskChat)
			r.Model = "gpt-big"
			return r
		}(), allow: false, rule: "staff", reason: `model "gpt-big" is not allowed`},
		{name: "secret data goes nowhere", req: func() *core.Request {
			r := req("a", []string{"staff"}, core.IntegrationAPI, core.TaskChat)
			r.Classification = core.ClassSecret
			return r
		}(), allow: false, rule: "staff", reason: "no provider may receive secret data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := p.Decide(c.req)
			if d.Allow != c.allow || d.Rule != c.rule {
				t.Fatalf("got allow=%v rule=%q (%s), want allow=%v rule=%q", d.Allow, d.Rule, d.Reason, c.allow, c.rule)
			}
			var got []string
			for _, cand := range d.Candidates {
				got = append(got, cand.Provider+"/"+cand.Model)
			}
			if strings.Join(got, " ") != c.candidates {
				t.Errorf("candidates %q, want %q", strings.Join(got, " "), c.candidates)
			}
			if c.reason != "" && !strings.Contains(d.Reason, c.reason) {
				t.Errorf("reason %q does not say %q", d.Reason, c.reason)
			}
		})
	}
}

func TestDecisionCarriesProfileContentAndClassification(t *testing.T) {
	p := mustPolicy(t, policy.Config{
		Routes: map[string][]string{"default": {"mistral-small"}},
		Rules:  []policy.Rule{{Name: "tex", Effect: "allow", Profile: "strict", Content: "none", Classification: core.ClassConfidential}},
	})
	d := p.Decide(req("a", nil, core.IntegrationLSP, core.TaskRewrite))
	if d.Profile != "strict" || d.Content != "none" || d.Classification != core.ClassConfidential {
		t.Fatalf("decision %+v", d)
	}
	p = mustPolicy(t, policy.Config{Routes: map[string][]string{"default": {"mistral-small"}}, Rules: []policy.Rule{{Name: "all", Effect: "allow"}}})
	d = p.Decide(req("a", nil, core.IntegrationLSP, core.TaskRewrite))
	if d.Profile != "default" || d.Content != "hashes" || d.Classification != core.ClassInternal {
		t.Fatalf("defaults not applied: %+v", d)
	}
}

func TestNeverNonSovereignByDefault(t *testing.T) {
	p := mustPolicy(t, policy.Config{
		Routes: map[string][]string{"default": {"gpt-big"}},
		Rules:  []policy.Rule{{Name: "all", Effect: "allow"}},
	})
	for _, c := range core.Classifications {
		r := req("a", nil, core.IntegrationAPI, core.TaskChat)
		r.Classification = c
		if d := p.Decide(r); d.Allow {
			t.Fatalf("classification %s: a non-sovereign provider was chosen without a rule allowing it: %+v", c, d)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cases := []struct {
		cfg  policy.Config
		path string
	}{
		{policy.Config{Rules: []policy.Rule{{Name: "x", Effect: "maybe"}}}, "rules[0].effect"},
		{policy.Config{Rules: []policy.Rule{{Effect: "allow"}}}, "rules[0]"},
		{policy.Config{Rules: []policy.Rule{{Name: "x", Effect: "allow"}, {Name: "x", Effect: "deny"}}}, "rules[1].name"},
		{policy.Config{Rules: []policy.Rule{{Name: "x", Effect: "allow", Match: policy.Match{Tasks: []core.Task{"dance"}}}}}, "rules[0].match.tasks[0]"},
		{policy.Config{Rules: []policy.Rule{{Name: "x", Effect: "allow", Match: policy.Match{Integrations: []core.Integration{"irc"}}}}}, "rules[0].match.integrations[0]"},
		{policy.Config{Routes: map[string][]string{"chat": {"nope"}}}, "routes.chat[0]"},
		{policy.Config{Classifications: map[core.Classification][]string{"public": {"ghost"}}}, "classifications.public[0]"},
		{policy.Config{DefaultContent: "everything"}, "default_content"},
		{policy.Config{Rules: []policy.Rule{{Name: "x", Effect: "allow", Match: policy.Match{Paths: []string{"[a"}}}}}, "rules[0].match.paths[0]"},
	}
	for _, c := range cases {
		_, err := policy.New(c.cfg, providers)
		var fe *policy.FieldError
		if !errors.As(err, &fe) || fe.Path != c.path {
			t.Errorf("config %+v: got %v, want an error at %s", c.cfg, err, c.path)
		}
	}
}

func TestMatchPath(t *testing.T) {
	cases := []struct {
		glob, path string
		want       bool
	}{
		{"*.tex", "paper/main.tex", true},
		{"*.tex", "main.go", false},
		{"secret/**", "secret/a/b.txt", true},
		{"secret/**", "public/secret.txt", false},
		{"*/private/**", "lab/private/x", true},
		{"docs/*.md", "docs/a.md", true},
		{"docs/*.md", "docs/x/a.md", false},
		{"*.tex", "", false},
	}
	for _, c := range cases {
		if got := policy.MatchPath(c.glob, c.path); got != c.want {
			t.Errorf("MatchPath(%q, %q) = %v, want %v", c.glob, c.path, got, c.want)
		}
	}
}

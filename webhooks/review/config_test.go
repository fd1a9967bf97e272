package review_test

import (
	"errors"
	"strings"
	"testing"

	timon "timon.dev/timon"
	"timon.dev/timon/core/config"
	"timon.dev/timon/webhooks/review"
)

// parse reads a configuration with the gitlab section.
func parse(name string, data []byte) (*review.Config, error) {
	g := &review.Config{}
	_, err := config.Parse(name, data, config.Section{At: "gitlab", Settings: g})
	return g, err
}

const gitlabBase = `
providers:
  - {name: a, base_url: "http://127.0.0.1:8000/v1", models: [m], sovereign: true}
policy: {routes: {default: [m]}, rules: [{name: all, effect: allow}]}
`

func TestGitLabIsOnOnlyWithItsSecrets(t *testing.T) {
	t.Setenv(config.EnvProviderURL, "")
	for _, v := range []string{"TIMON_GITLAB_URL", "TIMON_GITLAB_TOKEN", "TIMON_GITLAB_WEBHOOK_SECRET"} {
		t.Setenv(v, "")
	}
	g, err := parse("timon.example.yaml", timon.ExampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	if g.Enabled() {
		t.Fatal("GitLab on without its secrets")
	}
	t.Setenv("TIMON_GITLAB_URL", "https://gitlab.example.org/")
	t.Setenv("TIMON_GITLAB_TOKEN", "glpat-bot")
	t.Setenv("TIMON_GITLAB_WEBHOOK_SECRET", "hook")
	g, err = parse("timon.example.yaml", timon.ExampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Enabled() || g.URL != "https://gitlab.example.org" || g.Token != "glpat-bot" || g.WebhookSecret != "hook" {
		t.Fatalf("resolved %+v", g)
	}
	if g.Review.Inline() != 10 || g.Review.Confidence() != 0.5 || !g.Review.EventEnabled("push") {
		t.Fatalf("example review settings: %+v", g.Review)
	}

	// A secret without the API's URL or token is a mistake, said plainly.
	t.Setenv("TIMON_GITLAB_TOKEN", "")
	_, err = parse("timon.example.yaml", timon.ExampleConfig)
	if err == nil || !strings.Contains(err.Error(), "TIMON_GITLAB_TOKEN") {
		t.Fatalf("got %v", err)
	}
}

func TestGitLabScopes(t *testing.T) {
	t.Setenv("TEST_GROUP_SECRET", "g")
	t.Setenv("TEST_PROJECT_SECRET", "p")
	t.Setenv("TIMON_GITLAB_URL", "https://gitlab.example.org")
	t.Setenv("TIMON_GITLAB_TOKEN", "glpat-bot")
	t.Setenv("TIMON_GITLAB_WEBHOOK_SECRET", "")
	g, err := parse("x", []byte(gitlabBase+`
gitlab:
  review: {profile: default, exclude: ["*.lock"], max_inline_comments: 5}
  groups:
    - {path: research, secret_env: TEST_GROUP_SECRET, exclude: ["docs/**"], language: French}
    - {path: research/physics, profile: thorough}
  projects:
    - {path: research/physics/solver, secret_env: TEST_PROJECT_SECRET, summary_only: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := g.ProjectFor("research/physics/solver")
	if p.Secret != "p" || p.Settings.Profile != "thorough" || p.Settings.Inline() != 0 || p.Settings.Language != "" {
		t.Fatalf("solver: %+v", p)
	}
	q := g.ProjectFor("research/chem/x")
	if q.Secret != "g" || q.Settings.Language != "French" || strings.Join(q.Settings.Exclude, ",") != "*.lock,docs/**" || q.Settings.Inline() != 5 {
		t.Fatalf("chem: %+v", q)
	}
	if o := g.ProjectFor("other/x"); o.Secret != "" || o.Settings.Profile != "default" {
		t.Fatalf("other: %+v", o)
	}
	if !g.Enabled() {
		t.Fatal("scopes' secrets do not switch the webhook on")
	}
}

func TestGitLabProblemsHaveLines(t *testing.T) {
	_, err := parse("timon.yaml", []byte(gitlabBase+`
gitlab:
  review:
    events: [open, merged]
    profile: pedantic
    max_inline_comments: 500
  projects:
    - {path: ""}
  link_allowlist: ["https://docs.example.org"]
  chunk_tokens: 10
`))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"gitlab.review.events[1]: unknown event \"merged\"",
		"gitlab.review.profile: unknown profile \"pedantic\"",
		"gitlab.review.max_inline_comments",
		"gitlab.projects[0].path",
		"gitlab.link_allowlist[0]",
		"gitlab.chunk_tokens",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems lack %q:\n%s", want, msg)
		}
	}
	for _, p := range ce.Problems {
		if p.Line == 0 {
			t.Errorf("problem without a line: %s", p)
		}
	}
}

// TestRepositorySettingsOnlyNarrow: a project's .timon.yaml may narrow
// what the institution configured, never widen it.
func TestRepositorySettingsOnlyNarrow(t *testing.T) {
	no, yes := false, true
	base := review.Settings{
		Events: []string{"open", "push", "review"}, Profile: "security", Include: []string{"src/**"}, Exclude: []string{"data/**"},
		MaxInlineComments: 5, MinConfidence: 0.7, ReviewDrafts: &no, Instructions: "Institution.",
	}
	wide := review.Settings{
		Events: []string{"open", "reopen", "describe"}, Profile: "thorough", Include: []string{"**", "data/**"}, Exclude: []string{"gen/**"},
		MaxInlineComments: 50, MinConfidence: 0.1, ReviewDrafts: &yes, Instructions: "Repository.", SummaryOnly: &no,
	}
	got, refused := base.NarrowedBy(wide)
	if strings.Join(got.Events, ",") != "open" || got.Profile != "security" || got.MaxInlineComments != 5 || got.Confidence() != 0.7 ||
		got.ReviewDrafts == nil || *got.ReviewDrafts || got.Inline() != 5 {
		t.Fatalf("widened: %+v", got)
	}
	if strings.Join(got.Include, ",") != "src/**" || strings.Join(got.AlsoInclude, ",") != "**,data/**" ||
		strings.Join(got.Exclude, ",") != "data/**,gen/**" || got.Instructions != "Institution.\nRepository." {
		t.Fatalf("paths or instructions: %+v", got)
	}
	for _, want := range []string{"event reopen", "event describe", "profile thorough", "max_inline_comments 50", "min_confidence 0.1", "review_drafts: true"} {
		if !strings.Contains(strings.Join(refused, ";"), want) {
			t.Errorf("refused %q not reported: %q", want, refused)
		}
	}

	narrow := review.Settings{Events: []string{"push"}, Profile: "light", Include: []string{"src/core/**"}, MaxInlineComments: 2,
		MinConfidence: 0.9, SummaryOnly: &yes}
	got, refused = base.NarrowedBy(narrow)
	if len(refused) != 0 || strings.Join(got.Events, ",") != "push" || got.Profile != "light" || got.Inline() != 0 || got.Confidence() != 0.9 ||
		strings.Join(got.AlsoInclude, ",") != "src/core/**" {
		t.Fatalf("narrowing refused: %+v %q", got, refused)
	}
	// Nothing set by the institution: the repository's choices, within
	// the defaults' own bounds.
	got, _ = review.Settings{}.NarrowedBy(review.Settings{Include: []string{"lib/**"}, Profile: "thorough", MaxInlineComments: 20})
	if strings.Join(got.Include, ",") != "lib/**" || got.AlsoInclude != nil || got.Profile != "" || got.Inline() != 10 {
		t.Fatalf("defaults: %+v", got)
	}
}

package config_test

import (
	"strings"
	"testing"

	"timon.dev/timon/core/config"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider"
)

const moderationGood = `providers:
  - {name: a, base_url: "http://127.0.0.1:1/v1", models: [m], sovereign: true}
moderation:
  classifiers:
    - {name: mistral-mod, kind: mistral, base_url: "http://127.0.0.1:2/v1", sovereign: true, timeout: 5s}
    - {name: guard, base_url: "http://127.0.0.1:3/v1", wire: guard, models: [llama-guard-3-8b], sovereign: true}
  categories:
    - {name: unpublished_results, description: "Research results not yet published."}
policy:
  routes: {default: [m]}
  rules:
    - name: students
      effect: allow
      match: {groups: [students]}
      moderation:
        input:
          violence_and_threats: block
          health: {action: warn, threshold: 0.8}
          "*": log
        output:
          selfharm: block
        on_error: allow
    - {name: all, effect: allow}
`

func TestModerationConfig(t *testing.T) {
	cfg, err := config.Parse("c.yaml", []byte(moderationGood))
	if err != nil {
		t.Fatal(err)
	}
	ccs := cfg.Moderation.ClassifierConfigs()
	if len(ccs) != 2 || ccs[0].Kind != provider.KindMistral || ccs[0].Wire != "" || len(ccs[0].Categories) != 0 ||
		ccs[1].Kind != provider.KindOpenAI || ccs[1].Wire != provider.ModerationGuard || len(ccs[1].Categories) != 1 {
		t.Fatalf("classifiers: %+v", ccs)
	}
	for _, cc := range ccs {
		if _, err := provider.NewClassifier(cc); err != nil {
			t.Fatalf("classifier %s: %v", cc.Name, err)
		}
	}
	m := cfg.Policy.Rules[0].Moderation
	if m.Input["violence_and_threats"] != (policy.ModerationAction{Action: "block"}) ||
		m.Input["health"] != (policy.ModerationAction{Action: "warn", Threshold: 0.8}) ||
		m.Input["*"].Action != "log" || m.Output["selfharm"].Action != "block" || !m.FailOpen() {
		t.Fatalf("rule moderation: %+v", m)
	}
	if cfg.Policy.Rules[1].Moderation.Active() {
		t.Fatal("a rule without moderation moderates")
	}
}

func TestModerationConfigProblems(t *testing.T) {
	got := problems(t, `providers:
  - {name: a, base_url: "http://127.0.0.1:1/v1", models: [m]}
moderation:
  classifiers:
    - {name: c, base_url: "http://127.0.0.1:2/v1", wire: llama, sovereign: true, thresold: 1}
    - {name: d, base_url: "http://127.0.0.1:2/v1"}
  categories:
    - {name: internal_projects}
policy:
  routes: {default: [m]}
  rules:
    - name: r
      effect: allow
      moderation:
        input: {violence_and_threats: stop}
        on_error: ignore
`)
	want := []string{
		`c.yaml:5: moderation.classifiers[0].thresold: unknown setting "thresold"`,
		`c.yaml:5: moderation.classifiers[0].wire: expected mistral, openai or guard, got "llama"`,
		`c.yaml:6: moderation.classifiers[1].sovereign: classifier "d" is not marked sovereign`,
		`c.yaml:8: moderation.categories[0].description: a custom category needs a description on one line`,
		`c.yaml:8: moderation.categories: custom categories are only put to guard models`,
	}
	joined := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("missing problem %q in:\n%s", w, joined)
		}
	}
	// The policy reports the first of its problems.
	if w := `c.yaml:16: policy.rules[0].moderation.on_error: expected block or allow, got "ignore"`; !strings.Contains(joined, w) {
		t.Errorf("missing problem %q in:\n%s", w, joined)
	}
	got = problems(t, strings.Replace(moderationGood, "selfharm: block", "selfharm: stop", 1))
	if w := `c.yaml:21: policy.rules[0].moderation.output.selfharm: expected block, warn or log, got "stop"`; !strings.Contains(strings.Join(got, "\n"), w) {
		t.Errorf("problems:\n%s\nwant %s", strings.Join(got, "\n"), w)
	}

	got = problems(t, minimal[:strings.Index(minimal, "policy:")]+`policy:
  routes: {default: [m]}
  rules:
    - name: r
      effect: allow
      moderation: {input: {"*": block}}
`)
	if w := `c.yaml:8: policy.rules[0].moderation: rule "r" moderates, but no classifier is configured under moderation.classifiers`; !strings.Contains(strings.Join(got, "\n"), w) {
		t.Errorf("problems:\n%s\nwant %s", strings.Join(got, "\n"), w)
	}
}

package policy_test

import (
	"errors"
	"testing"

	"go.yaml.in/yaml/v3"

	"timon.dev/timon/core"
	"timon.dev/timon/core/policy"
)

func TestDecideCarriesTheRuleModeration(t *testing.T) {
	var cfg policy.Config
	err := yaml.Unmarshal([]byte(`
routes: {default: [mistral-small]}
rules:
  - name: students
    effect: allow
    match: {groups: [students]}
    moderation:
      input: {violence_and_threats: block, "*": {action: log, threshold: 0.7}}
      output: {health: warn}
  - name: empty
    effect: allow
    match: {groups: [staff]}
    moderation: {}
  - {name: all, effect: allow}
`), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := mustPolicy(t, cfg)
	if !p.UsesModeration() {
		t.Fatal("UsesModeration is false")
	}
	d := p.Decide(req("ann", []string{"students"}, core.IntegrationAPI, core.TaskChat))
	if !d.Allow || d.Moderation == nil || d.Moderation.FailOpen() {
		t.Fatalf("decision %+v", d)
	}
	if a, ok := policy.For(d.Moderation.Input, "violence_and_threats"); !ok || a.Action != policy.ModBlock {
		t.Errorf("violence_and_threats: %+v %v", a, ok)
	}
	if a, ok := policy.For(d.Moderation.Input, "pii"); !ok || a != (policy.ModerationAction{Action: policy.ModLog, Threshold: 0.7}) {
		t.Errorf("pii through *: %+v %v", a, ok)
	}
	if _, ok := policy.For(d.Moderation.Output, "pii"); ok {
		t.Error("an output category without * applies")
	}
	for _, g := range []string{"staff", "others"} {
		if d := p.Decide(req("bob", []string{g}, core.IntegrationAPI, core.TaskChat)); d.Moderation != nil {
			t.Errorf("group %s: moderation %+v, want none", g, d.Moderation)
		}
	}
	if mustPolicy(t, policy.Config{Routes: cfg.Routes, Rules: cfg.Rules[2:]}).UsesModeration() {
		t.Error("UsesModeration without a moderating rule")
	}
}

func TestModerationChecked(t *testing.T) {
	for _, tc := range []struct {
		mod  policy.Moderation
		path string
	}{
		{policy.Moderation{Input: map[string]policy.ModerationAction{"health": {Action: "stop"}}}, "rules[0].moderation.input.health"},
		{policy.Moderation{Output: map[string]policy.ModerationAction{"health": {Action: "block", Threshold: 1.5}}}, "rules[0].moderation.output.health.threshold"},
		{policy.Moderation{OnError: "ignore", Input: map[string]policy.ModerationAction{"*": {Action: "block"}}}, "rules[0].moderation.on_error"},
	} {
		_, err := policy.New(policy.Config{Routes: map[string][]string{"default": {"mistral-small"}},
			Rules: []policy.Rule{{Name: "r", Effect: "allow", Moderation: &tc.mod}}}, providers)
		var fe *policy.FieldError
		if !errors.As(err, &fe) || fe.Path != tc.path {
			t.Errorf("got %v, want a problem at %s", err, tc.path)
		}
	}
}

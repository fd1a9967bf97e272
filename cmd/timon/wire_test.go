package main

import (
	"testing"

	"timon.dev/timon/core/config"
	"timon.dev/timon/core/provider"
)

func TestBuildClassifiers(t *testing.T) {
	cfg, err := config.Parse("c.yaml", []byte(`providers:
  - {name: a, base_url: "http://127.0.0.1:1/v1", models: [m], sovereign: true}
moderation:
  classifiers:
    - {name: mod, kind: mistral, base_url: "http://127.0.0.1:2/v1", sovereign: true}
    - {name: guard, base_url: "http://127.0.0.1:3/v1", wire: guard, models: [llama-guard-3-8b], sovereign: true}
  categories:
    - {name: unpublished_results, description: "Research results not yet published."}
policy:
  routes: {default: [m]}
  rules: [{name: all, effect: allow, moderation: {input: {"*": block}}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := buildClassifiers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 2 || ks[0].Name() != "mod" || ks[0].Wire() != provider.ModerationMistral ||
		ks[1].Wire() != provider.ModerationGuard || ks[1].Categories()[len(ks[1].Categories())-1].Name != "unpublished_results" {
		t.Fatalf("classifiers %v", ks)
	}

	cfg.Moderation = config.Moderation{}
	if ks, err := buildClassifiers(cfg); err != nil || len(ks) != 0 {
		t.Fatalf("without moderation: %v %v", ks, err)
	}
}

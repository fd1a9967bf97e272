package config_test

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"timon.dev/timon/core/config"
)

const minimal = `providers:
  - {name: a, base_url: "http://127.0.0.1:1/v1", models: [m]}
policy: {routes: {default: [m]}, rules: [{name: all, effect: allow}]}
`

func problems(t *testing.T, src string) []string {
	t.Helper()
	_, err := config.Parse("c.yaml", []byte(src))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %v", err)
	}
	var out []string
	for _, p := range ce.Problems {
		out = append(out, p.String())
	}
	return out
}

// TestUnclaimedSectionsAreKeptAsWritten: read without the front ends'
// sections (config.Section), their parts of the file are kept as written
// and not checked; core's own settings still are.
func TestUnclaimedSectionsAreKeptAsWritten(t *testing.T) {
	cfg, err := config.Parse("c.yaml", []byte(minimal+"chat:\n  slack: {mode: any, extra: 1}\ngitlab: {whatever: [1]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Chat.Kind != yaml.MappingNode || cfg.GitLab.Kind != yaml.MappingNode || cfg.Section("gitlab") != nil {
		t.Fatalf("sections %v %v", cfg.Chat.Kind, cfg.GitLab.Kind)
	}
	got := problems(t, minimal+"gitlab: {whatever: [1]}\nlsp: {log_level: loud}\n")
	want := `c.yaml:5: lsp.log_level: expected debug, info, warn or error, got "loud"`
	if strings.Join(got, "\n") != want {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

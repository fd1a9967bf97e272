package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	timon "timon.dev/timon"
	"timon.dev/timon/core/config"
)

func TestExampleConfigIsValid(t *testing.T) {
	t.Setenv(config.EnvProviderURL, "")
	t.Setenv(config.EnvDataDir, "")
	cfg, err := config.Parse("timon.example.yaml", timon.ExampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Providers[0].BaseURL != config.DefaultProviderURL || !cfg.Providers[0].Sovereign {
		t.Errorf("example provider: %+v", cfg.Providers[0])
	}
	if cfg.SQLitePath() != filepath.Join("data", "timon.db") || cfg.Store.Driver != "sqlite" {
		t.Errorf("example store: %s %s", cfg.Store.Driver, cfg.SQLitePath())
	}
	if time.Duration(cfg.Journal.Retention) != 365*24*time.Hour {
		t.Errorf("retention %v", cfg.Journal.Retention)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	t.Setenv(config.EnvProviderURL, "http://10.0.0.1:8000/v1")
	t.Setenv(config.EnvDataDir, "/var/lib/timon")
	cfg, err := config.Parse("x", timon.ExampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Providers[0].BaseURL != "http://10.0.0.1:8000/v1" || cfg.SQLitePath() != "/var/lib/timon/timon.db" {
		t.Fatalf("overrides not applied: %s %s", cfg.Providers[0].BaseURL, cfg.SQLitePath())
	}
}

func TestSecretsFromEnvAndFile(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("file-secret\n"), 0o600)
	t.Setenv("TEST_MISTRAL_KEY", "env-secret")
	cfg, err := config.Parse("x", []byte(`
providers:
  - {name: a, kind: mistral, base_url: "https://api.mistral.ai/v1", api_key_env: TEST_MISTRAL_KEY, models: [m]}
  - {name: b, base_url: "http://127.0.0.1:8000/v1", api_key_file: `+keyFile+`, models: [m]}
policy: {routes: {default: [m]}, rules: [{name: all, effect: allow}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Providers[0].APIKey != "env-secret" || cfg.Providers[1].APIKey != "file-secret" {
		t.Fatalf("keys not resolved")
	}
}

// TestProblemsHaveLines: every problem names file:line and what was
// expected, and all of them are reported at once.
func TestProblemsHaveLines(t *testing.T) {
	t.Setenv(config.EnvProviderURL, "")
	src := `server:
  log_level: loud
providers:
  - name: a
    kind: gpt
    base_url: "ftp://x"
    models: [m]
    api_key_env: TIMON_TEST_UNSET_VARIABLE
policy:
  routes:
    default: [m]
  rules:
    - name: r1
      effect: perhaps
redaction:
  profiles:
    default:
      actions: {secret: shred}
      patterns:
        - {name: p, regex: "(["}
`
	_, err := config.Parse("timon.yaml", []byte(src))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %v", err)
	}
	want := []string{
		"timon.yaml:2: server.log_level: expected debug, info, warn or error",
		"timon.yaml:5: providers[0].kind: expected mistral or openai",
		"timon.yaml:6: providers[0].base_url: expected an http(s) URL",
		"timon.yaml:4: providers[0]: environment variable TIMON_TEST_UNSET_VARIABLE is not set",
		"timon.yaml:14: policy.rules[0].effect: expected allow or deny",
		"timon.yaml:18: redaction.profiles.default.actions.secret: expected mask, block or allow",
		"timon.yaml:20: redaction.profiles.default.patterns[0].regex: expected a valid regular expression",
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing problem %q in:\n%s", w, got)
		}
	}
}

func TestUnknownFieldAndBadYAML(t *testing.T) {
	_, err := config.Parse("c.yaml", []byte("providers:\n  - name: a\n    base_uri: http://x\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:3:") || !strings.Contains(err.Error(), "base_uri") {
		t.Fatalf("unknown field: %v", err)
	}
	_, err = config.Parse("c.yaml", []byte("providers: [\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml") {
		t.Fatalf("bad YAML: %v", err)
	}
	_, err = config.Parse("c.yaml", []byte(""))
	if err == nil || !strings.Contains(err.Error(), "at least one provider") {
		t.Fatalf("empty file: %v", err)
	}
}

func TestFullContentNeedsAKey(t *testing.T) {
	src := `providers: [{name: a, base_url: "http://127.0.0.1:1/v1", models: [m]}]
policy: {routes: {default: [m]}, rules: [{name: all, effect: allow, content: full}]}
`
	_, err := config.Parse("c.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "encrypted at rest") {
		t.Fatalf("full content without a key: %v", err)
	}
	t.Setenv("TEST_CONTENT_KEY", strings.Repeat("ab", 32))
	cfg, err := config.Parse("c.yaml", []byte(src+"journal: {content_key_env: TEST_CONTENT_KEY}\n"))
	if err != nil || len(cfg.Journal.ContentKey) != 32 {
		t.Fatalf("with a key: %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "90d": 90 * 24 * time.Hour, "1h30m": 90 * time.Minute} {
		if got, err := config.ParseDuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "d", "-1d", "soon"} {
		if _, err := config.ParseDuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

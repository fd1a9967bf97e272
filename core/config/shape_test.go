package config_test

import (
	"errors"
	"strings"
	"testing"

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

// TestConfigShapeProblemsAllAtOnce: values of the wrong kind, unknown
// settings and unreadable durations are each reported at their line, in
// the file's words, together with the checks of values, in line order; a
// section no front end claims is kept as written (cmd/timon's test of the
// same name covers the front ends' sections).
func TestConfigShapeProblemsAllAtOnce(t *testing.T) {
	got := problems(t, `server:
  drain_timeout: 1y
  max_body_bytes: 99999999999999999999
providers:
  - name: a
    base_url: "http://127.0.0.1:1/v1"
    models: [m]
    max_retries: {n: 1}
    Timeout: 5s
policy: {routes: {default: [m]}, rules: [{name: all, effect: allow}]}
gitlab:
  groups:
    - {path: a, profile: strict, max_inline: 3}
lsp:
  log_level: loud
  ignore: "*.pem"
`)
	want := []string{
		`c.yaml:2: server.drain_timeout: expected a duration such as 30s, 5m, 24h or 7d, got "1y"`,
		`c.yaml:3: server.max_body_bytes: expected a whole number, got 99999999999999999999 (out of range)`,
		`c.yaml:8: providers[0].max_retries: expected a whole number, got a section (name: value lines)`,
		`c.yaml:9: providers[0].Timeout: unknown setting "Timeout" (did you mean timeout?)`,
		`c.yaml:15: lsp.log_level: expected debug, info, warn or error, got "loud"`,
		`c.yaml:16: lsp.ignore: expected a list (such as [a, b], or one "- item" a line), got "*.pem"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

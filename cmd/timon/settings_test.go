package main

import (
	"errors"
	"strings"
	"testing"

	"timon.dev/timon/core/config"
)

// The checks of the whole file, its front ends' sections included, as
// timon config check and timon serve read it.

const minimal = `providers:
  - {name: a, base_url: "http://127.0.0.1:1/v1", models: [m]}
policy: {routes: {default: [m]}, rules: [{name: all, effect: allow}]}
`

func parseAll(name, src string) (*config.Config, error) {
	return config.Parse(name, []byte(src), frontEndSections()...)
}

func problems(t *testing.T, src string) []string {
	t.Helper()
	_, err := parseAll("c.yaml", src)
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
// the file's words, together with the checks of values, in line order;
// a value removed for its shape is not reported again as missing.
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
		`c.yaml:13: gitlab.groups[0].max_inline: unknown setting "max_inline" (did you mean max_inline_comments?)`,
		`c.yaml:13: gitlab.groups[0].profile: unknown profile "strict" (expected one of default, security, thorough, light)`,
		`c.yaml:15: lsp.log_level: expected debug, info, warn or error, got "loud"`,
		`c.yaml:16: lsp.ignore: expected a list (such as [a, b], or one "- item" a line), got "*.pem"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestConfigIntegrationsHalfConfigured: a secret that switches an
// integration on without its companions is a problem naming what is
// missing; the error still lists every integration's state.
func TestConfigIntegrationsHalfConfigured(t *testing.T) {
	for _, v := range []string{"TIMON_SLACK_BOT_TOKEN", "TIMON_SLACK_SIGNING_SECRET", "TIMON_SLACK_APP_TOKEN",
		"TIMON_MATTERMOST_URL", "TIMON_MATTERMOST_BOT_TOKEN", "TIMON_MATTERMOST_COMMAND_TOKEN",
		"TIMON_GITLAB_URL", "TIMON_GITLAB_TOKEN", "TIMON_GITLAB_WEBHOOK_SECRET"} {
		t.Setenv(v, "")
	}
	cfg, err := parseAll("c.yaml", minimal)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range cfg.Integrations() {
		if want := map[string]config.State{"slack": config.StateOff, "mattermost": config.StateOff, "gitlab": config.StateOff}[i.Name]; want != "" && i.State != want {
			t.Errorf("%s", i)
		}
	}

	t.Setenv("TIMON_SLACK_BOT_TOKEN", "xoxb-x")
	t.Setenv("TIMON_MATTERMOST_URL", "https://chat.example.org")
	t.Setenv("TIMON_GITLAB_WEBHOOK_SECRET", "s")
	_, err = parseAll("c.yaml", minimal+"chat:\n  slack: {mode: http}\n")
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %v", err)
	}
	msg := err.Error()
	for _, w := range []string{
		"c.yaml:5: chat.slack: half-configured: HTTP mode (chat.slack.mode: http) needs the signing secret",
		"c.yaml: chat.mattermost: half-configured: a server URL is set but no bot token: set TIMON_MATTERMOST_BOT_TOKEN (or chat.mattermost.bot_token_file)",
		"c.yaml: gitlab: half-configured: missing the GitLab URL, TIMON_GITLAB_URL (or gitlab.url_file); the bot's token, TIMON_GITLAB_TOKEN (or gitlab.token_file)",
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
	states := map[string]config.State{}
	for _, i := range ce.Integrations {
		states[i.Name] = i.State
	}
	if states["slack"] != config.StateHalf || states["mattermost"] != config.StateHalf || states["gitlab"] != config.StateHalf || states["api"] != config.StateOn {
		t.Errorf("integrations: %v", ce.Integrations)
	}
}

// TestSectionFileSettingsAreExpanded: the *_file settings of the front
// ends' sections go through the same expansion as core's, with their
// problems at their line.
func TestSectionFileSettingsAreExpanded(t *testing.T) {
	_, err := parseAll("t.yaml", minimal+"gitlab:\n  token_file: ~bob/tok\n")
	if err == nil || !strings.Contains(err.Error(), "t.yaml:5: gitlab.token_file: only ~/ is expanded") {
		t.Fatalf("bad paths: %v", err)
	}
}

// TestSectionProblemsAtTheirPath: a problem of a section as a whole (a
// secret it reads) is reported at the section's path and line, one of a
// setting in a section at the setting's, like core's own.
func TestSectionProblemsAtTheirPath(t *testing.T) {
	clearChatEnv(t)
	t.Setenv("TIMON_SLACK_BOT_TOKEN", "xoxb-1")
	t.Setenv("TIMON_SLACK_APP_TOKEN", "not-an-app-token")
	t.Setenv("TIMON_MATTERMOST_URL", "ftp://chat.example.org")
	t.Setenv("TIMON_MATTERMOST_BOT_TOKEN", "mm-token")
	got := problems(t, minimal+`chat:
  slack: {updates_per_minute: -1}
  mattermost:
    link_allowlist: [docs.example.org]
`)
	want := []string{
		"c.yaml:5: chat.slack.updates_per_minute: expected a positive number of edits per minute",
		"c.yaml:5: chat.slack: the Slack app-level token (Socket Mode) must start with xapp-",
		`c.yaml:7: chat.mattermost: the Mattermost URL must be an http(s) URL such as https://chat.example.org, got "ftp://chat.example.org"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

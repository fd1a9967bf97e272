package integrationtests

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// offChatAndGitLab is the environment of a hub whose chat bots and GitLab
// review are off, whatever the environment of the test.
var offChatAndGitLab = map[string]string{
	"TIMON_SLACK_BOT_TOKEN": "", "TIMON_SLACK_SIGNING_SECRET": "", "TIMON_SLACK_APP_TOKEN": "",
	"TIMON_MATTERMOST_URL": "", "TIMON_MATTERMOST_BOT_TOKEN": "", "TIMON_MATTERMOST_COMMAND_TOKEN": "",
	"TIMON_GITLAB_URL": "", "TIMON_GITLAB_TOKEN": "", "TIMON_GITLAB_WEBHOOK_SECRET": "",
}

func withEnv(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestConfigCheckListsEveryErrorWithALine: one run of config check lists
// every problem of a file, each with its file:line and YAML path, in the
// file's words: unknown settings (with the near miss), values of the wrong
// kind, unreadable durations, a setting given twice, a section in the
// wrong place, and the checks of values, all at once.
func TestConfigCheckListsEveryErrorWithALine(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	src := `server:
  log_level: loud
  max_body_bytes: lots
providers:
  - name: a
    kind: mistral
    base_url: http://127.0.0.1:1/v1
    models: [m]
    max_retry: 3
    timeout: 1y
    sovereign: maybe
policy:
  routes: {default: [m]}
  rules:
    - {name: r, effect: perhaps}
slack:
  mode: socket
jobs:
  workers: 1.5
  workers: 2
journal:
  retention: [90d]
`
	if err := os.WriteFile(bad, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runTimonEnv(t, offChatAndGitLab, "config", "check", "--config", bad)
	if code != 1 {
		t.Fatalf("config check of a bad file: exit %d\n%s%s", code, out, errOut)
	}
	want := []string{
		`bad.yaml:2: server.log_level: expected debug, info, warn or error, got "loud"`,
		`bad.yaml:3: server.max_body_bytes: expected a whole number, got "lots"`,
		`bad.yaml:9: providers[0].max_retry: unknown setting "max_retry" (did you mean max_retries?)`,
		`bad.yaml:10: providers[0].timeout: expected a duration such as 30s, 5m, 24h or 7d, got "1y"`,
		`bad.yaml:11: providers[0].sovereign: expected true or false, got "maybe"`,
		`bad.yaml:15: policy.rules[0].effect: expected allow or deny, got "perhaps"`,
		`bad.yaml:16: slack: unknown setting "slack" here (it belongs at chat.slack)`,
		`bad.yaml:19: jobs.workers: expected a whole number, got "1.5"`,
		`bad.yaml:20: jobs.workers: "workers" is set twice (first at line 19); keep one`,
		`bad.yaml:22: journal.retention: expected a duration such as 30s, 5m, 24h or 7d, got a list`,
	}
	for _, w := range want {
		if !strings.Contains(errOut, w+"\n") {
			t.Errorf("missing %q in:\n%s", w, errOut)
		}
	}
	// Every problem, and only those, each on a line of its own with its
	// file:line, and the count says so.
	problem := regexp.MustCompile(`^` + regexp.QuoteMeta(bad) + `:\d+: \S+: `)
	var n int
	for line := range strings.SplitSeq(errOut, "\n") {
		if problem.MatchString(line) {
			n++
		}
	}
	if n != len(want) || !strings.Contains(errOut, fmt.Sprintf("%d problem(s) found", len(want))) {
		t.Errorf("%d problem lines, want %d:\n%s", n, len(want), errOut)
	}
	// The file's words, never the program's.
	for _, leak := range []string{"int64", "config.", "section Provider", "!!str", "unmarshal", "struct", "time.Duration"} {
		if strings.Contains(errOut, leak) {
			t.Errorf("the problems name %q:\n%s", leak, errOut)
		}
	}
	// A file that is not YAML still says where.
	if err := os.WriteFile(bad, []byte("providers:\n  - name: a\n   kind: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runTimonEnv(t, offChatAndGitLab, "config", "check", "--config", bad)
	if code != 1 || !regexp.MustCompile(regexp.QuoteMeta(bad)+`:\d+: `).MatchString(errOut) {
		t.Errorf("YAML that does not parse: exit %d\n%s", code, errOut)
	}
}

// TestConfigCheckIntegrations: config check lists each integration as on,
// off or half-configured with what is missing by the setting's name; a
// half-configured one is a problem, and timon serve refuses to start on
// it with the same words.
func TestConfigCheckIntegrations(t *testing.T) {
	fake := newFake(t)
	cfg := filepath.Join(t.TempDir(), "timon.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(hubConfig, fake.URL())), 0o600); err != nil {
		t.Fatal(err)
	}
	const botToken, mmToken = "xoxb-config-check-secret", "mm-config-check-secret"

	// Everything off: the file checks, and says how to switch each on.
	out, errOut, code := runTimonEnv(t, offChatAndGitLab, "config", "check", "--config", cfg)
	if code != 0 {
		t.Fatalf("config check with the integrations off: exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{
		"integrations:\n",
		"  api: on: POST /v1/assist",
		"  lsp: on: timon lsp in local mode",
		"  slack: off: set the bot token, TIMON_SLACK_BOT_TOKEN (or chat.slack.bot_token_file)",
		"  mattermost: off: set the server URL, TIMON_MATTERMOST_URL (or chat.mattermost.url_file)",
		"  gitlab: off: set the GitLab URL, TIMON_GITLAB_URL (or gitlab.url_file)",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in:\n%s", w, out)
		}
	}

	// A Slack bot token in Socket Mode without the app-level token, a
	// Mattermost token without the server's URL, GitLab without a webhook
	// secret: three half-configured integrations, three problems.
	half := withEnv(offChatAndGitLab, "TIMON_SLACK_BOT_TOKEN", botToken, "TIMON_MATTERMOST_BOT_TOKEN", mmToken,
		"TIMON_GITLAB_URL", "https://gitlab.example.org", "TIMON_GITLAB_TOKEN", "glpat-config-check-secret")
	slackWhy := "chat.slack: half-configured: Socket Mode (chat.slack.mode: socket, the default) needs the app-level token: set TIMON_SLACK_APP_TOKEN (or chat.slack.app_token_file), or set chat.slack.mode: http"
	mmWhy := "chat.mattermost: half-configured: a token is set but no server URL: set TIMON_MATTERMOST_URL (or chat.mattermost.url_file)"
	glWhy := "gitlab: half-configured: missing a webhook secret, TIMON_GITLAB_WEBHOOK_SECRET (or gitlab.webhook.secret_file)"
	out, errOut, code = runTimonEnv(t, half, "config", "check", "--config", cfg)
	if code != 1 {
		t.Fatalf("config check with half-configured integrations: exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{slackWhy, mmWhy, glWhy, "3 problem(s) found",
		"  slack: half-configured: ", "  mattermost: half-configured: ", "  gitlab: half-configured: ", "  api: on: "} {
		if !strings.Contains(errOut, w) {
			t.Errorf("missing %q in:\n%s", w, errOut)
		}
	}
	if strings.Contains(out+errOut, botToken) || strings.Contains(out+errOut, mmToken) || strings.Contains(out+errOut, "glpat-") {
		t.Errorf("config check shows a secret:\n%s%s", out, errOut)
	}
	_, errOut, code = runTimonEnv(t, half, "serve", "--config", cfg, "--addr", freeAddr(t))
	if code != 1 || !strings.Contains(errOut, "invalid configuration") ||
		!strings.Contains(errOut, slackWhy) || !strings.Contains(errOut, mmWhy) || !strings.Contains(errOut, glWhy) {
		t.Fatalf("serve with half-configured integrations: exit %d\n%s", code, errOut)
	}

	// Completed, each is on and says what runs.
	full := withEnv(half, "TIMON_SLACK_APP_TOKEN", "xapp-1-config-check", "TIMON_MATTERMOST_URL", "https://chat.example.org",
		"TIMON_GITLAB_WEBHOOK_SECRET", "config-check-webhook")
	out, errOut, code = runTimonEnv(t, full, "config", "check", "--config", cfg)
	if code != 0 {
		t.Fatalf("config check with the integrations on: exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{
		"  slack: on: Socket Mode; POST /slack/events and /slack/commands are off (set TIMON_SLACK_SIGNING_SECRET",
		"  mattermost: on: WebSocket to https://chat.example.org; the slash command (POST /mattermost/command) is off",
		"  gitlab: on: merge-request review: POST /webhooks/gitlab, GitLab at https://gitlab.example.org",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in:\n%s", w, out)
		}
	}
}

// TestConfigOffRoutesNameTheSetting: a request to the route of an
// integration that is off answers 404 naming what switches it on; any
// other unknown path answers the bare 404.
func TestConfigOffRoutesNameTheSetting(t *testing.T) {
	for k, v := range offChatAndGitLab {
		t.Setenv(k, v)
	}
	fake := newFake(t)
	h := startHubWith(t, fake, fmt.Sprintf(hubConfig, fake.URL()))
	for path, want := range map[string]string{
		"/slack/events":       "no route POST /slack/events: the Slack integration is off; set the bot token, TIMON_SLACK_BOT_TOKEN (or chat.slack.bot_token_file)",
		"/slack/commands":     "no route POST /slack/commands: the Slack integration is off; set the bot token",
		"/mattermost/command": "no route POST /mattermost/command: the Mattermost integration is off; set the server URL, TIMON_MATTERMOST_URL",
		"/webhooks/gitlab":    "no route POST /webhooks/gitlab: the GitLab review integration is off; set the GitLab URL, TIMON_GITLAB_URL",
		"/nowhere":            "no route POST /nowhere",
	} {
		resp, err := http.Post(h.url+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Code, Message string }
		decodeJSON(t, resp, &body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(body.Message, want) {
			t.Errorf("POST %s: %d %q, want 404 %q", path, resp.StatusCode, body.Message, want)
		}
		if path == "/nowhere" && body.Message != want {
			t.Errorf("POST /nowhere: %q, want the bare %q", body.Message, want)
		}
	}
}

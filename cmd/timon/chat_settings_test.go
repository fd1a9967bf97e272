package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/bots/mattermost"
	"timon.dev/timon/bots/slack"
	"timon.dev/timon/core/config"
)

// The chat section with the bots' own (chat.slack, chat.mattermost), as
// timon serve reads it.

const chatBase = `
providers:
  - {name: local, base_url: "http://127.0.0.1:8000/v1", models: [mistral-small-latest, codestral-latest]}
policy: {routes: {default: [mistral-small-latest]}, rules: [{name: all, effect: allow}]}
`

func clearChatEnv(t *testing.T) {
	for _, v := range []string{"TIMON_SLACK_SIGNING_SECRET", "TIMON_SLACK_BOT_TOKEN", "TIMON_SLACK_APP_TOKEN",
		"TIMON_MATTERMOST_URL", "TIMON_MATTERMOST_BOT_TOKEN", "TIMON_MATTERMOST_COMMAND_TOKEN"} {
		t.Setenv(v, "")
	}
}

func TestChatIsOffWithoutSecrets(t *testing.T) {
	clearChatEnv(t)
	cfg, err := parseAll("x", chatBase)
	if err != nil {
		t.Fatal(err)
	}
	c, s, m := sectionOf[chat.Config](cfg, "chat"), sectionOf[slack.Config](cfg, "chat.slack"), sectionOf[mattermost.Config](cfg, "chat.mattermost")
	if s.Enabled() || s.HTTPEnabled() || s.SocketEnabled() || m.Enabled() || m.CommandEnabled() {
		t.Fatalf("chat on without secrets: %+v %+v", s, m)
	}
	if c.DefaultLocale != "en" || s.Mode != "socket" || s.APIURL != "https://slack.com/api/" ||
		s.SigningSecretEnv != "TIMON_SLACK_SIGNING_SECRET" || m.CommandTokenEnv != "TIMON_MATTERMOST_COMMAND_TOKEN" {
		t.Fatalf("defaults %+v %+v %+v", c, s, m)
	}
}

func TestChatSecretsSwitchEntryPointsOn(t *testing.T) {
	clearChatEnv(t)
	t.Setenv("TIMON_SLACK_BOT_TOKEN", "xoxb-1")
	t.Setenv("TIMON_SLACK_SIGNING_SECRET", "s3cret")
	file := filepath.Join(t.TempDir(), "app")
	os.WriteFile(file, []byte("xapp-1-abc\n"), 0o600)
	t.Setenv("TIMON_MATTERMOST_URL", "https://chat.example.org/")
	t.Setenv("TIMON_MATTERMOST_BOT_TOKEN", "mm-token")
	cfg, err := parseAll("x", chatBase+`
chat:
  slack: {app_token_file: `+file+`}
`)
	if err != nil {
		t.Fatal(err)
	}
	s, m := sectionOf[slack.Config](cfg, "chat.slack"), sectionOf[mattermost.Config](cfg, "chat.mattermost")
	if !s.Enabled() || !s.HTTPEnabled() || !s.SocketEnabled() || s.AppToken != "xapp-1-abc" {
		t.Fatalf("slack %+v", s)
	}
	if !m.Enabled() || m.CommandEnabled() || m.URL != "https://chat.example.org" {
		t.Fatalf("mattermost %+v", m)
	}
}

func TestChatValidation(t *testing.T) {
	clearChatEnv(t)
	t.Setenv("TIMON_SLACK_APP_TOKEN", "xoxb-wrong-kind")
	_, err := parseAll("timon.yaml", chatBase+`
chat:
  default_locale: de
  slack: {mode: rtm, api_url: "ftp://x"}
  policy: {commands: [ask, dance], match: ["type:dm"]}
  channels:
    - {platform: teams, match: ["type:guild"], models: [gpt-4]}
    - {off: true}
`)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v", err)
	}
	for _, want := range []string{
		`timon.yaml:7: chat.default_locale: expected en or fr, got "de"`,
		`chat.slack.mode: expected socket or http, got "rtm"`,
		`chat.slack.api_url: expected an http(s) URL`,
		`must start with xapp-`,
		`chat.policy.commands[1]: unknown command "dance"`,
		`chat.policy: match and platform belong in chat.channels entries`,
		`chat.channels[0].platform: expected slack or mattermost, got "teams"`,
		`chat.channels[0].match[0]: expected type:public, type:private or type:dm`,
		`chat.channels[0].models[0]: model "gpt-4" is served by no provider`,
		`chat.channels[1].match: list the channels`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestChatLinkAllowlists(t *testing.T) {
	clearChatEnv(t)
	cfg, err := parseAll("x", chatBase+`
chat:
  slack: {link_allowlist: [docs.example.org]}
  mattermost: {link_allowlist: [wiki.example.org, docs.example.org]}
`)
	if err != nil {
		t.Fatal(err)
	}
	s, m := sectionOf[slack.Config](cfg, "chat.slack"), sectionOf[mattermost.Config](cfg, "chat.mattermost")
	if !slices.Equal(s.LinkAllowlist, []string{"docs.example.org"}) ||
		!slices.Equal(m.LinkAllowlist, []string{"wiki.example.org", "docs.example.org"}) {
		t.Fatalf("allowlists %+v %+v", s.LinkAllowlist, m.LinkAllowlist)
	}
	_, err = parseAll("x", chatBase+`
chat:
  slack: {link_allowlist: ["https://docs.example.org"]}
  mattermost: {link_allowlist: [""]}
`)
	if err == nil {
		t.Fatal("URLs accepted as hosts")
	}
	for _, want := range []string{"chat.slack.link_allowlist[0]: expected a host name", "chat.mattermost.link_allowlist[0]: expected a host name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

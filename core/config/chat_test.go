package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"timon.dev/timon/core/config"
)

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
	cfg, err := config.Parse("x", []byte(chatBase))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Chat
	if c.Slack.Enabled() || c.Slack.HTTPEnabled() || c.Slack.SocketEnabled() || c.Mattermost.Enabled() || c.Mattermost.CommandEnabled() {
		t.Fatalf("chat on without secrets: %+v", c)
	}
	if c.DefaultLocale != "en" || c.Slack.Mode != "socket" || c.Slack.APIURL != "https://slack.com/api/" ||
		c.Slack.SigningSecretEnv != "TIMON_SLACK_SIGNING_SECRET" || c.Mattermost.CommandTokenEnv != "TIMON_MATTERMOST_COMMAND_TOKEN" {
		t.Fatalf("defaults %+v", c)
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
	cfg, err := config.Parse("x", []byte(chatBase+`
chat:
  slack: {app_token_file: `+file+`}
`))
	if err != nil {
		t.Fatal(err)
	}
	s, m := cfg.Chat.Slack, cfg.Chat.Mattermost
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
	_, err := config.Parse("timon.yaml", []byte(chatBase+`
chat:
  default_locale: de
  slack: {mode: rtm, api_url: "ftp://x"}
  policy: {commands: [ask, dance], match: ["#x"]}
  channels:
    - {platform: teams, match: ["type:guild"], models: [gpt-4]}
    - {off: true}
`))
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

func TestChannelPolicyAndGroups(t *testing.T) {
	f, tr := false, true
	c := config.Chat{
		Policy: config.ChannelPolicy{Models: []string{"mistral-small-latest"}},
		Channels: []config.ChannelPolicy{
			{Match: []string{"#random"}, Off: true},
			{Platform: "slack", Match: []string{"type:private"}, Public: &f, Commands: []string{"ask"}},
			{Match: []string{"type:private"}, Public: &tr},
		},
		Groups: config.ChatGroups{Teams: map[string][]string{"T1": {"physics", "staff"}}, Channels: map[string][]string{"#lab": {"lab", "staff"}, "C9": {"interns"}}},
	}
	if p := c.PolicyFor(config.Channel{Platform: "slack", ID: "C1", Name: "Random", Type: "public"}); !p.Off {
		t.Error("#random is not off")
	}
	p := c.PolicyFor(config.Channel{Platform: "slack", ID: "G1", Name: "secret", Type: "private"})
	if p.Public || strings.Join(p.Commands, ",") != "ask,help" || p.Models[0] != "mistral-small-latest" {
		t.Errorf("slack private %+v", p)
	}
	if p := c.PolicyFor(config.Channel{Platform: "mattermost", ID: "x", Type: "private"}); !p.Public || len(p.Commands) != len(config.ChatCommands) {
		t.Errorf("mattermost private %+v", p)
	}
	if g := c.GroupsFor("T1", config.Channel{ID: "C2", Name: "lab"}); strings.Join(g, ",") != "lab,physics,staff" {
		t.Errorf("groups %v", g)
	}
	if g := c.GroupsFor("T2", config.Channel{ID: "C9"}); strings.Join(g, ",") != "interns" {
		t.Errorf("groups %v", g)
	}
}

package config_test

import (
	"slices"
	"strings"
	"testing"

	"timon.dev/timon/core/config"
)

func TestChatLinkAllowlists(t *testing.T) {
	clearChatEnv(t)
	cfg, err := config.Parse("x", []byte(chatBase+`
chat:
  slack: {link_allowlist: [docs.example.org]}
  mattermost: {link_allowlist: [wiki.example.org, docs.example.org]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Chat.Slack.LinkAllowlist, []string{"docs.example.org"}) ||
		!slices.Equal(cfg.Chat.Mattermost.LinkAllowlist, []string{"wiki.example.org", "docs.example.org"}) {
		t.Fatalf("allowlists %+v %+v", cfg.Chat.Slack.LinkAllowlist, cfg.Chat.Mattermost.LinkAllowlist)
	}
	_, err = config.Parse("x", []byte(chatBase+`
chat:
  slack: {link_allowlist: ["https://docs.example.org"]}
  mattermost: {link_allowlist: [""]}
`))
	if err == nil {
		t.Fatal("URLs accepted as hosts")
	}
	for _, want := range []string{"chat.slack.link_allowlist[0]: expected a host name", "chat.mattermost.link_allowlist[0]: expected a host name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

package main

import (
	"timon.dev/timon/bots/chat"
	"timon.dev/timon/bots/mattermost"
	"timon.dev/timon/bots/slack"
	"timon.dev/timon/core/config"
	"timon.dev/timon/webhooks/console"
	"timon.dev/timon/webhooks/review"
)

// frontEndSections maps the sections of timon.yaml that the front ends
// declare onto their packages' settings, fresh for each file read. Their
// order is that of the integrations they switch on.
func frontEndSections() []config.Section {
	return []config.Section{
		{At: "chat", Settings: &chat.Config{}},
		{At: "chat.slack", Settings: &slack.Config{}},
		{At: "chat.mattermost", Settings: &mattermost.Config{}},
		{At: "gitlab", Settings: &review.Config{}},
		{At: "sign_in", Settings: &console.Config{}},
	}
}

// sectionOf is the section at of a file read by loadConfig; the zero
// settings (unchecked) for one read without it.
func sectionOf[T any](cfg *config.Config, at string) *T {
	if s, ok := any(cfg.Section(at)).(*T); ok {
		return s
	}
	return new(T)
}

package main

import (
	"timon.dev/timon/core/config"
	"timon.dev/timon/webhooks/review"
)

// frontEndSections maps the sections of timon.yaml that the front ends
// declare onto their packages' settings, fresh for each file read.
func frontEndSections() []config.Section {
	return []config.Section{
		{At: "gitlab", Settings: &review.Config{}},
	}
}

// gitlabSettings is the gitlab section of a file read by loadConfig.
func gitlabSettings(cfg *config.Config) *review.Config {
	s, _ := cfg.Section("gitlab").(*review.Config)
	if s == nil {
		return &review.Config{}
	}
	return s
}

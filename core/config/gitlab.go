package config

// GitLab configures merge-request review through GitLab webhooks.
type GitLab struct{}

func (c *Config) gitlabDefaults() {}

func (l *loader) validateGitLab(c *Config) {}

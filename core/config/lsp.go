package config

// LSP configures timon lsp: local mode (the core in-process) or remote mode
// (requests go to a hub with the user's personal token).
type LSP struct{}

func (c *Config) lspDefaults() {}

func (l *loader) validateLSP(c *Config) {}

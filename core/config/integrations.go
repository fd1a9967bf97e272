package config

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// State says whether an integration runs.
type State string

// The states of an integration. A half-configured one has some of the
// settings that switch it on but not all: it is a problem of the
// configuration, so that timon serve refuses to start rather than run a
// bot that never answers.
const (
	StateOn   State = "on"
	StateOff  State = "off"
	StateHalf State = "half-configured"
)

// Integration is what the configuration switches on for one way in to
// the hub, and why.
type Integration struct {
	// Name is api, admin, lsp, slack, mattermost or gitlab.
	Name  string
	State State
	// Why says what runs when on, what is missing when half-configured,
	// and which settings switch it on when off, by their names in the
	// file or the environment (never a secret's value).
	Why string
	// Path is the section of the file that configures it.
	Path string
}

func (i Integration) String() string { return fmt.Sprintf("%s: %s: %s", i.Name, i.State, i.Why) }

// Integrations lists the integrations the configuration switches on, off,
// or only half. Secrets must have been resolved (a configuration from
// Load or Parse, or one that failed to validate, through Error).
func (c *Config) Integrations() []Integration {
	out := []Integration{c.lspIntegration()}
	if len(c.Providers) == 0 {
		// A remote-mode file for timon lsp: nothing else runs from it.
		return out
	}
	out = append([]Integration{
		{Name: "api", State: StateOn, Path: "server",
			Why: "POST /v1/assist, and the OpenAI-compatible /v1/chat/completions, /v1/completions, /v1/embeddings and /v1/models, for personal tokens (timon token create)"},
		{Name: "admin", State: StateOn, Path: "server.admin_group",
			Why: fmt.Sprintf("/admin, for tokens of the group %q (server.admin_group)", c.Server.AdminGroup)},
	}, out...)
	for _, s := range c.sections {
		if i, ok := s.Settings.(Integrated); ok {
			out = append(out, i.Integration())
		}
	}
	return out
}

// Integration returns the integration of that name.
func (c *Config) Integration(name string) (Integration, bool) {
	for _, i := range c.Integrations() {
		if i.Name == name {
			return i, true
		}
	}
	return Integration{}, false
}

func (c *Config) lspIntegration() Integration {
	s := &c.LSP
	switch {
	case !s.Remote():
		return Integration{Name: "lsp", State: StateOn, Path: "lsp",
			Why: "timon lsp in local mode (the engine in-process, its own journal); lsp.hub_url switches it to remote mode"}
	case s.Token == "" && s.storedProblem != "":
		return Integration{Name: "lsp", State: StateHalf, Path: "lsp", Why: "remote mode (lsp.hub_url): " + s.storedProblem}
	case s.Token == "":
		return Integration{Name: "lsp", State: StateHalf, Path: "lsp",
			Why: "remote mode (lsp.hub_url) needs a personal token: set " + Place("lsp", "token", s.TokenEnv, s.TokenFile) +
				", or sign in with timon login --hub " + s.HubURL + " (or ask for one: timon token create on the hub)"}
	}
	if s.CredentialsFile != "" {
		return Integration{Name: "lsp", State: StateOn, Path: "lsp",
			Why: "timon lsp in remote mode, hub " + s.HubURL + ", with the token timon login stored in " + s.CredentialsFile}
	}
	return Integration{Name: "lsp", State: StateOn, Path: "lsp",
		Why: "timon lsp in remote mode, hub " + s.HubURL}
}

// validateIntegrations reports the half-configured integrations: at the
// line of their section when the file has one, else with no line (their
// secrets come from the environment).
func (l *loader) validateIntegrations(c *Config) {
	for _, i := range c.Integrations() {
		if i.State != StateHalf || l.reported(i.Path) {
			continue
		}
		if i.Name == "lsp" && c.LSP.storedProblem != "" {
			continue // the stored token's problem says more
		}
		p := Problem{File: l.file, Path: i.Path, Msg: "half-configured: " + i.Why}
		if l.written(i.Path) {
			p.Line = l.lineOf(i.Path)
		}
		l.problems = append(l.problems, p)
	}
}

// written reports whether the file sets the section at path.
func (l *loader) written(path string) bool {
	n := l.root
	for _, part := range splitPath(path) {
		if n == nil || n.Kind != yaml.MappingNode {
			return false
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n != nil
}

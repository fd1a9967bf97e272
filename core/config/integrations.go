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
	out = append(out, c.slackIntegration(), c.mattermostIntegration())
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
	case s.Token == "":
		return Integration{Name: "lsp", State: StateHalf, Path: "lsp",
			Why: "remote mode (lsp.hub_url) needs a personal token: set " + Place("lsp", "token", s.TokenEnv, s.TokenFile) + "; create one with timon token create on the hub"}
	}
	return Integration{Name: "lsp", State: StateOn, Path: "lsp",
		Why: "timon lsp in remote mode, hub " + s.HubURL}
}

func (c *Config) slackIntegration() Integration {
	s := &c.Chat.Slack
	const at = "chat.slack"
	bot := Place(at, "bot_token", s.BotTokenEnv, s.BotTokenFile)
	app := Place(at, "app_token", s.AppTokenEnv, s.AppTokenFile)
	sig := Place(at, "signing_secret", s.SigningSecretEnv, s.SigningSecretFile)
	i := Integration{Name: "slack", Path: at}
	switch {
	case s.BotToken == "" && (s.AppToken != "" || s.SigningSecret != ""):
		i.State, i.Why = StateHalf, "an app-level token or a signing secret is set but no bot token: set "+bot
	case s.BotToken == "":
		i.State, i.Why = StateOff, "set the bot token, "+bot+", to switch it on, with the app-level token "+app+
			" for Socket Mode, or the signing secret "+sig+" with chat.slack.mode: http"
	case s.Mode == "socket" && s.AppToken == "":
		i.State, i.Why = StateHalf, "Socket Mode (chat.slack.mode: socket, the default) needs the app-level token: set "+app+
			", or set chat.slack.mode: http"
		if s.SigningSecret != "" {
			i.Why += " (the signing secret is set)"
		}
	case s.Mode == "http" && s.SigningSecret == "":
		i.State, i.Why = StateHalf, "HTTP mode (chat.slack.mode: http) needs the signing secret, or POST /slack/events and /slack/commands answer 404: set "+sig
	case s.Mode == "socket" && s.SigningSecret == "":
		i.State, i.Why = StateOn, "Socket Mode; POST /slack/events and /slack/commands are off (set "+sig+" to switch them on)"
	case s.Mode == "socket":
		i.State, i.Why = StateOn, "Socket Mode, and POST /slack/events and /slack/commands"
	default:
		i.State, i.Why = StateOn, "HTTP mode: POST /slack/events and /slack/commands"
	}
	return i
}

func (c *Config) mattermostIntegration() Integration {
	m := &c.Chat.Mattermost
	const at = "chat.mattermost"
	url := Place(at, "url", m.URLEnv, m.URLFile)
	bot := Place(at, "bot_token", m.BotTokenEnv, m.BotTokenFile)
	cmd := Place(at, "command_token", m.CommandTokenEnv, m.CommandTokenFile)
	i := Integration{Name: "mattermost", Path: at}
	switch {
	case m.URL == "" && m.BotToken == "" && m.CommandToken == "":
		i.State, i.Why = StateOff, "set the server URL, "+url+", and the bot token, "+bot+", to switch it on"
	case m.URL == "":
		i.State, i.Why = StateHalf, "a token is set but no server URL: set "+url
	case m.BotToken == "":
		i.State, i.Why = StateHalf, "a server URL is set but no bot token: set "+bot
	case m.CommandToken == "":
		i.State, i.Why = StateOn, "WebSocket to "+m.URL+"; the slash command (POST /mattermost/command) is off (set "+cmd+" to switch it on)"
	default:
		i.State, i.Why = StateOn, "WebSocket to "+m.URL+", and the slash command POST /mattermost/command"
	}
	return i
}

// validateIntegrations reports the half-configured integrations: at the
// line of their section when the file has one, else with no line (their
// secrets come from the environment).
func (l *loader) validateIntegrations(c *Config) {
	for _, i := range c.Integrations() {
		if i.State != StateHalf || l.reported(i.Path) {
			continue
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

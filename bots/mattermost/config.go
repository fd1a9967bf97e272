package mattermost

import (
	"fmt"
	"net/url"
	"strings"

	"timon.dev/timon/core/config"
)

// section is where the settings are written in timon.yaml.
const section = "chat.mattermost"

// Config is the chat.mattermost section of timon.yaml (a config.Section).
// The bot is on when the server URL and the bot token are set; the slash
// command endpoint (POST /mattermost/command) needs the command token.
// Each field says what its zero value means; Check gives it that meaning.
type Config struct {
	URLEnv           string `yaml:"url_env"` // zero: TIMON_MATTERMOST_URL
	URLFile          string `yaml:"url_file"`
	BotTokenEnv      string `yaml:"bot_token_env"` // zero: TIMON_MATTERMOST_BOT_TOKEN
	BotTokenFile     string `yaml:"bot_token_file"`
	CommandTokenEnv  string `yaml:"command_token_env"` // zero: TIMON_MATTERMOST_COMMAND_TOKEN
	CommandTokenFile string `yaml:"command_token_file"`
	// LinkAllowlist lists the hosts the model's answers may link to or
	// show images from (subdomains included); other links and images are
	// shown as text. The Mattermost server's host is always allowed.
	LinkAllowlist []string `yaml:"link_allowlist"`
	// CommandURL is the slash command endpoint as the Mattermost server
	// reaches it: the hub's public URL and /mattermost/command, e.g.
	// https://timon.example.org/mattermost/command. Set, the bot
	// registers /timon itself at start (with autocomplete hints for its
	// subcommands) in CommandTeams, creating it or updating it when its
	// definition changed, and accepts the tokens Mattermost gives it; the
	// bot account then needs the permission to manage slash commands.
	// Zero leaves the command to the administrator (registered by hand,
	// its token in command_token).
	CommandURL string `yaml:"command_url"`
	// CommandTeams lists the ids of the teams /timon is registered in;
	// zero means every team the bot is a member of.
	CommandTeams []string `yaml:"command_teams"`

	// URL is the Mattermost server, e.g. https://chat.example.org,
	// resolved from URLEnv or URLFile ("" when not set).
	URL string `yaml:"-"`
	// BotToken is the bot account's access token, resolved like URL.
	BotToken string `yaml:"-"`
	// CommandToken is the slash command's token, resolved like URL; ""
	// leaves the slash command endpoint answering 404.
	CommandToken string `yaml:"-"`
}

// Enabled reports whether the Mattermost bot is on.
func (m *Config) Enabled() bool { return m.URL != "" && m.BotToken != "" }

// CommandEnabled reports whether the slash command endpoint accepts
// requests.
func (m *Config) CommandEnabled() bool {
	return m.Enabled() && (m.CommandToken != "" || m.CommandURL != "")
}

// Check gives the zero values their meaning, resolves the secrets and
// reports what is wrong (config.Settings).
func (m *Config) Check(c *config.Check) {
	c.Hosts("link_allowlist", m.LinkAllowlist)
	m.URL = c.SecretOr("", "TIMON_MATTERMOST_URL", &m.URLEnv, m.URLFile)
	m.BotToken = c.SecretOr("", "TIMON_MATTERMOST_BOT_TOKEN", &m.BotTokenEnv, m.BotTokenFile)
	m.CommandToken = c.SecretOr("", "TIMON_MATTERMOST_COMMAND_TOKEN", &m.CommandTokenEnv, m.CommandTokenFile)
	if m.URL != "" {
		if u, err := url.Parse(m.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.Add("", "the Mattermost URL must be an http(s) URL such as https://chat.example.org, got %q", m.URL)
		}
		m.URL = strings.TrimRight(m.URL, "/")
	}
	if m.CommandURL != "" {
		if u, err := url.Parse(m.CommandURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(m.CommandURL) > 1024 {
			c.Add("command_url", "expected the hub's public URL of the slash command, such as https://timon.example.org/mattermost/command, got %q", m.CommandURL)
		}
	}
	for i, t := range m.CommandTeams {
		if !isValidID(t) {
			c.Add(fmt.Sprintf("command_teams[%d]", i), "expected a team id (26 letters and digits), got %q", t)
		}
	}
}

// Integration says whether the Mattermost bot is on, off or only
// half-configured, and why (config.Integrated).
func (m *Config) Integration() config.Integration {
	url := config.Place(section, "url", m.URLEnv, m.URLFile)
	bot := config.Place(section, "bot_token", m.BotTokenEnv, m.BotTokenFile)
	cmd := config.Place(section, "command_token", m.CommandTokenEnv, m.CommandTokenFile)
	i := config.Integration{Name: "mattermost", Path: section}
	switch {
	case m.URL == "" && m.BotToken == "" && m.CommandToken == "":
		i.State, i.Why = config.StateOff, "set the server URL, "+url+", and the bot token, "+bot+", to switch it on"
	case m.URL == "":
		i.State, i.Why = config.StateHalf, "a token is set but no server URL: set "+url
	case m.BotToken == "":
		i.State, i.Why = config.StateHalf, "a server URL is set but no bot token: set "+bot
	case m.CommandToken == "" && m.CommandURL != "":
		i.State, i.Why = config.StateOn, "WebSocket to "+m.URL+", and the slash command POST /mattermost/command, registered by the bot as "+m.CommandURL
	case m.CommandToken == "":
		i.State, i.Why = config.StateOn, "WebSocket to "+m.URL+"; the slash command (POST /mattermost/command) is off (set "+cmd+" to switch it on)"
	default:
		i.State, i.Why = config.StateOn, "WebSocket to "+m.URL+", and the slash command POST /mattermost/command"
	}
	return i
}

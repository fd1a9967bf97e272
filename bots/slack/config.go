package slack

import (
	"net/url"
	"strings"

	"timon.dev/timon/core/config"
)

// section is where the settings are written in timon.yaml.
const section = "chat.slack"

// Config is the chat.slack section of timon.yaml (a config.Section). The
// bot is on when the bot token is set; Socket Mode needs the app-level
// token, the HTTP endpoints (POST /slack/events, /slack/commands) the
// signing secret. Each field says what its zero value means; Check gives
// it that meaning.
type Config struct {
	// Mode is socket (zero: no public URL needed) or http (Events API and
	// slash commands posted to timon serve).
	Mode string `yaml:"mode"`

	SigningSecretEnv  string `yaml:"signing_secret_env"` // zero: TIMON_SLACK_SIGNING_SECRET
	SigningSecretFile string `yaml:"signing_secret_file"`
	BotTokenEnv       string `yaml:"bot_token_env"` // zero: TIMON_SLACK_BOT_TOKEN
	BotTokenFile      string `yaml:"bot_token_file"`
	AppTokenEnv       string `yaml:"app_token_env"` // zero: TIMON_SLACK_APP_TOKEN
	AppTokenFile      string `yaml:"app_token_file"`

	// APIURL is Slack's Web API base; zero means https://slack.com/api/.
	// Tests point it at a fake.
	APIURL string `yaml:"api_url"`
	// UpdatesPerMinute is the budget of message edits (chat.update) per
	// workspace; zero means 50, Slack's Tier 3. Streamed answers skip
	// intermediate edits when it runs low.
	UpdatesPerMinute int `yaml:"updates_per_minute"`
	// LinkAllowlist lists the hosts the model's answers may link to
	// (subdomains included); other links are shown as text. slack.com is
	// always allowed.
	LinkAllowlist []string `yaml:"link_allowlist"`

	// Resolved from the variables or files above ("" when not set).
	SigningSecret string `yaml:"-"`
	BotToken      string `yaml:"-"`
	AppToken      string `yaml:"-"`
}

// Enabled reports whether the Slack bot is on (its bot token is set).
func (s *Config) Enabled() bool { return s.BotToken != "" }

// HTTPEnabled reports whether the HTTP entry points accept requests.
func (s *Config) HTTPEnabled() bool { return s.Enabled() && s.SigningSecret != "" }

// SocketEnabled reports whether the Socket Mode loop runs.
func (s *Config) SocketEnabled() bool {
	return s.Enabled() && s.Mode == "socket" && s.AppToken != ""
}

// Check gives the zero values their meaning, resolves the secrets and
// reports what is wrong (config.Settings).
func (s *Config) Check(c *config.Check) {
	if s.Mode == "" {
		s.Mode = "socket"
	}
	if s.APIURL == "" {
		s.APIURL = "https://slack.com/api/"
	}

	switch s.Mode {
	case "socket", "http":
	default:
		c.Add("mode", "expected socket or http, got %q", s.Mode)
	}
	s.SigningSecret = c.SecretOr("", "TIMON_SLACK_SIGNING_SECRET", &s.SigningSecretEnv, s.SigningSecretFile)
	s.BotToken = c.SecretOr("", "TIMON_SLACK_BOT_TOKEN", &s.BotTokenEnv, s.BotTokenFile)
	s.AppToken = c.SecretOr("", "TIMON_SLACK_APP_TOKEN", &s.AppTokenEnv, s.AppTokenFile)
	if u, err := url.Parse(s.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.Add("api_url", "expected an http(s) URL such as https://slack.com/api/, got %q", s.APIURL)
	} else if !strings.HasSuffix(s.APIURL, "/") {
		s.APIURL += "/"
	}
	if s.UpdatesPerMinute < 0 {
		c.Add("updates_per_minute", "expected a positive number of edits per minute")
	}
	if s.AppToken != "" && !strings.HasPrefix(s.AppToken, "xapp-") {
		c.Add("", "the Slack app-level token (Socket Mode) must start with xapp-")
	}
	c.Hosts("link_allowlist", s.LinkAllowlist)
}

// Integration says whether the Slack bot is on, off or only
// half-configured, and why (config.Integrated).
func (s *Config) Integration() config.Integration {
	bot := config.Place(section, "bot_token", s.BotTokenEnv, s.BotTokenFile)
	app := config.Place(section, "app_token", s.AppTokenEnv, s.AppTokenFile)
	sig := config.Place(section, "signing_secret", s.SigningSecretEnv, s.SigningSecretFile)
	i := config.Integration{Name: "slack", Path: section}
	switch {
	case s.BotToken == "" && (s.AppToken != "" || s.SigningSecret != ""):
		i.State, i.Why = config.StateHalf, "an app-level token or a signing secret is set but no bot token: set "+bot
	case s.BotToken == "":
		i.State, i.Why = config.StateOff, "set the bot token, "+bot+", to switch it on, with the app-level token "+app+
			" for Socket Mode, or the signing secret "+sig+" with chat.slack.mode: http"
	case s.Mode == "socket" && s.AppToken == "":
		i.State, i.Why = config.StateHalf, "Socket Mode (chat.slack.mode: socket, the default) needs the app-level token: set "+app+
			", or set chat.slack.mode: http"
		if s.SigningSecret != "" {
			i.Why += " (the signing secret is set)"
		}
	case s.Mode == "http" && s.SigningSecret == "":
		i.State, i.Why = config.StateHalf, "HTTP mode (chat.slack.mode: http) needs the signing secret, or POST /slack/events and /slack/commands answer 404: set "+sig
	case s.Mode == "socket" && s.SigningSecret == "":
		i.State, i.Why = config.StateOn, "Socket Mode; POST /slack/events and /slack/commands are off (set "+sig+" to switch them on)"
	case s.Mode == "socket":
		i.State, i.Why = config.StateOn, "Socket Mode, and POST /slack/events and /slack/commands"
	default:
		i.State, i.Why = config.StateOn, "HTTP mode: POST /slack/events and /slack/commands"
	}
	return i
}

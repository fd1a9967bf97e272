// Package slack is timon's Slack adapter for the chat router (bots/chat):
// Socket Mode (no public URL needed, the default on premises) and the HTTP
// Events API and slash commands, verified by Slack's v0 request signature
// (HMAC-SHA256, five-minute replay window, constant-time comparison). Events
// are queued durably before they are acknowledged (within Slack's 3
// seconds), deduplicated by event id so that a retried delivery gives one
// answer, and answered by the router's job workers through the Web API:
// replies in thread, streamed by edits within Slack's rate tiers, split under
// its message size, thread context read only where the requester is a
// member, user locale and e-mail from users.info. In Slack's AI-app split
// view (threads of the bot's direct messages) it sets suggested prompts, a
// title and a status, and streams answers with Slack's native streaming
// where the workspace has it.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/slack-go/slack"
	"golang.org/x/time/rate"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/core"
	"timon.dev/timon/core/sanitize"
)

// Limits of Slack's Web API this adapter keeps to.
const (
	// MaxRunes is the most text one message carries: Slack advises at most
	// 4,000 characters (longer text is truncated or rejected by some
	// clients), and counts in characters.
	MaxRunes = 3900
	// DefaultUpdateInterval spaces the edits of a streamed reply.
	DefaultUpdateInterval = 1500 * time.Millisecond
	// DefaultUpdatesPerMinute is chat.update's rate tier (Tier 3: 50 per
	// minute per workspace).
	DefaultUpdatesPerMinute = 50
	// maxThreadMessages bounds the thread read as context.
	maxThreadMessages = 400
	// cacheTTL is how long user and channel lookups are reused.
	cacheTTL = 10 * time.Minute
	// membersTTL is how long a channel's member list is reused.
	membersTTL = time.Minute
	// cacheSize bounds each of the lookups' caches.
	cacheSize = 10000
)

// Options configures an Adapter.
type Options struct {
	// Router answers the events (required).
	Router *chat.Router
	// Config holds the tokens and the API URL; the signing secret switches
	// the HTTP endpoints on, the app token Socket Mode.
	Config Config
	Logger *slog.Logger
	// HTTPClient calls Slack; zero means a client with a 30s timeout.
	HTTPClient *http.Client
	// UpdatesPerMinute is the budget of chat.update calls per workspace;
	// zero means DefaultUpdatesPerMinute.
	UpdatesPerMinute int
	// UpdateInterval spaces the edits of a streamed reply; zero means
	// DefaultUpdateInterval.
	UpdateInterval time.Duration
	// Now is the clock of the signature check; zero means time.Now.
	Now func() time.Time
}

// Adapter connects Slack to the chat router. It implements chat.Platform.
type Adapter struct {
	o      Options
	api    *slack.Client
	log    *slog.Logger
	http   *http.Client
	now    func() time.Time
	secret []byte

	mu       sync.Mutex
	botUser  string // the bot's user id (auth.test)
	botID    string // the bot's bot id
	limiters map[string]*rate.Limiter
	users    *expirable.LRU[string, *slack.User]
	channels *expirable.LRU[string, channelInfo]
	members  *expirable.LRU[string, map[string]bool]

	// The AI-app surface (assistant.go, stream.go): assistant threads'
	// contexts, the threads already titled, the replies being written, the
	// teams known not to stream.
	threads        *expirable.LRU[string, ThreadContext]
	titled         *expirable.LRU[string, struct{}]
	replies        *expirable.LRU[string, *assistantReply]
	noStream       *expirable.LRU[string, struct{}]
	assistantSlots chan struct{}
}

type channelInfo struct {
	name, typ string
}

var (
	_ chat.Platform  = (*Adapter)(nil)
	_ chat.Editable  = (*Adapter)(nil)
	_ chat.Throttled = (*Adapter)(nil)
	_ chat.Enricher  = (*Adapter)(nil)
)

// New builds the adapter and registers it on the router.
func New(o Options) (*Adapter, error) {
	if o.Router == nil {
		return nil, errors.New("slack: a chat router is required")
	}
	if o.Config.BotToken == "" {
		return nil, errors.New("slack: the bot token is not set")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.UpdatesPerMinute <= 0 {
		o.UpdatesPerMinute = DefaultUpdatesPerMinute
	}
	if o.UpdateInterval <= 0 {
		o.UpdateInterval = DefaultUpdateInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	apiURL := o.Config.APIURL
	if apiURL == "" {
		apiURL = slack.APIURL
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	o.Config.APIURL = apiURL
	opts := []slack.Option{slack.OptionAPIURL(apiURL), slack.OptionHTTPClient(o.HTTPClient), slack.OptionLog(logAdapter{o.Logger})}
	if o.Config.AppToken != "" {
		opts = append(opts, slack.OptionAppLevelToken(o.Config.AppToken))
	}
	a := &Adapter{
		o: o, api: slack.New(o.Config.BotToken, opts...), log: o.Logger.With("component", "slack"),
		http: o.HTTPClient, now: o.Now, secret: []byte(o.Config.SigningSecret),
		limiters: map[string]*rate.Limiter{},
		users:    expirable.NewLRU[string, *slack.User](cacheSize, nil, cacheTTL),
		channels: expirable.NewLRU[string, channelInfo](cacheSize, nil, cacheTTL),
		members:  expirable.NewLRU[string, map[string]bool](cacheSize, nil, membersTTL),

		threads:        expirable.NewLRU[string, ThreadContext](cacheSize, nil, assistantTTL),
		titled:         expirable.NewLRU[string, struct{}](cacheSize, nil, assistantTTL),
		replies:        expirable.NewLRU[string, *assistantReply](cacheSize, nil, replyTTL),
		noStream:       expirable.NewLRU[string, struct{}](cacheSize, nil, noStreamTTL),
		assistantSlots: make(chan struct{}, maxAssistantCalls),
	}
	o.Router.Register(a)
	return a, nil
}

// Name is core.IntegrationSlack.
func (a *Adapter) Name() core.Integration { return core.IntegrationSlack }

// MaxRunes is the most one Slack message holds.
func (a *Adapter) MaxRunes() int { return MaxRunes }

// UpdateInterval spaces the edits of a streamed reply.
func (a *Adapter) UpdateInterval() time.Duration { return a.o.UpdateInterval }

// OutputPolicy: Slack's mrkdwn; links to slack.com and the configured
// hosts only (chat.Renderer).
func (a *Adapter) OutputPolicy() *sanitize.Policy {
	return &sanitize.Policy{Flavor: sanitize.Slack, Host: "slack.com", Allow: a.o.Config.LinkAllowlist}
}

// Editable: ephemeral messages and slash command replies (response URLs)
// cannot be edited through the Web API.
func (a *Adapter) Editable(ev *chat.Event, r chat.Reply) bool {
	return !r.Ephemeral && !a.viaResponseURL(ev)
}

func (a *Adapter) viaResponseURL(ev *chat.Event) bool {
	return ev.ResponseURL != "" && ev.ThreadID == ""
}

// AllowUpdate leaves intermediate edits out when the workspace's chat.update
// budget runs low, keeping it for final answers.
func (a *Adapter) AllowUpdate(ev *chat.Event) bool {
	return a.limiter(ev.TeamID).Tokens() >= 2
}

func (a *Adapter) limiter(team string) *rate.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.limiters[team]
	if l == nil {
		per := a.o.UpdatesPerMinute
		l = rate.NewLimiter(rate.Limit(float64(per)/60), max(1, per/5))
		a.limiters[team] = l
	}
	return l
}

// identity returns the bot's user id and bot id, asking auth.test once.
func (a *Adapter) identity(ctx context.Context) (user, bot string, err error) {
	a.mu.Lock()
	user, bot = a.botUser, a.botID
	a.mu.Unlock()
	if user != "" {
		return user, bot, nil
	}
	resp, err := a.api.AuthTestContext(ctx)
	if err != nil {
		return "", "", fmt.Errorf("asking Slack who the bot is (auth.test): %w", err)
	}
	a.mu.Lock()
	a.botUser, a.botID = resp.UserID, resp.BotID
	a.mu.Unlock()
	return resp.UserID, resp.BotID, nil
}

// responseURLAllowed accepts Slack's own response URLs, and those of the
// configured API host (a test or proxy standing in for Slack): a response
// URL is posted to, so it must not point anywhere else.
func (a *Adapter) responseURLAllowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	if u.Scheme == "https" && u.Host == "hooks.slack.com" {
		return true
	}
	api, err := url.Parse(a.o.Config.APIURL)
	return err == nil && u.Host == api.Host && u.Scheme == api.Scheme && api.Host != "slack.com"
}

// Package mattermost is timon's Mattermost adapter: a bot account (access
// token) that listens on the server's WebSocket for posts that mention it
// or are sent to it directly, a slash command endpoint (POST
// /mattermost/command on timon serve), and the chat.Platform the router
// answers through: replies in the thread, streamed by editing the reply
// (throttled: each edit is a row in Mattermost's database), split under the
// post size limit, with the thread as context only when the requester may
// read it.
//
// # WebSocket
//
// Run keeps one WebSocket open with Mattermost's reliable WebSocket
// protocol: the hello event gives a connection id; every event carries a
// sequence number; after a dropped connection, Run reconnects (with
// exponential backoff) with ?connection_id=ID&sequence_number=N, N being the
// next event it expects, and the server replays what was sent while the
// connection was down. A gap in the numbers makes Run reconnect at once to
// get the missing events; an event seen twice is skipped. Each event the bot
// answers is queued durably by the router (chat.Router.Enqueue, unique per
// post id), so a replayed or duplicated event is answered once.
//
// Run drives gorilla/websocket directly, and the REST calls are a small
// client of the API v4 calls the bot makes (api.go): Mattermost's Go
// module, whose WebSocketClient can resume too, would bring grpc, protobuf
// and go-plugin into every timon command, its initialisers run at each
// start. The tests' fake server (mattermosttest) is written with that
// module, and so checks that the bot speaks the same wire format.
package mattermost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/core"
	"timon.dev/timon/core/sanitize"
)

// Defaults.
const (
	// DefaultMaxRunes is Mattermost's post size limit (65,535 bytes of
	// worst-case UTF-8: 16,383 runes).
	DefaultMaxRunes = postMessageMaxRunes
	// DefaultUpdateInterval is the least time between two edits of a
	// streamed reply.
	DefaultUpdateInterval = 1500 * time.Millisecond
	defaultMinBackoff     = 500 * time.Millisecond
	defaultMaxBackoff     = 30 * time.Second
	defaultHTTPTimeout    = 30 * time.Second
	// dispatchers bounds the events being queued at once.
	dispatchers = 16
)

// Options configures an Adapter.
type Options struct {
	// Config holds the server's URL and the bot's token (both required),
	// the slash command's token and the link allowlist.
	Config Config
	// Router answers the events (required). New registers the bot on it.
	Router *chat.Router
	// Logger; nil discards.
	Logger *slog.Logger
	// HTTPClient makes the REST calls; its transport's TLS settings and
	// proxy also serve the WebSocket. Nil means a client with a 30 s
	// timeout, system CAs and proxy settings from the environment.
	HTTPClient *http.Client
	// UpdateInterval is the least time between two edits of a streamed
	// reply; zero means DefaultUpdateInterval.
	UpdateInterval time.Duration
	// MaxRunes is the most runes per post; zero means DefaultMaxRunes
	// (servers whose posts table predates 5.0 allow 4,000).
	MaxRunes int
	// MinBackoff and MaxBackoff bound the wait before reconnecting the
	// WebSocket, doubled after each failure; zero means 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
}

// Adapter is the Mattermost adapter. It implements chat.Platform; Run listens
// for events, Handler serves the slash command. It is safe for concurrent
// use.
type Adapter struct {
	o    Options
	log  *slog.Logger
	api  *client
	base *url.URL
	http *http.Client

	meMu sync.Mutex
	me   *user

	// Profiles and channel types change rarely, and each event would
	// otherwise cost a call: they are kept for cacheTTL.
	users    *expirable.LRU[string, *user]
	channels *expirable.LRU[string, *channel]
	member   *expirable.LRU[string, bool] // channel id → the bot is a member

	registered tokens // of the slash commands RegisterCommands registered

	connected   atomic.Bool
	noEphemeral atomic.Bool // the server refused an ephemeral post (403)
	sem         chan struct{}
	inflight    sync.WaitGroup
}

var (
	_ chat.Platform = (*Adapter)(nil)
	_ chat.Editable = (*Adapter)(nil)
)

// New checks the options, builds the bot and registers it on the router.
func New(o Options) (*Adapter, error) {
	if o.Router == nil {
		return nil, errors.New("mattermost: a chat router is required")
	}
	if o.Config.BotToken == "" {
		return nil, errors.New("mattermost: the bot access token is required")
	}
	base, err := url.Parse(o.Config.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("mattermost: the server URL must be an http(s) URL such as https://chat.example.org, got %q", o.Config.URL)
	}
	base.RawQuery, base.Fragment = "", ""
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.UpdateInterval <= 0 {
		o.UpdateInterval = DefaultUpdateInterval
	}
	if o.MaxRunes <= 0 {
		o.MaxRunes = DefaultMaxRunes
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = defaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(defaultMaxBackoff, o.MinBackoff)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultHTTPTimeout}
	}
	b := &Adapter{
		o: o, log: o.Logger.With("component", "mattermost"), api: newClient(base, hc, o.Config.BotToken), base: base, http: hc,
		users:    expirable.NewLRU[string, *user](cacheSize, nil, cacheTTL),
		channels: expirable.NewLRU[string, *channel](cacheSize, nil, cacheTTL),
		member:   expirable.NewLRU[string, bool](cacheSize, nil, cacheTTL),
		sem:      make(chan struct{}, dispatchers),
	}
	o.Router.Register(b)
	return b, nil
}

// Name is the integration of the bot's requests.
func (b *Adapter) Name() core.Integration { return core.IntegrationMattermost }

// MaxRunes is the most a post may hold.
func (b *Adapter) MaxRunes() int { return b.o.MaxRunes }

// UpdateInterval is the least time between two edits of a streamed reply.
func (b *Adapter) UpdateInterval() time.Duration { return b.o.UpdateInterval }

// OutputPolicy: Markdown; links and images to the server's own host and
// the configured hosts only; every @mention defused, since a group cannot
// be told from a person (chat.Renderer).
func (b *Adapter) OutputPolicy() *sanitize.Policy {
	return &sanitize.Policy{Flavor: sanitize.Mattermost, Host: b.base.Hostname(), Allow: b.o.Config.LinkAllowlist}
}

// Editable reports whether a reply can be edited: ephemeral messages
// cannot, nor the replies to a slash command run in a channel the bot is
// not in (they go to the requester alone, see Post).
func (b *Adapter) Editable(ev *chat.Event, r chat.Reply) bool {
	return !r.Ephemeral && b.canPost(context.Background(), ev)
}

// canPost reports whether the bot may post in ev's channel. Mentions and
// direct messages come from channels the bot is in; a slash command may
// be run anywhere, so the bot asks the server whether it is a member
// (cached; on failure it answers no, and the reply goes to the requester
// alone).
func (b *Adapter) canPost(ctx context.Context, ev *chat.Event) bool {
	if ev.Trigger != chat.TriggerSlash {
		return true
	}
	if in, ok := b.member.Get(ev.ChannelID); ok {
		return in
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	me, err := b.self(ctx)
	if err != nil {
		b.log.Warn("checking whether the bot may post in a channel failed", "channel", ev.ChannelID, "err", err)
		return false
	}
	err = b.api.getChannelMember(ctx, ev.ChannelID, me.ID)
	switch s := statusOf(err); {
	case err == nil:
		b.member.Add(ev.ChannelID, true)
		return true
	case s == http.StatusNotFound || s == http.StatusForbidden:
		b.member.Add(ev.ChannelID, false)
		return false
	default:
		b.log.Warn("checking whether the bot may post in a channel failed", "channel", ev.ChannelID, "err", err)
		return false
	}
}

// Connected reports whether the WebSocket is connected (a hello or an
// event was received on the current connection).
func (b *Adapter) Connected() bool { return b.connected.Load() }

// self returns the bot's own user, asking the server the first time.
func (b *Adapter) self(ctx context.Context) (*user, error) {
	b.meMu.Lock()
	defer b.meMu.Unlock()
	if b.me != nil {
		return b.me, nil
	}
	me, err := b.api.getMe(ctx)
	if err != nil {
		if statusOf(err) == http.StatusUnauthorized {
			return nil, fmt.Errorf("%w: %w", errUnauthorized, err)
		}
		return nil, fmt.Errorf("asking Mattermost who the bot is: %w", err)
	}
	b.me = me
	return me, nil
}

// user returns a user, from the cache or the server.
func (b *Adapter) user(ctx context.Context, id string) (*user, error) {
	if u, ok := b.users.Get(id); ok {
		return u, nil
	}
	u, err := b.api.getUser(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("reading Mattermost user %s: %w", id, err)
	}
	b.users.Add(id, u)
	return u, nil
}

// channel returns a channel, from the cache or the server.
func (b *Adapter) channel(ctx context.Context, id string) (*channel, error) {
	if c, ok := b.channels.Get(id); ok {
		return c, nil
	}
	c, err := b.api.getChannel(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("reading Mattermost channel %s: %w", id, err)
	}
	b.channels.Add(id, c)
	return c, nil
}

// withUser completes ev with what the server says of its user: name,
// e-mail (when the server shows it) and locale. Without them the request
// still goes, as the user id alone.
func (b *Adapter) withUser(ctx context.Context, ev *chat.Event) {
	u, err := b.user(ctx, ev.UserID)
	if err != nil {
		b.log.Warn("reading the requester's profile failed; answering without e-mail and locale", "event", ev.ID, "err", err)
		return
	}
	if u.Username != "" {
		ev.UserName = u.Username
	}
	ev.Email = u.Email
	ev.Locale = u.Locale
}

// channelType maps Mattermost's channel types to the router's.
func channelType(t string) string {
	switch t {
	case channelDirect:
		return chat.ChannelDM
	case channelOpen:
		return chat.ChannelPublic
	default: // private, group messages and anything newer
		return chat.ChannelPrivate
	}
}

// The lookups' cache: entries live cacheTTL, cacheSize of each at most.
const (
	cacheTTL  = 5 * time.Minute
	cacheSize = 10000
)

// Package chat is the platform-neutral command router of timon's chat bots:
// it turns a chat event (a mention, a direct message, a slash command) into
// a governed request to core.Assistant, and the answer into replies posted
// through a Platform (the Slack and Mattermost adapters implement it). It
// owns the commands (ask, rewrite, translate, summarize, explain, review,
// usage, privacy, help), their message catalogues (French and English),
// identity mapping (platform user → core.Principal), per-channel policy,
// the transparency line on every reply, plain-words governance outcomes,
// streaming by throttled edits, splitting under the platform's limits, and
// durable, exactly-once answering through core/jobs.
//
// # Exactly once
//
// Enqueue inserts a River job unique per (platform, event id): a retried or
// replayed event finds the job and adds nothing. The job's worker runs
// Handle, which records in its own tables (component "chat") each reply it
// posts and, at the end, that the event is answered: a job run again after
// a crash edits the replies it already posted instead of posting new ones,
// and an event already answered is never answered again. Platforms offer
// no idempotency key for posts, so each reply carries its event's key and
// part (Slack message metadata, Mattermost post props): a run that follows
// an interrupted one first looks for them (Finder), and edits what a crash
// between a post and its record left unrecorded instead of posting it
// again. (Replies that cannot be read back, ephemeral ones and slash
// command responses, keep that window.)
//
// Queued events are sealed (see jobArgs): what people wrote is never
// stored in clear.
package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/jobs"
	"timon.dev/timon/core/quota"
	"timon.dev/timon/core/store"
)

// Trigger is how an event reached the bot.
type Trigger string

// Triggers.
const (
	TriggerMention Trigger = "mention" // a mention in a channel or thread
	TriggerDM      Trigger = "dm"      // a direct message to the bot
	TriggerSlash   Trigger = "slash"   // a slash command (/timon …)
)

// Channel types of Event.ChannelType.
const (
	ChannelPublic  = "public"
	ChannelPrivate = "private"
	ChannelDM      = "dm"
)

// Event is one request from a chat platform, already authenticated by its
// adapter.
type Event struct {
	Platform core.Integration `json:"platform"` // core.IntegrationSlack or core.IntegrationMattermost
	// ID is the platform's event id: with Platform, the key that makes
	// retried deliveries one event.
	ID string `json:"id"`

	UserID   string `json:"user_id"`
	UserName string `json:"user_name,omitempty"`
	Email    string `json:"email,omitempty"`
	Locale   string `json:"locale,omitempty"` // en-US, fr-FR… ("" for the configured default)

	TeamID      string `json:"team_id,omitempty"`
	ChannelID   string `json:"channel_id"`
	ChannelName string `json:"channel_name,omitempty"`
	ChannelType string `json:"channel_type,omitempty"` // public, private or dm

	// ThreadID is the root message to answer under ("" for a slash
	// command's reply, or a direct message answered in the conversation).
	ThreadID string `json:"thread_id,omitempty"`
	// MessageID is the triggering message, left out of the thread's
	// context with everything after it ("" when unknown or for a slash
	// command).
	MessageID string  `json:"message_id,omitempty"`
	Trigger   Trigger `json:"trigger"`
	// Text is the command text, the bot's mention stripped.
	Text string `json:"text"`
	// ResponseURL is a slash command's response URL (Slack); optional.
	ResponseURL string `json:"response_url,omitempty"`
}

func (ev *Event) validate() error {
	switch {
	case ev == nil:
		return errors.New("no event")
	case ev.Platform != core.IntegrationSlack && ev.Platform != core.IntegrationMattermost:
		return fmt.Errorf("event from unknown platform %q", ev.Platform)
	case ev.ID == "":
		return errors.New("event without an id")
	case ev.UserID == "":
		return errors.New("event without a user")
	case ev.ChannelID == "":
		return errors.New("event without a channel")
	}
	switch ev.Trigger {
	case TriggerMention, TriggerDM, TriggerSlash:
	default:
		return fmt.Errorf("event with unknown trigger %q", ev.Trigger)
	}
	return nil
}

// Reply is one message the router asks a platform to post.
type Reply struct {
	Text string
	// Ephemeral replies are seen only by the requester.
	Ephemeral bool
	// Placeholder reports that Text only says that the bot is working: the
	// answer replaces it by edits (a platform with a status indicator or
	// native streaming may show that instead).
	Placeholder bool
	// Key and Part mark the post on the platform (Slack message metadata,
	// Mattermost post props) as part Part of the answer to the event Key
	// (EventKey), so that Finder finds it again.
	Key  string
	Part int
}

// EventKey is the key that marks the replies to ev on its platform.
func EventKey(ev *Event) string { return string(ev.Platform) + ":" + ev.ID }

// Finder is implemented by platforms that can find the replies already
// posted for an event (marked with Reply.Key): a run after a crash between
// a platform accepting a post and the record of its id finds the post
// instead of posting it again. Find returns the ids of the editable
// replies carrying key, by part.
type Finder interface {
	Find(ctx context.Context, ev *Event, key string) (map[int]string, error)
}

// Platform is implemented by each adapter; the router calls it from job
// workers, concurrently for different events.
type Platform interface {
	// Name is the platform's integration (core.IntegrationSlack…).
	Name() core.Integration
	// Thread returns the posts of ev's thread, oldest first, without
	// ev.MessageID and what follows it, and only if ev.UserID may read
	// them: otherwise an error wrapping ErrForbidden. The platform leaves
	// out what is not a post (joins, system messages, deleted posts); the
	// router shapes the rest into the request's context.
	Thread(ctx context.Context, ev *Event) ([]ThreadPost, error)
	// Post posts a reply for ev (in ev's thread, or in the conversation,
	// or through ev.ResponseURL) and returns its id, "" when the reply
	// cannot be edited.
	Post(ctx context.Context, ev *Event, r Reply) (id string, err error)
	// Update replaces the text of a reply posted for ev.
	Update(ctx context.Context, ev *Event, id, text string) error
	// MaxRunes is the most a single post may hold.
	MaxRunes() int
	// UpdateInterval is the least time between two edits of a streamed
	// reply.
	UpdateInterval() time.Duration
}

// ThreadPost is a post of a thread, as its platform gives it.
type ThreadPost struct {
	// Author is the name of who wrote it, as the platform shows it.
	Author string
	// Bot reports that this bot wrote it.
	Bot  bool
	Text string
}

// Editable is implemented by platforms on which some replies cannot be
// edited (ephemeral messages, response URLs): the router then posts no
// placeholder and no intermediate text for them, only the final answer.
// Without it, a reply is editable unless it is ephemeral.
type Editable interface {
	Editable(ev *Event, r Reply) bool
}

// Throttled is implemented by platforms whose edits share a budget (Slack's
// rate tiers): before an intermediate edit of a streamed reply the router
// asks AllowUpdate and skips the edit when it says no. Final edits always go
// through Update, which may wait for the budget.
type Throttled interface {
	AllowUpdate(ev *Event) bool
}

// Enricher is implemented by platforms that complete an event from their
// API (the user's e-mail and locale, the channel's name and type) when it
// is worked rather than when it arrives, so that adapters acknowledge the
// platform at once. Handle calls Enrich first; an error makes the job run
// again.
type Enricher interface {
	Enrich(ctx context.Context, ev *Event) error
}

// ErrForbidden is wrapped by Platform.Thread when the requester may not read
// the thread.
var ErrForbidden = errors.New("the requester may not read this conversation")

// Options wires a Router.
type Options struct {
	Assistant core.Assistant
	// Jobs is the durable queue; Enqueue needs it (Handle does not).
	Jobs *jobs.Queue
	// JobKey (JobKeySize bytes, required with Jobs) seals the events
	// queued in Jobs: see DeriveJobKey.
	JobKey []byte
	// Store keeps the record of what was posted (required).
	Store  *store.Store
	Config Config
	Logger *slog.Logger
	// Quota and Subjects answer the usage command; without them it says
	// that usage is not available.
	Quota    *quota.Quota
	Subjects func(core.Principal) []quota.Subject
	// Estimates, if set, makes the usage command add what the requester
	// used this month and its estimated cost and energy, read from the
	// journal's usage roll-ups in Store.
	Estimates *audit.Estimator
	// Now is the clock; zero means time.Now.
	Now func() time.Time
}

// Router routes chat events to the assistant and answers on their
// platform. It is safe for concurrent use.
type Router struct {
	o     Options
	log   *slog.Logger
	cats  map[string]*catalogue
	state *state
	now   func() time.Time

	mu        sync.RWMutex
	platforms map[core.Integration]Platform
}

// New builds a router and, when Options.Jobs is set, registers its job
// worker on the queue (before the queue starts).
func New(o Options) (*Router, error) {
	if o.Assistant == nil {
		return nil, errors.New("chat: an assistant is required")
	}
	if o.Store == nil {
		return nil, errors.New("chat: a store is required")
	}
	if o.Jobs != nil && len(o.JobKey) != JobKeySize {
		return nil, fmt.Errorf("chat: a %d-byte job key is required to queue events", JobKeySize)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if localeOf(o.Config.DefaultLocale) == "" {
		o.Config.DefaultLocale = "en"
	}
	cats, err := loadCatalogues()
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	st, err := openState(context.Background(), o.Store)
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	r := &Router{o: o, log: o.Logger.With("component", "chat"), cats: cats, state: st, now: o.Now,
		platforms: map[core.Integration]Platform{}}
	if o.Jobs != nil {
		if err := jobs.Register(o.Jobs, &worker{r: r}); err != nil {
			return nil, fmt.Errorf("chat: %w", err)
		}
	}
	return r, nil
}

// Register adds a platform adapter; events of its Name are answered
// through it.
func (r *Router) Register(p Platform) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.platforms[p.Name()] = p
}

func (r *Router) platform(name core.Integration) Platform {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.platforms[name]
}

// Enqueue queues ev durably and returns as soon as the job is stored:
// adapters acknowledge the platform after it. duplicate is true when the
// event was already queued (a retried delivery): nothing was added.
func (r *Router) Enqueue(ctx context.Context, ev *Event) (duplicate bool, err error) {
	if err := ev.validate(); err != nil {
		return false, fmt.Errorf("queueing chat event: %w", err)
	}
	if r.o.Jobs == nil {
		return false, errors.New("queueing chat event: the router has no job queue")
	}
	sealed, err := seal(r.o.JobKey, ev)
	if err != nil {
		return false, fmt.Errorf("queueing chat event: %w", err)
	}
	args := jobArgs{Platform: ev.Platform, EventID: ev.ID, Sealed: sealed}
	return r.o.Jobs.Insert(ctx, args, &river.InsertOpts{
		MaxAttempts: maxAttempts,
		UniqueOpts:  river.UniqueOpts{ByArgs: true},
	})
}

// Working is the short text an adapter may show at once when it
// acknowledges a slash command, in the requester's language.
func (r *Router) Working(ev *Event) string { return r.cat(ev).T("working") }

// cat is the catalogue of ev's user.
func (r *Router) cat(ev *Event) *catalogue {
	if l := localeOf(ev.Locale); l != "" {
		return r.cats[l]
	}
	return r.cats[localeOf(r.o.Config.DefaultLocale)]
}

// principal maps the platform user to who asks: a user id qualified by the
// platform, the e-mail when the platform gave it, and groups from the
// configured mapping of teams and channels.
func (r *Router) principal(ev *Event) core.Principal {
	return core.Principal{
		UserID:      string(ev.Platform) + ":" + ev.UserID,
		Email:       ev.Email,
		Groups:      r.o.Config.GroupsFor(ev.TeamID, channelOf(ev)),
		Integration: ev.Platform,
	}
}

func channelOf(ev *Event) Channel {
	t := ev.ChannelType
	if t == "" {
		t = ChannelPublic
	}
	return Channel{Platform: string(ev.Platform), Team: ev.TeamID, ID: ev.ChannelID, Name: strings.TrimPrefix(ev.ChannelName, "#"), Type: t}
}

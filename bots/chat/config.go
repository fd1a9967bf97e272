package chat

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"timon.dev/timon/core/config"
)

// Config is the chat section of timon.yaml (a config.Section): what the
// Mattermost and Slack bots may do, where, and the groups users get from
// where they ask. Each platform, and each of its entry points, is
// switched on by its secrets in its own section (chat.slack,
// chat.mattermost). Each field says what its zero value means; Check
// gives it that meaning.
type Config struct {
	// DefaultLocale is the language of replies when the platform does not
	// tell the user's (en or fr); zero means en.
	DefaultLocale string `yaml:"default_locale"`
	// UpdateInterval is the least time between two edits of a streamed
	// reply; zero means each platform's default (Slack 1.5s, Mattermost
	// 1.5s). Every Mattermost edit is a row in its database, and Slack
	// limits chat.update per workspace.
	UpdateInterval config.Duration `yaml:"update_interval"`

	// The sections slack and mattermost are the adapters' own
	// (bots/slack.Config, bots/mattermost.Config).

	// Groups gives the principal of a chat user groups from where they
	// ask: the team (workspace) and the channel. Groups decide policy rules
	// and shared quotas like a token's groups.
	Groups Groups `yaml:"groups"`

	// Policy applies in every channel, unless an entry of Channels says
	// otherwise.
	Policy ChannelPolicy `yaml:"policy"`
	// Channels refine Policy for some channels; the first entry that
	// matches a channel applies (its unset fields keep Policy's values).
	Channels []ChannelPolicy `yaml:"channels"`
}

// Groups maps where a user asks from to groups.
type Groups struct {
	// Teams maps a team or workspace id (Slack T…, Mattermost team id) to
	// groups.
	Teams map[string][]string `yaml:"teams"`
	// Channels maps a channel to groups. A channel is written by its id
	// (C0456EFGH, or slack:C0456EFGH, mattermost:<channel id>), or by its
	// name within one team of one platform: slack:T0123ABCD/#lab-private,
	// mattermost:<team id>/#lab-private. A bare #name is refused: anyone
	// may create a channel of that name in another team, or on the other
	// platform, and would receive the groups.
	Channels map[string][]string `yaml:"channels"`
}

// ChannelPolicy says what the assistant may do in a channel.
type ChannelPolicy struct {
	// Platform restricts the entry to slack or mattermost; zero means both.
	// Only meaningful in Channels.
	Platform string `yaml:"platform"`
	// Match lists the channels the entry applies to: channel ids
	// (optionally slack:ID, mattermost:ID), channel names scoped by
	// platform and team (slack:T0123ABCD/#name, mattermost:<team
	// id>/#name; a bare #name is refused, see Groups.Channels), or
	// type:public, type:private, type:dm. Only meaningful (and required)
	// in Channels.
	Match []string `yaml:"match"`
	// Off switches the assistant off: it answers nothing but a short
	// private notice.
	Off bool `yaml:"off"`
	// Commands lists the commands allowed (ask, rewrite, translate,
	// summarize, explain, review, refs, usage, privacy, help); zero means
	// all.
	// help is always allowed.
	Commands []string `yaml:"commands"`
	// Models lists the models users may ask for (model:NAME); zero means
	// any the policy allows. When set, requests go to the first one unless
	// the user names another.
	Models []string `yaml:"models"`
	// Public says whether answers may be posted for everyone in the
	// channel; false makes every answer private (ephemeral, only the
	// requester sees it). Zero (unset) means true in Policy, and Policy's
	// value in Channels.
	Public *bool `yaml:"public"`
}

// Commands of the chat bots, in the order help lists them.
var Commands = []string{"ask", "rewrite", "translate", "summarize", "explain", "review", "refs", "usage", "privacy", "help"}

// Channel describes a channel for policy lookup.
type Channel struct {
	Platform string // slack or mattermost
	// Team is the team (Slack workspace, Mattermost team) id the channel
	// belongs to, "" when it belongs to none (Mattermost direct and group
	// messages).
	Team     string
	ID, Name string
	Type     string // public, private or dm
}

// Resolved is the policy of one channel, all fields decided.
type Resolved struct {
	Off      bool
	Commands []string // never empty
	Models   []string // empty: any
	Public   bool
}

// PolicyFor resolves the policy of a channel: Policy, refined by the first
// entry of Channels that matches it.
func (c *Config) PolicyFor(ch Channel) Resolved {
	r := Resolved{Off: c.Policy.Off, Commands: c.Policy.Commands, Models: c.Policy.Models, Public: true}
	if c.Policy.Public != nil {
		r.Public = *c.Policy.Public
	}
	for _, e := range c.Channels {
		if !e.matches(ch) {
			continue
		}
		r.Off = r.Off || e.Off
		if len(e.Commands) > 0 {
			r.Commands = e.Commands
		}
		if len(e.Models) > 0 {
			r.Models = e.Models
		}
		if e.Public != nil {
			r.Public = *e.Public
		}
		break
	}
	if len(r.Commands) == 0 {
		r.Commands = Commands
	}
	if !slices.Contains(r.Commands, "help") {
		r.Commands = append(slices.Clip(r.Commands), "help")
	}
	return r
}

func (e *ChannelPolicy) matches(ch Channel) bool {
	if e.Platform != "" && e.Platform != ch.Platform {
		return false
	}
	for _, m := range e.Match {
		if matchChannel(m, ch) {
			return true
		}
	}
	return false
}

func matchChannel(m string, ch Channel) bool {
	ref, err := parseChannelRef(m)
	if err != nil {
		return false // refused by validation; never matches
	}
	switch {
	case ref.typ != "":
		return ref.typ == ch.Type
	case ref.platform != "" && ref.platform != ch.Platform:
		return false
	case ref.name != "":
		return ch.Team != "" && ch.Name != "" && ref.team == ch.Team && strings.EqualFold(ref.name, ch.Name)
	default:
		return ref.id == ch.ID
	}
}

// channelRef is a channel as the configuration names it: a type, an id
// (on any platform or on one), or a name in one team of one platform.
type channelRef struct {
	typ            string
	platform, team string
	id, name       string
}

// errBareName explains why a bare #name is refused.
const errBareName = "a bare #name matches a channel of that name in any team and on either platform (anyone may create one); " +
	"write it slack:<workspace id>/#%[1]s or mattermost:<team id>/#%[1]s, or use the channel id"

// parseChannelRef reads a channel key: type:public|private|dm, an id,
// slack:ID, mattermost:ID, slack:TEAM/#name or mattermost:TEAM/#name.
func parseChannelRef(s string) (channelRef, error) {
	s = strings.TrimSpace(s)
	if t, ok := strings.CutPrefix(s, "type:"); ok {
		if t != "public" && t != "private" && t != "dm" {
			return channelRef{}, fmt.Errorf("expected type:public, type:private or type:dm, got %q", s)
		}
		return channelRef{typ: t}, nil
	}
	if name, ok := strings.CutPrefix(s, "#"); ok {
		if strings.TrimSpace(name) == "" {
			return channelRef{}, fmt.Errorf("a channel id or name must not be empty")
		}
		return channelRef{}, fmt.Errorf(errBareName, name)
	}
	var ref channelRef
	if p, rest, ok := strings.Cut(s, ":"); ok {
		if p != "slack" && p != "mattermost" {
			return channelRef{}, fmt.Errorf("expected slack: or mattermost: before a channel, got %q", s)
		}
		ref.platform, s = p, rest
	}
	if team, name, ok := strings.Cut(s, "/"); ok {
		name, hash := strings.CutPrefix(name, "#")
		switch {
		case ref.platform == "":
			return channelRef{}, fmt.Errorf("a channel name needs its platform: slack:%[1]s or mattermost:%[1]s", s)
		case strings.TrimSpace(team) == "" || strings.Contains(team, "#"):
			return channelRef{}, fmt.Errorf("a channel name needs its team id: %s:<team id>/#name, got %q", ref.platform, s)
		case !hash || strings.TrimSpace(name) == "":
			return channelRef{}, fmt.Errorf("expected %s:%s/#name, got %q", ref.platform, team, s)
		}
		ref.team, ref.name = team, name
		return ref, nil
	}
	if strings.Contains(s, "#") {
		if ref.platform != "" {
			return channelRef{}, fmt.Errorf("a channel name needs its team id: %s:<team id>/#name, got %q", ref.platform, s)
		}
	}
	if strings.TrimSpace(s) == "" {
		return channelRef{}, fmt.Errorf("a channel id or name must not be empty")
	}
	ref.id = s
	return ref, nil
}

// GroupsFor returns the groups a user gets from where they ask, sorted
// and without repeats.
func (c *Config) GroupsFor(teamID string, ch Channel) []string {
	var out []string
	out = append(out, c.Groups.Teams[teamID]...)
	for key, gs := range c.Groups.Channels {
		if matchChannel(key, ch) {
			out = append(out, gs...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Check gives the zero values their meaning and reports what is wrong
// (config.Settings).
func (ch *Config) Check(c *config.Check) {
	if ch.DefaultLocale == "" {
		ch.DefaultLocale = "en"
	}
	switch ch.DefaultLocale {
	case "en", "fr":
	default:
		c.Add("default_locale", "expected en or fr, got %q", ch.DefaultLocale)
	}
	if ch.UpdateInterval < 0 || (ch.UpdateInterval > 0 && time.Duration(ch.UpdateInterval) < 200*time.Millisecond) {
		c.Add("update_interval", "expected at least 200ms (each edit of a reply is a call to the platform)")
	}

	var models []string
	if c.Config != nil {
		for _, p := range c.Config.Providers {
			models = append(models, p.Models...)
		}
	}
	ch.Policy.check(c, "policy", false, models)
	for i := range ch.Channels {
		ch.Channels[i].check(c, fmt.Sprintf("channels[%d]", i), true, models)
	}
	for _, team := range slices.Sorted(maps.Keys(ch.Groups.Teams)) {
		if strings.TrimSpace(team) == "" {
			c.Add("groups.teams", "a team id must not be empty")
		}
	}
	for _, key := range slices.Sorted(maps.Keys(ch.Groups.Channels)) {
		if _, err := parseChannelRef(key); err != nil {
			c.Add("groups.channels", "%q: %v", key, err)
		}
	}
}

func (p *ChannelPolicy) check(c *config.Check, at string, entry bool, served []string) {
	if entry {
		if len(p.Match) == 0 {
			c.Add(at+".match", "list the channels this entry applies to: ids, slack:TEAM/#name or mattermost:TEAM/#name, or type:public, type:private, type:dm")
		}
		switch p.Platform {
		case "", "slack", "mattermost":
		default:
			c.Add(at+".platform", "expected slack or mattermost, got %q", p.Platform)
		}
	} else if len(p.Match) > 0 || p.Platform != "" {
		c.Add(at, "match and platform belong in chat.channels entries, not in chat.policy")
	}
	for i, m := range p.Match {
		if _, err := parseChannelRef(m); err != nil {
			c.Add(fmt.Sprintf("%s.match[%d]", at, i), "%v", err)
		}
	}
	for i, cmd := range p.Commands {
		if !slices.Contains(Commands, cmd) {
			c.Add(fmt.Sprintf("%s.commands[%d]", at, i), "unknown command %q (expected one of %s)", cmd, strings.Join(Commands, ", "))
		}
	}
	for i, m := range p.Models {
		if !slices.Contains(served, m) {
			c.Add(fmt.Sprintf("%s.models[%d]", at, i), "model %q is served by no provider", m)
		}
	}
}

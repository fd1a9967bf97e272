package mattermost

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"timon.dev/timon/bots/chat"
)

// Props that mark the bot's replies: the event answered and the part.
const (
	propEventKey = "timon_event_key"
	propPart     = "timon_part"
)

// maxFindPages bounds the pages of a channel read looking for the bot's
// replies.
const maxFindPages = 10

var _ chat.Finder = (*Adapter)(nil)

// marked adds to p the props that mark it as part r.Part of the reply to
// r.Key.
func marked(p *post, r chat.Reply) *post {
	if r.Key != "" {
		p.setProp(propEventKey, r.Key)
		p.setProp(propPart, strconv.Itoa(r.Part))
	}
	return p
}

// Find looks for the bot's replies to an event, by their props: in ev's
// thread, or, for a reply in the conversation, among the channel's posts
// after the triggering one.
func (b *Adapter) Find(ctx context.Context, ev *chat.Event, key string) (map[int]string, error) {
	if !b.canPost(ctx, ev) {
		return nil, nil // private replies cannot be read back
	}
	me, err := b.self(ctx)
	if err != nil {
		return nil, err
	}
	found := map[int]string{}
	take := func(list *postList) {
		for _, p := range list.Posts {
			if p == nil || p.UserID != me.ID || p.ChannelID != ev.ChannelID || p.DeleteAt != 0 || p.prop(propEventKey) != key {
				continue
			}
			s, _ := p.prop(propPart).(string)
			part, err := strconv.Atoi(s)
			if err != nil || part < 0 {
				continue
			}
			if id, dup := found[part]; !dup || p.ID < id {
				found[part] = p.ID
			}
		}
	}
	if ev.ThreadID != "" {
		list, err := b.api.getPostThread(ctx, ev.ThreadID)
		if s := statusOf(err); s == http.StatusNotFound || s == http.StatusForbidden {
			// The thread is gone or out of reach: nothing to edit.
			b.log.Warn("reading the thread refused; no earlier reply found", "event", ev.ID, "err", err)
			return found, nil
		}
		if err != nil {
			return nil, fmt.Errorf("looking for the bot's replies in thread %s: %w", ev.ThreadID, err)
		}
		take(list)
		return found, nil
	}
	// A reply in the conversation to a slash command: the posts since a
	// few minutes before the job's first run would do, but the event has
	// no time; the latest pages are read. Otherwise the posts after the
	// triggering message.
	for n := range maxFindPages {
		list, err := b.api.getPosts(ctx, ev.ChannelID, ev.MessageID, n, 200)
		if s := statusOf(err); s == http.StatusNotFound || s == http.StatusForbidden {
			return found, nil
		}
		if err != nil {
			return nil, fmt.Errorf("looking for the bot's replies in channel %s: %w", ev.ChannelID, err)
		}
		take(list)
		if len(list.Order) < 200 {
			break
		}
	}
	return found, nil
}

package mattermost

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"

	"timon.dev/timon/bots/chat"
)

// Thread returns ev's thread as context, oldest first, without the
// triggering post and what follows it. It reads the thread only after the
// server confirms that the requester is a member of its channel: the bot
// may be in channels the requester is not, and must not pass on what they
// cannot read. Posts of another channel, deleted posts and system messages
// are left out. The bot's own posts have role assistant; the others role
// user, prefixed with their author's username.
func (b *Adapter) Thread(ctx context.Context, ev *chat.Event) ([]chat.ThreadPost, error) {
	if ev.ThreadID == "" {
		return nil, nil
	}
	me, err := b.self(ctx)
	if err != nil {
		return nil, err
	}
	if err := b.api.getChannelMember(ctx, ev.ChannelID, ev.UserID); err != nil {
		switch statusOf(err) {
		case http.StatusNotFound:
			return nil, fmt.Errorf("user %s is not a member of channel %s: %w", ev.UserID, ev.ChannelID, chat.ErrForbidden)
		case http.StatusForbidden:
			// The bot cannot see the channel's members: no proof that
			// the requester may read it.
			return nil, fmt.Errorf("the bot cannot check the members of channel %s: %w", ev.ChannelID, chat.ErrForbidden)
		}
		return nil, fmt.Errorf("checking that the requester may read channel %s: %w", ev.ChannelID, err)
	}
	list, err := b.api.getPostThread(ctx, ev.ThreadID)
	if err != nil {
		if s := statusOf(err); s == http.StatusForbidden || s == http.StatusNotFound {
			return nil, fmt.Errorf("reading thread %s: %w: %w", ev.ThreadID, chat.ErrForbidden, err)
		}
		return nil, fmt.Errorf("reading thread %s: %w", ev.ThreadID, err)
	}
	if root := list.Posts[ev.ThreadID]; root == nil || root.ChannelID != ev.ChannelID {
		return nil, fmt.Errorf("thread %s is not in channel %s: %w", ev.ThreadID, ev.ChannelID, chat.ErrForbidden)
	}
	posts := make([]*post, 0, len(list.Posts))
	for _, p := range list.Posts {
		if p != nil {
			posts = append(posts, p)
		}
	}
	slices.SortFunc(posts, func(a, b *post) int {
		return cmp.Or(cmp.Compare(a.CreateAt, b.CreateAt), cmp.Compare(a.ID, b.ID))
	})
	if trig := list.Posts[ev.MessageID]; trig != nil {
		i := slices.IndexFunc(posts, func(p *post) bool { return p.ID == trig.ID })
		posts = posts[:i]
	}
	posts = slices.DeleteFunc(posts, func(p *post) bool {
		return p.ChannelID != ev.ChannelID || p.DeleteAt != 0 || p.isSystemMessage() || p.Message == ""
	})
	names := b.names(ctx, me.ID, posts)
	out := make([]chat.ThreadPost, len(posts))
	for i, p := range posts {
		out[i] = chat.ThreadPost{Author: names[p.UserID], Bot: p.UserID == me.ID, Text: p.Message}
	}
	return out, nil
}

// names maps the authors of posts (but the bot) to their usernames, from
// the cache or in one call; an author the server does not name keeps
// their id.
func (b *Adapter) names(ctx context.Context, self string, posts []*post) map[string]string {
	names := map[string]string{}
	var missing []string
	for _, p := range posts {
		if p.UserID == self || names[p.UserID] != "" {
			continue
		}
		names[p.UserID] = p.UserID
		if u, ok := b.users.Get(p.UserID); ok {
			names[p.UserID] = u.Username
		} else {
			missing = append(missing, p.UserID)
		}
	}
	if len(missing) == 0 {
		return names
	}
	users, err := b.api.getUsersByIDs(ctx, missing)
	if err != nil {
		b.log.Warn("reading the names of a thread's authors failed; using their ids", "err", err)
		return names
	}
	for _, u := range users {
		if u == nil {
			continue
		}
		b.users.Add(u.ID, u)
		names[u.ID] = u.Username
	}
	return names
}

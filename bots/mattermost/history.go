package mattermost

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"timon.dev/timon/bots/chat"
)

var _ chat.History = (*Adapter)(nil)

// historyPage is the posts asked for per page of a channel's history.
const historyPage = 200

// History reads ev's channel since a time for a catch-up summary (GET
// /channels/{id}/posts, newest first, page after page until a post older
// than since), after the server confirms that the requester is a member of
// the channel (GET /channels/{id}/members/{user}, with the bot's token: 404
// for a non-member), public channels included. Thread replies are kept
// (the channel's conversation as its members saw it); the triggering post
// and what follows it, system messages and deleted posts are left out.
func (b *Adapter) History(ctx context.Context, ev *chat.Event, since time.Time, max int) ([]chat.HistoryPost, bool, error) {
	me, err := b.self(ctx)
	if err != nil {
		return nil, false, err
	}
	if err := b.api.getChannelMember(ctx, ev.ChannelID, ev.UserID); err != nil {
		switch statusOf(err) {
		case http.StatusNotFound:
			return nil, false, fmt.Errorf("user %s is not a member of channel %s: %w", ev.UserID, ev.ChannelID, chat.ErrForbidden)
		case http.StatusForbidden:
			return nil, false, fmt.Errorf("the bot cannot check the members of channel %s: %w", ev.ChannelID, chat.ErrForbidden)
		}
		return nil, false, fmt.Errorf("checking that the requester may read channel %s: %w", ev.ChannelID, err)
	}
	from := since.UnixMilli()
	var posts []*post // newest first
	truncated, seen := false, map[string]bool{}
pages:
	for page := 0; ; page++ {
		list, err := b.api.getPosts(ctx, ev.ChannelID, "", page, historyPage)
		if err != nil {
			if s := statusOf(err); s == http.StatusForbidden || s == http.StatusNotFound {
				return nil, false, fmt.Errorf("reading channel %s: %w: %w", ev.ChannelID, chat.ErrForbidden, err)
			}
			return nil, false, fmt.Errorf("reading channel %s: %w", ev.ChannelID, err)
		}
		for _, id := range list.Order {
			p := list.Posts[id]
			if p == nil || seen[id] {
				continue
			}
			seen[id] = true
			if p.CreateAt < from {
				break pages
			}
			if id == ev.MessageID {
				posts = posts[:0] // it, and what came after it, are left out
				continue
			}
			if p.ChannelID != ev.ChannelID || p.DeleteAt != 0 || p.isSystemMessage() || p.Message == "" {
				continue
			}
			if len(posts) == max {
				truncated = true
				break pages
			}
			posts = append(posts, p)
		}
		if len(list.Order) < historyPage {
			break
		}
	}
	slices.Reverse(posts)
	names := b.names(ctx, me.ID, posts)
	out := make([]chat.HistoryPost, len(posts))
	for i, p := range posts {
		out[i] = chat.HistoryPost{
			ThreadPost: chat.ThreadPost{Author: names[p.UserID], Bot: p.UserID == me.ID, Text: p.Message},
			Mine:       p.UserID == ev.UserID,
			At:         time.UnixMilli(p.CreateAt),
		}
	}
	return out, truncated, nil
}

package slack

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"timon.dev/timon/bots/chat"
)

var _ chat.History = (*Adapter)(nil)

// History reads ev's channel since a time for a catch-up summary
// (conversations.history, newest first, paged), after checking on Slack
// that the requester is a member of the channel (conversations.members),
// public channels included: the bot may be in channels the requester is
// not, and must not pass on what they have not joined. It keeps the
// channel's messages (top-level ones and replies also sent to the
// channel), without joins and other events, before ev's message.
func (a *Adapter) History(ctx context.Context, ev *chat.Event, since time.Time, max int) ([]chat.HistoryPost, bool, error) {
	if ev.ChannelType != chat.ChannelDM {
		ok, err := a.isMember(ctx, ev.ChannelID, ev.UserID)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			return nil, false, fmt.Errorf("user %s is not in channel %s: %w", ev.UserID, ev.ChannelID, chat.ErrForbidden)
		}
	}
	botUser, botID, err := a.identity(ctx)
	if err != nil {
		return nil, false, err
	}
	params := &slack.GetConversationHistoryParameters{ChannelID: ev.ChannelID, Oldest: tsOf(since), Inclusive: true, Limit: 200}
	if ev.MessageID != "" {
		params.Latest = ev.MessageID
	}
	var msgs []slack.Message // newest first
	truncated := false
	for {
		resp, err := a.historyPage(ctx, params)
		if err != nil {
			return nil, false, fmt.Errorf("reading a Slack channel's history: %w", err)
		}
		for _, m := range resp.Messages {
			if ev.MessageID != "" && compareTS(m.Timestamp, ev.MessageID) >= 0 {
				continue
			}
			if m.SubType != "" && m.SubType != "bot_message" && m.SubType != "thread_broadcast" {
				continue // joins, topics, deletions…
			}
			msgs = append(msgs, m)
		}
		if len(msgs) >= max {
			truncated = len(msgs) > max || resp.HasMore
			msgs = msgs[:max]
			break
		}
		if !resp.HasMore || resp.ResponseMetaData.NextCursor == "" {
			break
		}
		params.Cursor = resp.ResponseMetaData.NextCursor
	}
	slices.SortStableFunc(msgs, func(x, y slack.Message) int { return compareTS(x.Timestamp, y.Timestamp) })
	out := make([]chat.HistoryPost, 0, len(msgs))
	for _, m := range msgs {
		p := chat.HistoryPost{
			ThreadPost: chat.ThreadPost{Bot: m.User == botUser || (botID != "" && m.BotID == botID), Text: unescape.Replace(m.Text)},
			Mine:       m.User != "" && m.User == ev.UserID,
			At:         timeOfTS(m.Timestamp),
		}
		if !p.Bot && strings.TrimSpace(p.Text) != "" {
			p.Author = a.authorName(ctx, m)
		}
		out = append(out, p)
	}
	return out, truncated, nil
}

// tsOf writes t as a Slack timestamp.
func tsOf(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}

// timeOfTS reads a Slack timestamp.
func timeOfTS(ts string) time.Time {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}
	}
	us, _ := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	return time.Unix(s, us*1000)
}

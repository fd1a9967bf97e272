package slack

import (
	"context"
	"fmt"
	"strconv"

	"github.com/slack-go/slack"

	"timon.dev/timon/bots/chat"
)

// replyEventType is the metadata event type of the bot's replies: their
// payload names the event answered and the part.
const replyEventType = "timon_reply"

var _ chat.Finder = (*Adapter)(nil)

// marked returns the option that marks a reply with its event key and
// part (message metadata), none for an unmarked reply.
func marked(r chat.Reply) []slack.MsgOption {
	if r.Key == "" {
		return nil
	}
	return []slack.MsgOption{slack.MsgOptionMetadata(slack.SlackMetadata{
		EventType:    replyEventType,
		EventPayload: map[string]any{"event": r.Key, "part": r.Part},
	})}
}

// maxFindPages bounds the pages read looking for the bot's replies.
const maxFindPages = 10

// Find looks for the bot's replies to an event, by their metadata: in
// ev's thread (conversations.replies), or, for a reply in the
// conversation, among the messages after the triggering one
// (conversations.history). Slack returns metadata only when asked
// (include_all_metadata).
func (a *Adapter) Find(ctx context.Context, ev *chat.Event, key string) (map[int]string, error) {
	if a.viaResponseURL(ev) {
		return nil, nil // response URL replies cannot be read back
	}
	botUser, botID, err := a.identity(ctx)
	if err != nil {
		return nil, err
	}
	found := map[int]string{}
	take := func(msgs []slack.Message) {
		for _, m := range msgs {
			if m.User != botUser && (botID == "" || m.BotID != botID) {
				continue
			}
			if m.Metadata.EventType != replyEventType || m.Metadata.EventPayload["event"] != key {
				continue
			}
			if part, ok := partOf(m.Metadata.EventPayload["part"]); ok {
				if _, dup := found[part]; !dup {
					found[part] = m.Timestamp
				}
			}
		}
	}
	if ev.ThreadID != "" {
		params := &slack.GetConversationRepliesParameters{ChannelID: ev.ChannelID, Timestamp: ev.ThreadID, Limit: 200,
			Inclusive: true, IncludeAllMetadata: true}
		for range maxFindPages {
			page, more, next, err := a.threadPage(ctx, params)
			if apiRefused(err) {
				// The thread is gone or out of reach: nothing to edit.
				a.log.Warn("conversations.replies refused; no earlier reply found", "err", err)
				return found, nil
			}
			if err != nil {
				return nil, fmt.Errorf("looking for the bot's replies in a Slack thread: %w", err)
			}
			take(page)
			if !more || next == "" {
				break
			}
			params.Cursor = next
		}
		return found, nil
	}
	params := &slack.GetConversationHistoryParameters{ChannelID: ev.ChannelID, Oldest: ev.MessageID, Limit: 200, IncludeAllMetadata: true}
	for range maxFindPages {
		resp, err := a.historyPage(ctx, params)
		if apiRefused(err) {
			a.log.Warn("conversations.history refused; no earlier reply found", "err", err)
			return found, nil
		}
		if err != nil {
			return nil, fmt.Errorf("looking for the bot's replies in a Slack conversation: %w", err)
		}
		take(resp.Messages)
		if !resp.HasMore || resp.ResponseMetaData.NextCursor == "" {
			break
		}
		params.Cursor = resp.ResponseMetaData.NextCursor
	}
	return found, nil
}

// partOf reads the part of a reply's metadata (a JSON number).
func partOf(v any) (int, bool) {
	switch p := v.(type) {
	case float64:
		return int(p), p >= 0 && p == float64(int(p))
	case string:
		n, err := strconv.Atoi(p)
		return n, err == nil && n >= 0
	}
	return 0, false
}

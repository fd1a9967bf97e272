package slack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"timon.dev/timon/bots/chat"
)

// maxRateRetries bounds the retries of one call refused with 429.
const maxRateRetries = 3

// threadPage reads a page of a thread (conversations.replies), retried as
// call does.
func (a *Adapter) threadPage(ctx context.Context, params *slack.GetConversationRepliesParameters) (page []slack.Message, more bool, next string, err error) {
	err = call(ctx, func() error {
		var err error
		page, more, next, err = a.api.GetConversationRepliesContext(ctx, params)
		return err
	})
	return page, more, next, err
}

// historyPage reads a page of a channel's history (conversations.history),
// retried as call does.
func (a *Adapter) historyPage(ctx context.Context, params *slack.GetConversationHistoryParameters) (resp *slack.GetConversationHistoryResponse, err error) {
	err = call(ctx, func() error {
		var err error
		resp, err = a.api.GetConversationHistoryContext(ctx, params)
		return err
	})
	return resp, err
}

// call runs f, waiting and retrying when Slack answers 429 with
// Retry-After.
func call(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || attempt >= maxRateRetries {
			return err
		}
		wait := max(rl.RetryAfter, 500*time.Millisecond)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Post posts a reply: through the response URL of a slash command, as an
// ephemeral message, or in ev's thread.
func (a *Adapter) Post(ctx context.Context, ev *chat.Event, r chat.Reply) (string, error) {
	if a.viaResponseURL(ev) {
		no := false
		msg := &slack.WebhookMessage{Text: r.Text, ResponseType: slack.ResponseTypeInChannel, UnfurlLinks: &no, UnfurlMedia: &no}
		if r.Ephemeral {
			msg.ResponseType = slack.ResponseTypeEphemeral
		}
		err := call(ctx, func() error { return slack.PostWebhookCustomHTTPContext(ctx, ev.ResponseURL, a.http, msg) })
		if err != nil {
			return "", fmt.Errorf("answering a Slack slash command: %w", err)
		}
		return "", nil
	}
	// No previews: a link the model wrote is not fetched by Slack.
	opts := []slack.MsgOption{slack.MsgOptionText(r.Text, false), slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl()}
	if ev.ThreadID != "" {
		opts = append(opts, slack.MsgOptionTS(ev.ThreadID))
	}
	if r.Ephemeral {
		err := call(ctx, func() error {
			_, err := a.api.PostEphemeralContext(ctx, ev.ChannelID, ev.UserID, opts...)
			return err
		})
		if err != nil {
			return "", fmt.Errorf("posting an ephemeral Slack message: %w", err)
		}
		return "", nil
	}
	if r.Placeholder && a.inAssistantThread(ev, r) {
		return a.startReply(ctx, ev, r)
	}
	return a.post(ctx, ev, r)
}

// post posts r in ev's thread or conversation (chat.postMessage), without
// previews: a link the model wrote is not fetched by Slack.
func (a *Adapter) post(ctx context.Context, ev *chat.Event, r chat.Reply) (string, error) {
	opts := []slack.MsgOption{slack.MsgOptionText(r.Text, false), slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl()}
	if ev.ThreadID != "" {
		opts = append(opts, slack.MsgOptionTS(ev.ThreadID))
	}
	var ts string
	err := call(ctx, func() error {
		var err error
		_, ts, err = a.api.PostMessageContext(ctx, ev.ChannelID, append(opts, marked(r)...)...)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("posting a Slack message: %w", err)
	}
	return ts, nil
}

// Update edits a posted reply, within the workspace's chat.update budget;
// a reply in an assistant thread may be a stream (stream.go).
func (a *Adapter) Update(ctx context.Context, ev *chat.Event, id, text string) error {
	if err := a.limiter(ev.TeamID).Wait(ctx); err != nil {
		return fmt.Errorf("waiting for Slack's chat.update budget: %w", err)
	}
	if rp, ok := a.replies.Get(threadKey(ev.ChannelID, id)); ok {
		return a.updateReply(ctx, ev, id, text, rp)
	}
	return a.update(ctx, ev, id, text)
}

// update edits a posted message (chat.update).
func (a *Adapter) update(ctx context.Context, ev *chat.Event, id, text string) error {
	err := call(ctx, func() error {
		_, _, _, err := a.api.UpdateMessageContext(ctx, ev.ChannelID, id, slack.MsgOptionText(text, false))
		return err
	})
	if err != nil {
		return fmt.Errorf("editing a Slack message: %w", err)
	}
	return nil
}

// Thread reads ev's thread (conversations.replies) as context, after
// checking that the requester is a member of the channel
// (conversations.members): the bot never pulls in what the requester
// cannot read. The triggering message and what follows it are left out.
func (a *Adapter) Thread(ctx context.Context, ev *chat.Event) ([]chat.ThreadPost, error) {
	if ev.ThreadID == "" || ev.ThreadID == ev.MessageID {
		return nil, nil // no thread, or the mention is its root: nothing before it
	}
	if ev.ChannelType != chat.ChannelDM {
		ok, err := a.isMember(ctx, ev.ChannelID, ev.UserID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("user %s is not in channel %s: %w", ev.UserID, ev.ChannelID, chat.ErrForbidden)
		}
	}
	botUser, botID, err := a.identity(ctx)
	if err != nil {
		return nil, err
	}
	var msgs []slack.Message
	params := &slack.GetConversationRepliesParameters{ChannelID: ev.ChannelID, Timestamp: ev.ThreadID, Limit: 200, Inclusive: true}
	for len(msgs) < maxThreadMessages {
		page, more, next, err := a.threadPage(ctx, params)
		if err != nil {
			return nil, fmt.Errorf("reading a Slack thread: %w", err)
		}
		msgs = append(msgs, page...)
		if !more || next == "" {
			break
		}
		params.Cursor = next
	}
	slices.SortStableFunc(msgs, func(x, y slack.Message) int { return compareTS(x.Timestamp, y.Timestamp) })
	var out []chat.ThreadPost
	for _, m := range msgs {
		if ev.MessageID != "" && compareTS(m.Timestamp, ev.MessageID) >= 0 {
			break
		}
		if m.SubType != "" && m.SubType != "bot_message" && m.SubType != "thread_broadcast" {
			continue // joins, edits, deletions…
		}
		post := chat.ThreadPost{Bot: m.User == botUser || (botID != "" && m.BotID == botID), Text: unescape.Replace(m.Text)}
		if !post.Bot && strings.TrimSpace(post.Text) != "" {
			post.Author = a.authorName(ctx, m)
		}
		out = append(out, post)
	}
	return out, nil
}

// compareTS orders Slack timestamps ("1515449522.000016").
func compareTS(a, b string) int {
	ai, af, _ := strings.Cut(a, ".")
	bi, bf, _ := strings.Cut(b, ".")
	if len(ai) != len(bi) {
		return len(ai) - len(bi)
	}
	if c := strings.Compare(ai, bi); c != 0 {
		return c
	}
	return strings.Compare(af, bf)
}

func (a *Adapter) authorName(ctx context.Context, m slack.Message) string {
	if m.User == "" {
		if m.Username != "" {
			return m.Username
		}
		return "bot"
	}
	u, err := a.user(ctx, m.User)
	if err != nil {
		return m.User
	}
	if u.Profile.DisplayName != "" {
		return u.Profile.DisplayName
	}
	if u.RealName != "" {
		return u.RealName
	}
	return u.Name
}

// isMember reports whether user is in channel, reading the member list
// (cached for a minute).
func (a *Adapter) isMember(ctx context.Context, channel, user string) (bool, error) {
	if set, ok := a.members.Get(channel); ok {
		return set[user], nil
	}
	set := map[string]bool{}
	params := &slack.GetUsersInConversationParameters{ChannelID: channel, Limit: 1000}
	for {
		var ids []string
		var next string
		err := call(ctx, func() error {
			var err error
			ids, next, err = a.api.GetUsersInConversationContext(ctx, params)
			return err
		})
		if err != nil {
			return false, fmt.Errorf("checking Slack channel membership: %w", err)
		}
		for _, id := range ids {
			set[id] = true
		}
		if next == "" {
			break
		}
		params.Cursor = next
	}
	a.members.Add(channel, set)
	return set[user], nil
}

// user reads users.info (with the locale), cached.
func (a *Adapter) user(ctx context.Context, id string) (*slack.User, error) {
	if u, ok := a.users.Get(id); ok {
		return u, nil
	}
	var u *slack.User
	err := call(ctx, func() error {
		var err error
		u, err = a.api.GetUserInfoContext(ctx, id, slack.GetUserInfoOptionIncludeLocale(true))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading Slack user %s: %w", id, err)
	}
	a.users.Add(id, u)
	return u, nil
}

// channel reads conversations.info, cached.
func (a *Adapter) channel(ctx context.Context, id string) (channelInfo, error) {
	if ci, ok := a.channels.Get(id); ok {
		return ci, nil
	}
	var ch *slack.Channel
	err := call(ctx, func() error {
		var err error
		ch, err = a.api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: id})
		return err
	})
	if err != nil {
		return channelInfo{}, fmt.Errorf("reading Slack channel %s: %w", id, err)
	}
	ci := channelInfo{name: ch.Name, typ: chat.ChannelPublic}
	switch {
	case ch.IsIM:
		ci.typ = chat.ChannelDM
	case ch.IsPrivate || ch.IsMpIM || ch.IsGroup:
		ci.typ = chat.ChannelPrivate
	}
	a.channels.Add(id, ci)
	return ci, nil
}

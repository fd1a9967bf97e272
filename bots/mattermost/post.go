package mattermost

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"unicode/utf8"

	"timon.dev/timon/bots/chat"
)

// Post posts a reply for ev: in its thread (or its conversation), as the
// bot. A private (ephemeral) reply is seen only by the requester: through
// the slash command's response URL when there is one on this server (it
// lands where the command was run); otherwise as an ephemeral post, which
// needs the bot to hold the create_post_ephemeral permission (system admins
// only, by default); otherwise as a direct message from the bot, with a
// link to where the question was asked. The reply to a slash command run
// in a channel the bot is not in is private too: the bot cannot post there.
// Private replies cannot be edited: their id is "".
func (b *Adapter) Post(ctx context.Context, ev *chat.Event, r chat.Reply) (string, error) {
	if r.Ephemeral || !b.canPost(ctx, ev) {
		return "", b.private(ctx, ev, r.Text)
	}
	p, err := b.api.createPost(ctx, marked(&post{ChannelID: ev.ChannelID, RootID: ev.ThreadID, Message: r.Text}, r))
	if err != nil {
		return "", fmt.Errorf("posting to Mattermost channel %s: %w", ev.ChannelID, err)
	}
	return p.ID, nil
}

// private shows text to ev's requester alone.
func (b *Adapter) private(ctx context.Context, ev *chat.Event, text string) error {
	if ev.Trigger == chat.TriggerSlash && b.ownURL(ev.ResponseURL) {
		refused, err := b.respond(ctx, ev.ResponseURL, text)
		if err == nil {
			return nil
		}
		if !refused {
			// It may have been shown: posting again could show it twice.
			return err
		}
		b.log.Warn("the slash command's response URL refused the reply; sending it another way", "event", ev.ID, "err", err)
	}
	if !b.noEphemeral.Load() {
		err := b.api.createPostEphemeral(ctx, ev.UserID, &post{ChannelID: ev.ChannelID, RootID: ev.ThreadID, Message: text})
		if err == nil {
			return nil
		}
		if statusOf(err) != http.StatusForbidden {
			return fmt.Errorf("posting an ephemeral Mattermost message in channel %s: %w", ev.ChannelID, err)
		}
		b.noEphemeral.Store(true)
		b.log.Info("the bot may not post ephemeral messages (a system admin permission); private replies go by direct message")
	}
	me, err := b.self(ctx)
	if err != nil {
		return err
	}
	dm, err := b.api.createDirectChannel(ctx, me.ID, ev.UserID)
	if err != nil {
		return fmt.Errorf("opening a direct message channel with the requester: %w", err)
	}
	if dm.ID != ev.ChannelID {
		if from := b.origin(ev); from != "" && utf8.RuneCountInString(from)+utf8.RuneCountInString(text) <= b.o.MaxRunes {
			text = from + text
		}
	}
	if _, err := b.api.createPost(ctx, &post{ChannelID: dm.ID, Message: text}); err != nil {
		return fmt.Errorf("sending a direct message to the requester: %w", err)
	}
	return nil
}

// origin is a language-neutral first line for a reply sent by direct
// message: a link to the question (or to its channel).
func (b *Adapter) origin(ev *chat.Event) string {
	switch {
	case ev.MessageID != "":
		return "↪ " + b.base.JoinPath("_redirect", "pl", ev.MessageID).String() + "\n\n"
	case ev.ChannelName != "":
		return "↪ ~" + ev.ChannelName + "\n\n"
	}
	return ""
}

// Update replaces the message of a reply the bot posted.
func (b *Adapter) Update(ctx context.Context, ev *chat.Event, id, text string) error {
	if err := b.api.patchPost(ctx, id, text); err != nil {
		return fmt.Errorf("editing Mattermost post %s: %w", id, err)
	}
	return nil
}

// ownURL reports whether u is on the configured server (same scheme and
// host): the bot sends nothing to other hosts.
func (b *Adapter) ownURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Scheme == b.base.Scheme && p.Host == b.base.Host && p.User == nil
}

// respond posts an ephemeral message to a slash command's response URL.
// refused is true when the server answered and said no (nothing shown).
func (b *Adapter) respond(ctx context.Context, responseURL, text string) (refused bool, err error) {
	body, err := json.Marshal(&commandResponse{ResponseType: commandResponseEphemeral, Text: text})
	if err != nil {
		return true, fmt.Errorf("encoding a slash command response: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return true, fmt.Errorf("answering through the slash command's response URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("answering through the slash command's response URL: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode < 500:
		return true, fmt.Errorf("answering through the slash command's response URL: status %d", resp.StatusCode)
	default:
		return false, fmt.Errorf("answering through the slash command's response URL: status %d", resp.StatusCode)
	}
}

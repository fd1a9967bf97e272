package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"timon.dev/timon/bots/chat"
)

// Native streaming (chat.startStream, .appendStream, .stopStream) is only
// the transport of what the router already emits: the router still posts a
// placeholder, edits it with the answer so far (ending in chat.Cursor) and
// edits it a last time with the final text (sanitized, restored, with its
// notes and transparency line). In an assistant thread the adapter turns
// the placeholder into an empty stream, under the thread's status, and each
// edit into the text it adds to what was streamed; the final edit stops
// the stream. An edit that does not extend what was streamed (the
// sanitizer saw the rest of a link, say) stops the stream and edits the
// message from there on, as the throttled path does, so that the message
// always ends with the text the throttled path would show.
//
// A workspace without streaming answers chat.startStream with an error
// (unknownStreamErrors): it is remembered for the team, and its replies
// are posted and edited as elsewhere.

const (
	// noStreamTTL is how long a team stays known not to stream, before
	// chat.startStream is tried again.
	noStreamTTL = time.Hour
	// replyTTL bounds how long a reply's stream state is kept.
	replyTTL = time.Hour
	// clearTimeout bounds the call that clears a status after a failure.
	clearTimeout = 5 * time.Second
)

// unknownStreamErrors are the errors of a workspace (or app) without
// native streaming.
var unknownStreamErrors = map[string]bool{
	"unknown_method": true, "not_allowed": true, "feature_not_enabled": true, "method_deprecated": true,
	"method_not_supported_for_channel_type": true, "not_allowed_token_type": true, "missing_scope": true,
}

// assistantReply is the state of a reply in an assistant thread, from its
// placeholder to its final text.
type assistantReply struct {
	stream    bool   // the stream is open
	sent      string // what the stream holds
	key       string // the reply's mark (chat.Reply.Key, Part), set when the stream stops
	part      int
	statusSet bool
}

// streams reports whether team's workspace is not known to lack
// streaming.
func (a *Adapter) streams(team string) bool {
	_, no := a.noStream.Get(team)
	return !no
}

// startReply posts the placeholder of an assistant-thread reply: an empty
// stream where the workspace streams (the status says that the bot is
// working), the placeholder message otherwise; then the thread's title
// (first question) and status.
func (a *Adapter) startReply(ctx context.Context, ev *chat.Event, r chat.Reply) (string, error) {
	a.titleOnce(ctx, ev)
	var ts string
	stream := false
	if a.streams(ev.TeamID) {
		err := call(ctx, func() error {
			var err error
			_, ts, err = a.api.StartStreamContext(ctx, ev.ChannelID, slack.MsgOptionTS(ev.ThreadID),
				slack.MsgOptionRecipientUserID(ev.UserID), slack.MsgOptionRecipientTeamID(ev.TeamID))
			return err
		})
		var se slack.SlackErrorResponse
		switch {
		case err == nil:
			stream = true
		case errors.As(err, &se) && unknownStreamErrors[se.Err]:
			a.noStream.Add(ev.TeamID, struct{}{})
			a.log.Info("this Slack workspace does not stream replies; answers are shown by edits", "team", ev.TeamID, "err", err)
		case apiRefused(err):
			a.log.Warn("chat.startStream refused; this answer is shown by edits", "err", err)
		default:
			return "", fmt.Errorf("starting a Slack stream: %w", err)
		}
	}
	if !stream {
		var err error
		if ts, err = a.post(ctx, ev, r); err != nil {
			return "", err
		}
	}
	rp := &assistantReply{stream: stream, key: r.Key, part: r.Part, statusSet: true}
	a.replies.Add(threadKey(ev.ChannelID, ts), rp)
	status, _, _ := a.texts(ev)
	a.setStatus(ctx, ev, status)
	return ts, nil
}

// updateReply shows text in the assistant-thread reply id: appended to
// its stream while it extends it, as an edit otherwise. The final text
// (without chat.Cursor) stops the stream and clears the thread's status;
// so does a failure.
func (a *Adapter) updateReply(ctx context.Context, ev *chat.Event, id, text string, rp *assistantReply) error {
	body, progress := strings.CutSuffix(text, chat.Cursor)
	err := a.showReply(ctx, ev, id, text, body, progress, rp)
	if err != nil || !progress {
		if rp.stream && err != nil {
			// Leave no stream open behind a failure; the next edit (the
			// router's final one) then edits the message.
			if a.stopStream(ctx, ev, id, "", rp) == nil {
				rp.stream = false
			}
		}
		if rp.statusSet {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), clearTimeout)
			a.setStatus(cctx, ev, "")
			cancel()
			rp.statusSet = false
		}
	}
	if err == nil && !progress {
		a.replies.Remove(threadKey(ev.ChannelID, id))
	}
	return err
}

func (a *Adapter) showReply(ctx context.Context, ev *chat.Event, id, text, body string, progress bool, rp *assistantReply) error {
	if rp.stream {
		if rest, ok := strings.CutPrefix(body, rp.sent); ok {
			if !progress {
				if err := a.stopStream(ctx, ev, id, rest, rp); err != nil {
					return err
				}
				rp.stream, rp.sent = false, body
				return nil
			}
			if rest == "" {
				return nil
			}
			err := call(ctx, func() error {
				_, _, err := a.api.AppendStreamContext(ctx, ev.ChannelID, id, slack.MsgOptionMarkdownText(rest))
				return err
			})
			if err != nil {
				return fmt.Errorf("appending to a Slack stream: %w", err)
			}
			rp.sent = body
			return nil
		}
		// The text changed behind what was streamed: edits from here on.
		if err := a.stopStream(ctx, ev, id, "", rp); err != nil {
			return err
		}
		rp.stream = false
	}
	return a.update(ctx, ev, id, text)
}

// stopStream ends the stream id with rest, marking the message as the
// reply's part (message metadata, as chat.postMessage marks replies).
func (a *Adapter) stopStream(ctx context.Context, ev *chat.Event, id, rest string, rp *assistantReply) error {
	opts := marked(chat.Reply{Key: rp.key, Part: rp.part})
	if rest != "" {
		opts = append(opts, slack.MsgOptionMarkdownText(rest))
	}
	err := call(ctx, func() error {
		_, _, err := a.api.StopStreamContext(ctx, ev.ChannelID, id, opts...)
		return err
	})
	if err != nil {
		return fmt.Errorf("stopping a Slack stream: %w", err)
	}
	return nil
}

package slack

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/core"
)

// mentionRE matches a user mention, <@U123> or <@U123|name>.
var mentionRE = regexp.MustCompile(`<@([UW][A-Z0-9]+)(\|[^>]*)?>`)

// unescape undoes Slack's escaping of &, < and > in message text.
var unescape = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// commandText strips the bot's mention (the leading one, and any of the
// bot's own further on) and Slack's escaping.
func (a *Adapter) commandText(text string) string {
	text = strings.TrimSpace(text)
	if loc := mentionRE.FindStringIndex(text); loc != nil && loc[0] == 0 {
		text = text[loc[1]:]
	}
	a.mu.Lock()
	bot := a.botUser
	a.mu.Unlock()
	if bot != "" {
		text = mentionRE.ReplaceAllStringFunc(text, func(m string) string {
			if mentionRE.FindStringSubmatch(m)[1] == bot {
				return ""
			}
			return m
		})
	}
	return strings.TrimSpace(unescape.Replace(text))
}

// fromEventsAPI turns an Events API callback into a chat event; nil for
// the events the bot does not answer (its own messages, edits, messages in
// channels without a mention, other event types).
func (a *Adapter) fromEventsAPI(e slackevents.EventsAPIEvent) *chat.Event {
	cb, ok := e.Data.(*slackevents.EventsAPICallbackEvent)
	if !ok || cb.EventID == "" {
		return nil
	}
	team := cb.TeamID
	if team == "" {
		team = e.TeamID
	}
	ev := &chat.Event{Platform: core.IntegrationSlack, ID: cb.EventID, TeamID: team}
	switch in := e.InnerEvent.Data.(type) {
	case *slackevents.AppMentionEvent:
		if in.BotID != "" || in.User == "" {
			return nil // bots do not command bots
		}
		ev.Trigger = chat.TriggerMention
		ev.UserID, ev.ChannelID, ev.MessageID = in.User, in.Channel, in.TimeStamp
		ev.ThreadID = in.ThreadTimeStamp
		if ev.ThreadID == "" {
			ev.ThreadID = in.TimeStamp // answer in a thread under the mention
		}
		ev.Text = a.commandText(in.Text)
	case *slackevents.MessageEvent:
		if in.ChannelType != "im" || in.SubType != "" || in.BotID != "" || in.User == "" {
			return nil
		}
		ev.Trigger = chat.TriggerDM
		ev.ChannelType = chat.ChannelDM
		ev.UserID, ev.ChannelID, ev.MessageID = in.User, in.Channel, in.TimeStamp
		ev.ThreadID = in.ThreadTimeStamp // "" answers in the conversation
		ev.Text = a.commandText(in.Text)
	default:
		return nil
	}
	return ev
}

// assistantEvent handles the AI-app events: it reports whether e was one.
// The calls they lead to are made after the event is acknowledged.
func (a *Adapter) assistantEvent(e slackevents.EventsAPIEvent) bool {
	var th slackevents.AssistantThread
	started := false
	switch in := e.InnerEvent.Data.(type) {
	case *slackevents.AssistantThreadStartedEvent:
		th, started = in.AssistantThread, true
	case *slackevents.AssistantThreadContextChangedEvent:
		th = in.AssistantThread
	default:
		return false
	}
	if th.ChannelID == "" || th.ThreadTimeStamp == "" || th.UserID == "" {
		return true
	}
	tc := ThreadContext{UserID: th.UserID, ChannelID: th.Context.ChannelID, TeamID: th.Context.TeamID, EnterpriseID: th.Context.EnterpriseID}
	a.threads.Add(threadKey(th.ChannelID, th.ThreadTimeStamp), tc)
	if !started {
		return true
	}
	team := e.TeamID
	if cb, ok := e.Data.(*slackevents.EventsAPICallbackEvent); ok && cb.TeamID != "" {
		team = cb.TeamID
	}
	select {
	case a.assistantSlots <- struct{}{}:
	default:
		a.log.Warn("too many Slack assistant threads starting at once; one gets no suggested prompts")
		return true
	}
	go func() {
		defer func() { <-a.assistantSlots }()
		ctx, cancel := context.WithTimeout(context.Background(), assistantCallTimeout)
		defer cancel()
		a.suggestPrompts(ctx, &chat.Event{Platform: core.IntegrationSlack, TeamID: team, UserID: th.UserID,
			ChannelID: th.ChannelID, ChannelType: chat.ChannelDM, ThreadID: th.ThreadTimeStamp})
	}()
	return true
}

// fromSlash turns a slash command into a chat event. Slack does not retry
// slash commands; the trigger id (or, failing it, the Socket Mode envelope
// id) identifies the invocation.
func (a *Adapter) fromSlash(s slack.SlashCommand, envelope string) *chat.Event {
	id := s.TriggerID
	if id == "" {
		id = envelope
	}
	if id == "" || s.UserID == "" || s.ChannelID == "" {
		return nil
	}
	ev := &chat.Event{
		Platform: core.IntegrationSlack, ID: "cmd:" + id, TeamID: s.TeamID,
		UserID: s.UserID, UserName: s.UserName, ChannelID: s.ChannelID, Trigger: chat.TriggerSlash,
		Text: strings.TrimSpace(unescape.Replace(s.Text)), ResponseURL: s.ResponseURL,
	}
	switch s.ChannelName {
	case "directmessage":
		ev.ChannelType = chat.ChannelDM
	case "privategroup", "mpdm":
		ev.ChannelType = chat.ChannelPrivate
	default:
		ev.ChannelName = s.ChannelName
	}
	if ev.ResponseURL != "" && !a.responseURLAllowed(ev.ResponseURL) {
		a.log.Warn("slash command with a response URL outside Slack; answering in the channel instead")
		ev.ResponseURL = ""
	}
	return ev
}

// Enrich completes ev from the Web API, when it is worked: the user's
// e-mail, locale and name (users.info), the channel's name and type
// (conversations.info). A lookup Slack refuses leaves the field empty (a
// channel of unknown type counts as private); a network failure is
// returned, so that the job runs again.
func (a *Adapter) Enrich(ctx context.Context, ev *chat.Event) error {
	if ev.Email == "" || ev.Locale == "" {
		u, err := a.user(ctx, ev.UserID)
		switch {
		case err == nil:
			ev.Email, ev.Locale = u.Profile.Email, u.Locale
			if ev.UserName == "" {
				ev.UserName = u.Name
			}
		case apiRefused(err):
			a.log.Warn("users.info refused; answering without the user's e-mail and locale", "err", err)
		default:
			return err
		}
	}
	if ev.ChannelType == "" || (ev.ChannelName == "" && ev.ChannelType != chat.ChannelDM) {
		ci, err := a.channel(ctx, ev.ChannelID)
		switch {
		case err == nil:
			if ev.ChannelType == "" {
				ev.ChannelType = ci.typ
			}
			if ev.ChannelName == "" {
				ev.ChannelName = ci.name
			}
		case apiRefused(err):
			a.log.Warn("conversations.info refused; the channel counts as private", "err", err)
			if ev.ChannelType == "" {
				ev.ChannelType = chat.ChannelPrivate
			}
		default:
			return err
		}
	}
	return nil
}

// apiRefused reports whether Slack answered with an error (as opposed to
// not answering).
func apiRefused(err error) bool {
	var se slack.SlackErrorResponse
	var pse *slack.SlackErrorResponse
	return errors.As(err, &se) || errors.As(err, &pse)
}

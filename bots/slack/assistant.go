package slack

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"timon.dev/timon/bots/chat"
)

// Slack's AI-app surface: the split view in which a person talks to the
// bot in threads of its direct messages. When a thread starts
// (assistant_thread_started) the bot offers suggested prompts; the first
// question of a thread becomes its title; while the model works the thread
// shows a status ("is thinking…"), and the answer streams with Slack's
// native streaming where the workspace has it (stream.go). The channel the
// person is viewing (the thread's context) is kept as Slack reports it.
// All of it is worded in the person's language, as the router's replies.

const (
	// assistantTTL is how long an assistant thread's context is kept.
	assistantTTL = 24 * time.Hour
	// maxTitleRunes bounds a thread title.
	maxTitleRunes = 60
	// assistantCallTimeout bounds the calls made for an assistant event
	// (after it is acknowledged).
	assistantCallTimeout = 15 * time.Second
	// maxAssistantCalls bounds the assistant events handled at once;
	// beyond it an event is dropped (its prompts are a convenience).
	maxAssistantCalls = 16
)

// ThreadContext is what Slack says of an assistant thread: who opened it
// and the channel they are viewing (its context, updated by
// assistant_thread_context_changed).
type ThreadContext struct {
	UserID       string
	ChannelID    string // the channel viewed, "" when none
	TeamID       string
	EnterpriseID string
}

// assistantTexts is the adapter's own interface text on the AI-app
// surface, by language (chat.Locales).
var assistantTexts = map[string]struct {
	status, promptsTitle string
	prompts              []slack.AssistantThreadsPrompt
}{
	"en": {
		status:       "is thinking…",
		promptsTitle: "Try one of these:",
		prompts: []slack.AssistantThreadsPrompt{
			{Title: "Rewrite a text formally", Message: "rewrite formal our results are kinda great and the reviewers will love them"},
			{Title: "Translate into French", Message: "translate fr The meeting is moved to Thursday at 10 am."},
			{Title: "What happens to what I ask?", Message: "privacy"},
			{Title: "What can you do?", Message: "help"},
		},
	},
	"fr": {
		status:       "réfléchit…",
		promptsTitle: "Essayez par exemple :",
		prompts: []slack.AssistantThreadsPrompt{
			{Title: "Reformuler un texte", Message: "reformule formel nos résultats sont plutôt top et les relecteurs vont adorer"},
			{Title: "Traduire en anglais", Message: "traduis en La réunion est déplacée à jeudi 10 h."},
			{Title: "Que deviennent mes questions ?", Message: "confidentialité"},
			{Title: "Que sais-tu faire ?", Message: "aide"},
		},
	},
}

// texts returns the assistant texts in ev's user's language.
func (a *Adapter) texts(ev *chat.Event) (status, promptsTitle string, prompts []slack.AssistantThreadsPrompt) {
	t, ok := assistantTexts[a.o.Router.Lang(ev)]
	if !ok {
		t = assistantTexts["en"]
	}
	return t.status, t.promptsTitle, t.prompts
}

// threadKey names a thread of a conversation in the adapter's caches.
func threadKey(channel, ts string) string { return channel + "/" + ts }

// ThreadContext returns the context Slack last reported for an assistant
// thread (assistant_thread_started or _context_changed), if this hub
// received it within the last day.
func (a *Adapter) ThreadContext(channel, threadTS string) (ThreadContext, bool) {
	return a.threads.Get(threadKey(channel, threadTS))
}

// suggestPrompts sets a new thread's suggested prompts, in the language of
// the person who opened it (users.info).
func (a *Adapter) suggestPrompts(ctx context.Context, ev *chat.Event) {
	if u, err := a.user(ctx, ev.UserID); err == nil {
		ev.Locale = u.Locale
	} else {
		a.log.Warn("users.info failed; suggesting prompts in the default language", "err", err)
	}
	_, title, prompts := a.texts(ev)
	err := call(ctx, func() error {
		return a.api.SetAssistantThreadsSuggestedPromptsContext(ctx, slack.AssistantThreadsSetSuggestedPromptsParameters{
			Title: title, ChannelID: ev.ChannelID, ThreadTS: ev.ThreadID, Prompts: prompts})
	})
	if err != nil {
		a.log.Warn("setting the suggested prompts of a Slack assistant thread failed", "err", err)
	}
}

// inAssistantThread reports whether a reply to ev goes to a thread of the
// bot's direct messages: where Slack's AI-app surface (status, title,
// native streaming) applies.
func (a *Adapter) inAssistantThread(ev *chat.Event, r chat.Reply) bool {
	return ev.ChannelType == chat.ChannelDM && ev.ThreadID != "" && !r.Ephemeral && !a.viaResponseURL(ev)
}

// titleOnce names an assistant thread after its first question (first
// line, shortened), once per thread.
func (a *Adapter) titleOnce(ctx context.Context, ev *chat.Event) {
	k := threadKey(ev.ChannelID, ev.ThreadID)
	if _, done := a.titled.Get(k); done {
		return
	}
	title := threadTitle(ev.Text)
	if title == "" {
		return
	}
	a.titled.Add(k, struct{}{})
	err := call(ctx, func() error {
		return a.api.SetAssistantThreadsTitleContext(ctx, slack.AssistantThreadsSetTitleParameters{
			ChannelID: ev.ChannelID, ThreadTS: ev.ThreadID, Title: title})
	})
	if err != nil {
		a.log.Warn("setting the title of a Slack assistant thread failed", "err", err)
	}
}

// threadTitle is the first line of a question, at most maxTitleRunes.
func threadTitle(q string) string {
	q, _, _ = strings.Cut(strings.TrimSpace(q), "\n")
	q = strings.TrimSpace(q)
	if utf8.RuneCountInString(q) <= maxTitleRunes {
		return q
	}
	r := []rune(q)[:maxTitleRunes-1]
	return strings.TrimSpace(string(r)) + "…"
}

// setStatus shows (or, with "", clears) the status of ev's assistant
// thread. A failure is logged: the status is a convenience.
func (a *Adapter) setStatus(ctx context.Context, ev *chat.Event, status string) {
	err := call(ctx, func() error {
		return a.api.SetAssistantThreadsStatusContext(ctx, slack.AssistantThreadsSetStatusParameters{
			ChannelID: ev.ChannelID, ThreadTS: ev.ThreadID, Status: status})
	})
	if err != nil {
		a.log.Debug("setting the status of a Slack assistant thread failed", "err", err)
	}
}

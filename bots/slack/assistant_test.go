package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/bots/slack/slacktest"
	"timon.dev/timon/core/provider/fakellm"
)

// The assistant thread of Slack's documented assistant_thread_started
// example.
const (
	assistantUser    = "U123ABC456"
	assistantDM      = "D123ABC456"
	assistantThread  = "1729999327.187299"
	bobDM            = "D024BE91L" // the rig's direct messages with bob (en-US)
	bob              = "U2147483697"
	streamedQuestion = "ask what is a sovereign model?"
)

// assistantRig is a rig with the documented example's user (fr-FR) and
// direct messages.
func assistantRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	r := newRig(t, o)
	r.slack.AddUser(assistantUser, "ada2", "ada2@lab-univ.fr", "fr-FR")
	r.slack.AddChannel(assistantDM, "", "im", assistantUser, slacktest.BotUserID)
	return r
}

// waitFor waits until cond holds, re-checking at each change of the fake.
func (r *rig) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := ctxT(t)
	for {
		ch := r.slack.Changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}

// TestAssistantThreadStarted: Slack's documented assistant_thread_started
// gets suggested prompts in the user's language (fr-FR), over the Events
// API and (for an en-US user) over Socket Mode; the documented
// assistant_thread_context_changed updates the thread's context.
func TestAssistantThreadStarted(t *testing.T) {
	t.Parallel()
	r := assistantRig(t, rigOptions{mode: "socket"})
	if code := r.deliver(t, "/slack/events", "application/json", fixture(t, "events_api_assistant_thread_started.json"), 0); code != 200 {
		t.Fatalf("status %d", code)
	}
	r.waitFor(t, "the suggested prompts", func() bool {
		_, p := r.slack.SuggestedPrompts(assistantDM, assistantThread)
		return len(p) > 0
	})
	title, prompts := r.slack.SuggestedPrompts(assistantDM, assistantThread)
	if title != "Essayez par exemple :" || len(prompts) != 4 || prompts[0].Title != "Reformuler un texte" || prompts[3].Message != "aide" {
		t.Fatalf("prompts %q %+v", title, prompts)
	}
	tc, ok := r.adapter.ThreadContext(assistantDM, assistantThread)
	if !ok || tc.ChannelID != "C123ABC456" || tc.TeamID != "T07XY8FPJ5C" || tc.EnterpriseID != "E480293PS82" || tc.UserID != assistantUser {
		t.Fatalf("context %+v %v", tc, ok)
	}
	if stats, err := r.queue.Stats(ctxT(t)); err != nil || stats.Pending != 0 || r.fake.Count() != 0 {
		t.Fatalf("an assistant event was queued or sent to the model: %+v %v", stats, err)
	}

	// The person moves to #random.
	changed := bytes.ReplaceAll(fixture(t, "events_api_assistant_thread_context_changed.json"), []byte(`"channel_id": "C123ABC456"`), []byte(`"channel_id": "C111"`))
	changed = bytes.ReplaceAll(changed, []byte("Ev123ABC456"), []byte("EvChanged1"))
	if code := r.deliver(t, "/slack/events", "application/json", changed, 0); code != 200 {
		t.Fatalf("status %d", code)
	}
	if tc, ok := r.adapter.ThreadContext(assistantDM, assistantThread); !ok || tc.ChannelID != "C111" {
		t.Fatalf("context after the change %+v %v", tc, ok)
	}
	if n := len(r.slack.Calls("assistant.threads.setSuggestedPrompts")); n != 1 {
		t.Fatalf("%d setSuggestedPrompts calls: a context change is not a new thread", n)
	}

	// Over Socket Mode, for bob (en-US), in his direct messages.
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() { done <- r.adapter.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	if err := r.slack.WaitSocket(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	json.Unmarshal(fixture(t, "events_api_assistant_thread_started.json"), &v)
	th := v["event"].(map[string]any)["assistant_thread"].(map[string]any)
	th["user_id"], th["channel_id"], th["thread_ts"] = bob, bobDM, "1729999400.000100"
	v["event_id"] = "EvBobStarted"
	payload, _ := json.Marshal(v)
	if err := r.slack.Send(slacktest.Envelope("assistant-env", "events_api", payload, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.slack.WaitAck(ctx, "assistant-env"); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "bob's suggested prompts", func() bool {
		_, p := r.slack.SuggestedPrompts(bobDM, "1729999400.000100")
		return len(p) > 0
	})
	if title, prompts := r.slack.SuggestedPrompts(bobDM, "1729999400.000100"); title != "Try one of these:" || prompts[3].Message != "help" {
		t.Fatalf("bob's prompts %q %+v", title, prompts)
	}
}

var journalID = regexp.MustCompile(`(journal request|requête du journal) \S+`)

// ask asks question in a new assistant thread of the fr-FR user and
// returns the thread and the bot's replies there.
func (r *rig) askInThread(t *testing.T, eventID, question string) (string, []slacktest.Message) {
	t.Helper()
	root := r.slack.AddMessage(assistantDM, "", assistantUser, "Chats from 2024-09-28")
	ts := r.slack.AddMessage(assistantDM, root, assistantUser, question)
	if code := r.deliver(t, "/slack/events", "application/json", slacktest.ThreadMessage(eventID, assistantDM, assistantUser, question, ts, root), 0); code != 200 {
		t.Fatalf("status %d", code)
	}
	r.settle(t)
	return root, r.slack.Replies(assistantDM, root)
}

func streamingAnswer(fakellm.Request) fakellm.Reply {
	return fakellm.Reply{Text: "A sovereign model runs on the institution's own machines. " + strings.Repeat("It keeps data in. ", 30),
		ChunkSize: 24, ChunkDelay: 5 * time.Millisecond}
}

// TestAssistantAnswerStreams: a question in an assistant thread titles the
// thread, shows the status while the model works, streams the answer with
// chat.startStream/appendStream/stopStream, and ends with the very text
// the throttled edits show in a workspace without streaming — which falls
// back to them, remembering it.
func TestAssistantAnswerStreams(t *testing.T) {
	t.Parallel()
	r := assistantRig(t, rigOptions{})
	statusesAtModel := -1
	r.fake.Handle(func(req fakellm.Request) fakellm.Reply {
		if statusesAtModel < 0 {
			statusesAtModel = len(r.slack.Calls("assistant.threads.setStatus"))
		}
		return streamingAnswer(req)
	})
	root, replies := r.askInThread(t, "EvQ1", streamedQuestion)
	if len(replies) != 1 {
		t.Fatalf("replies %+v", replies)
	}
	m := replies[0]
	if !m.Streamed || m.Streaming || len(m.Edits) != 0 {
		t.Fatalf("not a finished stream: %+v", m)
	}
	if len(m.Chunks) < 3 || m.Chunks[0] == "" || !strings.HasPrefix(m.Text, "A sovereign model runs") || !strings.Contains(m.Text, "Généré par IA") {
		t.Fatalf("streamed in %d chunks: %q", len(m.Chunks), m.Text)
	}
	if strings.Contains(m.Text, "réfléchit") || strings.Contains(m.Text, " …") {
		t.Fatalf("the placeholder or the cursor was streamed: %q", m.Text)
	}
	if strings.Join(m.Chunks, "") != m.Text {
		t.Fatal("the chunks do not make the text")
	}
	if !bytes.Contains(m.Metadata, []byte(`"event":"slack:EvQ1"`)) {
		t.Fatalf("the stream is not marked as the reply: %s", m.Metadata)
	}
	if n := len(r.slack.Calls("chat.update")); n != 0 {
		t.Fatalf("%d chat.update calls while streaming", n)
	}
	if n := len(r.slack.Calls("chat.startStream")); n != 1 {
		t.Fatalf("%d chat.startStream calls", n)
	}
	if st := r.slack.Statuses(assistantDM, root); !slices.Equal(st, []string{"réfléchit…", ""}) {
		t.Fatalf("statuses %q", st)
	}
	if ti := r.slack.Titles(assistantDM, root); !slices.Equal(ti, []string{streamedQuestion}) {
		t.Fatalf("titles %q", ti)
	}
	// The status was set before the model was asked, and cleared after the
	// stream stopped.
	calls := r.slack.Calls("")
	clear := slices.IndexFunc(calls, func(c slacktest.Call) bool {
		return c.Method == "assistant.threads.setStatus" && c.Values.Get("status") == ""
	})
	stop := slices.IndexFunc(calls, func(c slacktest.Call) bool { return c.Method == "chat.stopStream" })
	if statusesAtModel != 1 || clear < stop {
		t.Fatalf("%d statuses set when the model was asked; status cleared at call %d, stream stopped at %d", statusesAtModel, clear, stop)
	}

	// A second question in the same thread: the title stays.
	ts := r.slack.AddMessage(assistantDM, root, assistantUser, "ask and then?")
	r.deliver(t, "/slack/events", "application/json", slacktest.ThreadMessage("EvQ2", assistantDM, assistantUser, "ask and then?", ts, root), 0)
	r.settle(t)
	if ti := r.slack.Titles(assistantDM, root); len(ti) != 1 {
		t.Fatalf("titles %q", ti)
	}

	// The same question where the workspace does not stream: edits, with
	// the same final text.
	w := assistantRig(t, rigOptions{})
	w.fake.Handle(streamingAnswer)
	w.slack.NoStreaming("")
	wroot, wreplies := w.askInThread(t, "EvQ1", streamedQuestion)
	if len(wreplies) != 1 || wreplies[0].Streamed || len(wreplies[0].Edits) < 2 {
		t.Fatalf("replies without streaming %+v", wreplies)
	}
	if got, want := journalID.ReplaceAllString(m.Text, "$1 ID"), journalID.ReplaceAllString(wreplies[0].Text, "$1 ID"); got != want {
		t.Fatalf("streamed text\n%q\nedited text\n%q", got, want)
	}
	if st := w.slack.Statuses(assistantDM, wroot); !slices.Equal(st, []string{"réfléchit…", ""}) {
		t.Fatalf("statuses without streaming %q", st)
	}
	// Remembered: the next answer does not try to stream.
	_, more := w.askInThread(t, "EvQ3", "ask once more")
	if len(more) != 1 || !strings.Contains(more[0].Text, "Généré par IA") {
		t.Fatalf("second reply without streaming %+v", more)
	}
	if n := len(w.slack.Calls("chat.startStream")); n != 1 {
		t.Fatalf("%d chat.startStream calls: the workspace's lack of streaming was not remembered", n)
	}
}

// TestAssistantStatusClearedOnError: a model answer cut in the middle is
// answered with the failure; the stream stops, the message shows the
// failure (an edit: it does not extend what was streamed), the status is
// cleared. An append Slack refuses also ends in the complete answer, by
// an edit, and clears the status.
func TestAssistantStatusClearedOnError(t *testing.T) {
	t.Parallel()
	r := assistantRig(t, rigOptions{})
	r.fake.Handle(func(fakellm.Request) fakellm.Reply {
		return fakellm.Reply{Text: strings.Repeat("partial answer ", 40), ChunkSize: 20, ChunkDelay: 5 * time.Millisecond, CutAfter: 10}
	})
	root, replies := r.askInThread(t, "EvCut", "ask something")
	if len(replies) != 1 {
		t.Fatalf("replies %+v", replies)
	}
	m := replies[0]
	if m.Streaming || strings.Contains(m.Text, "partial answer") || !strings.Contains(m.Text, "requête du journal") {
		t.Fatalf("after a failure: %+v", m)
	}
	if st := r.slack.Statuses(assistantDM, root); len(st) < 2 || st[0] != "réfléchit…" || st[len(st)-1] != "" {
		t.Fatalf("statuses %q", st)
	}

	r.fake.Handle(streamingAnswer)
	r.slack.FailNext("chat.appendStream", http.StatusInternalServerError)
	root, replies = r.askInThread(t, "EvAppendFails", streamedQuestion)
	if len(replies) != 1 || replies[0].Streaming || !strings.HasPrefix(replies[0].Text, "A sovereign model runs") ||
		!strings.Contains(replies[0].Text, "Généré par IA") || len(replies[0].Edits) != 1 {
		t.Fatalf("after a refused append: %+v", replies)
	}
	if st := r.slack.Statuses(assistantDM, root); len(st) < 2 || st[0] != "réfléchit…" || st[len(st)-1] != "" {
		t.Fatalf("statuses %q", st)
	}
}

// TestAssistantStreamIsGoverned: what streams is what the router emits —
// the e-mail masked before the model is put back in the streamed text,
// with its note, and the stream holds no placeholder.
func TestAssistantStreamIsGoverned(t *testing.T) {
	t.Parallel()
	r := assistantRig(t, rigOptions{})
	var sent string
	r.fake.Handle(func(req fakellm.Request) fakellm.Reply {
		sent = req.Messages[len(req.Messages)-1].Content
		return fakellm.Reply{ChunkSize: 8, ChunkDelay: 2 * time.Millisecond}
	})
	_, replies := r.askInThread(t, "EvMail", "ask write to grace.hopper@lab-univ.fr please")
	if strings.Contains(sent, "grace.hopper@lab-univ.fr") || !strings.Contains(sent, "[[") {
		t.Fatalf("the e-mail reached the model, or was not masked: %q", sent)
	}
	if len(replies) != 1 || !replies[0].Streamed || len(replies[0].Chunks) < 2 {
		t.Fatalf("replies %+v", replies)
	}
	m := replies[0]
	if !strings.Contains(m.Text, "grace.hopper@lab-univ.fr") || !strings.Contains(m.Text, ":lock: 1 élément") {
		t.Fatalf("streamed text %q", m.Text)
	}
	for _, c := range m.Chunks {
		if strings.Contains(c, "[[") {
			t.Fatalf("a placeholder was streamed: %q", c)
		}
	}
}

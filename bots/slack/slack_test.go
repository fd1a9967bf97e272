package slack_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/bots/slack"
	"timon.dev/timon/bots/slack/slacktest"
	"timon.dev/timon/core/provider/fakellm"
)

const form = "application/x-www-form-urlencoded"

// TestSigningExample checks the verifier against Slack's documented worked
// example, and the slash command endpoint with that very request.
func TestSigningExample(t *testing.T) {
	t.Parallel()
	body := fixture(t, "signing_example.body")
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", "1531420618")
	h.Set("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	at := time.Unix(1531420618, 0)
	if err := slack.Verify([]byte(secret), h, body, at.Add(4*time.Minute)); err != nil {
		t.Fatalf("the documented example does not verify: %v", err)
	}
	if err := slack.Verify([]byte(secret), h, body, at.Add(6*time.Minute)); !errors.Is(err, slack.ErrStaleTimestamp) {
		t.Fatalf("a six-minute-old request: %v", err)
	}
	if err := slack.Verify([]byte(secret), h, append(bytes.Clone(body), ' '), at); !errors.Is(err, slack.ErrBadSignature) {
		t.Fatalf("a changed body: %v", err)
	}
	if err := slack.Verify([]byte("another secret"), h, body, at); !errors.Is(err, slack.ErrBadSignature) {
		t.Fatalf("another secret: %v", err)
	}
	h.Del("X-Slack-Signature")
	if err := slack.Verify([]byte(secret), h, body, at); !errors.Is(err, slack.ErrMissingSignature) {
		t.Fatalf("no signature: %v", err)
	}

	// The documented request, delivered at its time, is a slash command
	// (/webhook-collect with no text: help) answered through its response
	// URL (Slack's hooks.slack.com, which the test's HTTP client sends to
	// the fake).
	r := newRig(t, rigOptions{now: func() time.Time { return at.Add(time.Second) }})
	resp, err := slacktest.DeliverAt(r.http.Client(), r.http.URL+"/slack/commands", form, body, secret, 0, at)
	if err != nil {
		t.Fatal(err)
	}
	var ack map[string]string
	json.NewDecoder(resp.Body).Decode(&ack)
	resp.Body.Close()
	if resp.StatusCode != 200 || ack["response_type"] != "ephemeral" || ack["text"] == "" {
		t.Fatalf("slash ack %d %v", resp.StatusCode, ack)
	}
	r.settle(t)
	res := r.slack.Responses()
	if len(res) != 1 || res[0].Path != "/response/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN" ||
		!strings.Contains(res[0].Text, "ask <question>") || len(r.slack.BotMessages()) != 0 {
		t.Fatalf("responses %+v, bot messages %+v", res, r.slack.BotMessages())
	}
}

func TestBadSignatureIsRefusedAndNothingProcessed(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	body := fixture(t, "events_api_app_mention.json")
	resp, err := slacktest.Deliver(r.http.Client(), r.http.URL+"/slack/events", "application/json", body, "not-the-secret", 0)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	// Unsigned.
	resp, err = r.http.Client().Post(r.http.URL+"/slack/events", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned: status %d, want 401", resp.StatusCode)
	}
	// Replayed: Slack's signature, but from ten minutes ago.
	resp, err = slacktest.DeliverAt(r.http.Client(), r.http.URL+"/slack/events", "application/json", body, secret, 0, time.Now().Add(-10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed: status %d, want 401", resp.StatusCode)
	}
	stats, err := r.queue.Stats(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if stats.Pending != 0 || len(r.slack.BotMessages()) != 0 || r.fake.Count() != 0 || len(r.slack.Calls("")) != 0 {
		t.Fatalf("a refused request was processed: %d jobs, %d messages, %d model calls, %d API calls",
			stats.Pending, len(r.slack.BotMessages()), r.fake.Count(), len(r.slack.Calls("")))
	}
	// A signed event of its own, delivered after them, is answered: once it
	// is, whatever the refused requests had started would have shown too.
	marker := bytes.ReplaceAll(body, []byte("Ev123ABC456"), []byte("EvMarker"))
	marker = bytes.ReplaceAll(marker, []byte("1515449522.000016"), []byte("1515449600.000001"))
	if code := r.deliver(t, "/slack/events", "application/json", marker, 0); code != http.StatusOK {
		t.Fatalf("signed marker event: status %d", code)
	}
	r.settle(t)
	msgs := r.slack.BotMessages()
	if r.fake.Count() != 1 || len(msgs) != 1 || msgs[0].ThreadTS != "1515449600.000001" {
		t.Fatalf("a refused request was processed: %d model calls, bot messages %+v; want one answer, to the marker", r.fake.Count(), msgs)
	}
}

func TestEndpointsWithoutSecretAnswer404(t *testing.T) {
	r := newRig(t, rigOptions{noSecret: true})
	for _, path := range []string{"/slack/events", "/slack/commands"} {
		if code := r.deliver(t, path, "application/json", fixture(t, "events_api_app_mention.json"), 0); code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, code)
		}
	}
}

func TestURLVerification(t *testing.T) {
	r := newRig(t, rigOptions{})
	resp, err := slacktest.Deliver(r.http.Client(), r.http.URL+"/slack/events", "application/json", fixture(t, "events_api_url_verification.json"), secret, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || b.String() != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("challenge: %d %q", resp.StatusCode, b.String())
	}
}

// TestRetriedEventGetsOneReply: Slack's documented app_mention, delivered,
// then retried twice (X-Slack-Retry-Num), is answered once, in its thread,
// in the user's language (fr-FR from users.info).
func TestRetriedEventGetsOneReply(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	body := fixture(t, "events_api_app_mention.json")
	for retry := range 3 {
		if code := r.deliver(t, "/slack/events", "application/json", body, retry); code != 200 {
			t.Fatalf("delivery %d: status %d", retry, code)
		}
	}
	r.settle(t)
	msgs := r.slack.BotMessages()
	if len(msgs) != 1 {
		t.Fatalf("%d bot messages, want 1: %+v", len(msgs), msgs)
	}
	m := msgs[0]
	if m.Channel != "C123ABC456" || m.ThreadTS != "1515449522.000016" || m.Ephemeral {
		t.Fatalf("reply not in the mention's thread: %+v", m)
	}
	if !strings.HasPrefix(m.Text, "echo: is it everything a river should be?") || !strings.Contains(m.Text, "Généré par IA") {
		t.Fatalf("reply %q", m.Text)
	}
	if len(m.Edits) == 0 {
		t.Fatal("the placeholder was not edited into the answer")
	}
	if r.fake.Count() != 1 {
		t.Fatalf("the model was asked %d times", r.fake.Count())
	}
	if es, _ := r.journalEntries(t); len(es) != 1 || es[0].UserID != "slack:U061F7AUR" || es[0].Integration != "slack" {
		t.Fatalf("journal %+v", es)
	}
}

func TestDirectMessage(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	if code := r.deliver(t, "/slack/events", "application/json", fixture(t, "events_api_message_im.json"), 0); code != 200 {
		t.Fatalf("status %d", code)
	}
	// The bot's own messages in the DM are not commands.
	own := slacktest.DirectMessage("EvOwn", "D024BE91L", slacktest.BotUserID, "echo", "1355517524.000001")
	var v map[string]any
	json.Unmarshal(own, &v)
	v["event"].(map[string]any)["bot_id"] = slacktest.BotID
	own, _ = json.Marshal(v)
	r.deliver(t, "/slack/events", "application/json", own, 0)
	r.settle(t)
	msgs := r.slack.BotMessages()
	if len(msgs) != 1 || msgs[0].Channel != "D024BE91L" || msgs[0].ThreadTS != "" ||
		!strings.HasPrefix(msgs[0].Text, "echo: Hello hello can you hear me?") || !strings.Contains(msgs[0].Text, "AI-generated") {
		t.Fatalf("DM reply %+v", msgs)
	}
}

func TestSlashCommandAnswersThroughResponseURL(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	v := url.Values{"team_id": {slacktest.Team}, "channel_id": {"C123ABC456"}, "channel_name": {"lab"}, "user_id": {"U2147483697"},
		"user_name": {"bob"}, "command": {"/timon"}, "text": {"ask what is 2 &amp; 2?"}, "response_url": {r.slack.ResponseURL()}, "trigger_id": {"13345224609.738474920.8088930838d88f008e0"}}
	if code := r.deliver(t, "/slack/commands", form, []byte(v.Encode()), 0); code != 200 {
		t.Fatalf("status %d", code)
	}
	r.settle(t)
	res := r.slack.Responses()
	if len(res) != 1 || res[0].ResponseType != "in_channel" || !strings.HasPrefix(res[0].Text, "echo: what is 2 & 2?") {
		t.Fatalf("responses %+v", res)
	}
	if len(r.slack.BotMessages()) != 0 {
		t.Fatal("a slash command with a response URL was also posted")
	}
}

func TestThreadContextOnlyForMembers(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	root := r.slack.AddMessage("C123ABC456", "", "U2147483697", "The ORION sample failed at 40 K")
	r.slack.AddMessage("C123ABC456", root, "U2147483697", "And again at 38 K")
	mention := r.slack.AddMessage("C123ABC456", root, "U061F7AUR", "<@"+slacktest.BotUserID+"> summarize")
	r.deliver(t, "/slack/events", "application/json", slacktest.AppMention("Ev1", "C123ABC456", "U061F7AUR", "summarize", mention, root), 0)
	r.settle(t)
	reqs := r.fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d model calls", len(reqs))
	}
	sent := reqs[0].LastUser()
	if !strings.Contains(sent, "bob: The ORION sample failed at 40 K") || !strings.Contains(sent, "bob: And again at 38 K") || strings.Contains(sent, "summarize") {
		t.Fatalf("sent %q", sent)
	}
	if replies := r.slack.Replies("C123ABC456", root); len(replies) != 1 {
		t.Fatalf("replies %+v", replies)
	}

	// carla is not in #lab: she may not have its thread summarized.
	r.slack.AddUser("U999", "eve", "eve@example.org", "en-US")
	r.deliver(t, "/slack/events", "application/json", slacktest.AppMention("Ev2", "C123ABC456", "U999", "summarize", r.slack.AddMessage("C123ABC456", root, "U999", "hi"), root), 0)
	r.settle(t)
	if r.fake.Count() != 1 {
		t.Fatal("a thread was sent for a user who is not in its channel")
	}
	replies := r.slack.Replies("C123ABC456", root)
	if len(replies) != 2 || !strings.Contains(replies[1].Text, "not a member") {
		t.Fatalf("replies %+v", replies)
	}
	if n := len(r.slack.Calls("conversations.replies")); n != 1 {
		t.Fatalf("conversations.replies called %d times, want 1 (never for a non-member)", n)
	}
}

func TestLongAnswersAreSplitUnderSlackLimit(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	var b strings.Builder
	for i := 0; b.Len() < 11000; i++ {
		fmt.Fprintf(&b, "Paragraph %d of a long answer about rivers, éléments accentués inclus.\n\n", i)
	}
	answer := strings.TrimSpace(b.String())
	r.fake.Handle(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{Text: answer, ChunkSize: 512} })
	r.deliver(t, "/slack/events", "application/json", fixture(t, "events_api_app_mention.json"), 0)
	r.settle(t)
	msgs := r.slack.BotMessages()
	if len(msgs) < 3 {
		t.Fatalf("%d messages for an 11,000-character answer", len(msgs))
	}
	var got []string
	for i, m := range msgs {
		if n := utf8.RuneCountInString(m.Text); n > slack.MaxRunes {
			t.Fatalf("message %d holds %d runes", i, n)
		}
		if m.ThreadTS != "1515449522.000016" {
			t.Fatalf("message %d outside the thread", i)
		}
		got = append(got, m.Text)
	}
	all := strings.Join(got, "\n\n")
	if !strings.Contains(all, "Paragraph 0 of") || !strings.Contains(all, fmt.Sprintf("Paragraph %d of", strings.Count(answer, "Paragraph")-1)) {
		t.Fatal("paragraphs are missing")
	}
	if !strings.Contains(msgs[len(msgs)-1].Text, "Généré par IA") || strings.Contains(msgs[0].Text, "Généré par IA") {
		t.Fatal("the transparency line is not (only) on the last message")
	}
}

func TestRateLimitedCallsAreRetried(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.slack.FailNext("chat.postMessage", http.StatusTooManyRequests)
	r.slack.FailNext("chat.update", http.StatusTooManyRequests)
	r.deliver(t, "/slack/events", "application/json", fixture(t, "events_api_app_mention.json"), 0)
	r.settle(t)
	msgs := r.slack.BotMessages()
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Text, "echo: is it everything") {
		t.Fatalf("messages %+v", msgs)
	}
}

// TestUpdatesKeepToTheRateTier: with a budget of 6 edits a minute, the
// intermediate edits of a streamed answer are skipped and the final one
// goes through.
func TestUpdatesKeepToTheRateTier(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{updates: 6})
	r.fake.Handle(func(fakellm.Request) fakellm.Reply {
		return fakellm.Reply{Text: strings.Repeat("flow ", 60), ChunkSize: 10, ChunkDelay: 10 * time.Millisecond}
	})
	r.deliver(t, "/slack/events", "application/json", fixture(t, "events_api_app_mention.json"), 0)
	r.settle(t)
	if n := len(r.slack.Calls("chat.update")); n != 1 {
		t.Fatalf("%d chat.update calls, want only the final one", n)
	}
	r2 := newRig(t, rigOptions{})
	r2.fake.Handle(func(fakellm.Request) fakellm.Reply {
		return fakellm.Reply{Text: strings.Repeat("flow ", 60), ChunkSize: 10, ChunkDelay: 10 * time.Millisecond}
	})
	r2.deliver(t, "/slack/events", "application/json", fixture(t, "events_api_app_mention.json"), 0)
	r2.settle(t)
	if n := len(r2.slack.Calls("chat.update")); n < 3 {
		t.Fatalf("%d chat.update calls with a large budget: the answer did not stream", n)
	}
}

func TestChannelPolicyPrivateAnswersAreEphemeral(t *testing.T) {
	t.Parallel()
	f := false
	r := newRig(t, rigOptions{chat: chat.Config{Channels: []chat.ChannelPolicy{{Match: []string{"slack:" + slacktest.Team + "/#lab"}, Public: &f}}}})
	r.deliver(t, "/slack/events", "application/json", fixture(t, "events_api_app_mention.json"), 0)
	r.settle(t)
	msgs := r.slack.BotMessages()
	if len(msgs) != 1 || !msgs[0].Ephemeral || msgs[0].For != "U061F7AUR" || !strings.HasPrefix(msgs[0].Text, "echo:") {
		t.Fatalf("messages %+v", msgs)
	}
}

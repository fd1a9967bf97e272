package slack_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/bots/slack/slacktest"
)

// A catch-up summary of the channel over a period reads only the messages
// of that period, of that channel, page after page, and answers the
// requester privately.
func TestSummarizeChannelSinceReadsThePeriodOnly(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	now := time.Now()
	r.slack.AddMessageAt("C123ABC456", "", "U061F7AUR", "OLD: the budget meeting moved", now.Add(-30*time.Hour))
	r.slack.AddMessageAt("C111", "", "U222", "RANDOM: lunch at noon", now.Add(-time.Hour))
	for i := range 450 {
		r.slack.AddMessageAt("C123ABC456", "", "U2147483697", fmt.Sprintf("cryostat log line %d", i), now.Add(-3*time.Hour+time.Duration(i)*time.Second))
	}
	r.slack.AddMessageAt("C123ABC456", "", "U061F7AUR", "We decided to order helium", now.Add(-time.Hour))
	mention := r.slack.AddMessage("C123ABC456", "", "U2147483697", "<@"+slacktest.BotUserID+"> summarize last 4h")
	r.deliver(t, "/slack/events", "application/json", slacktest.AppMention("EvSum1", "C123ABC456", "U2147483697", "summarize last 4h", mention, ""), 0)
	r.settle(t)

	reqs := r.fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d model calls, want 1", len(reqs))
	}
	sent := reqs[0].LastUser()
	if !strings.Contains(sent, "bob: cryostat log line 0\n") || !strings.Contains(sent, "bob: cryostat log line 449") ||
		!strings.Contains(sent, "ada: We decided to order helium") || strings.Contains(sent, "OLD") || strings.Contains(sent, "RANDOM") ||
		strings.Contains(sent, "summarize last 4h") {
		t.Fatalf("sent %.400q…", sent)
	}
	if !strings.Contains(sent, `"Key points", "Decisions", "Open questions"`) {
		t.Fatalf("the request does not ask for the three parts: %.300q", sent)
	}
	if n := len(r.slack.Calls("conversations.history")); n < 3 {
		t.Fatalf("conversations.history called %d times for 451 messages by pages of 200", n)
	}
	bot := r.slack.BotMessages()
	if len(bot) == 0 || !strings.Contains(bot[len(bot)-1].Text, "Summarized 451 messages in one part") {
		t.Fatalf("%d replies %+v", len(bot), bot)
	}
	for _, m := range bot { // the echoed answer is long: in parts
		if !m.Ephemeral || m.For != "U2147483697" {
			t.Fatalf("a reply is not private to the requester: %+v", m)
		}
	}
}

// The requester must be a member of the channel, even a public one the bot
// is in: otherwise nothing is read and nothing reaches the model.
func TestSummarizeChannelRefusedToNonMembers(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.slack.AddMessageAt("C123ABC456", "", "U2147483697", "The ORION results are in", time.Now().Add(-time.Hour))
	// carla is not in #lab (public, the bot is in it).
	v := url.Values{"team_id": {slacktest.Team}, "channel_id": {"C123ABC456"}, "channel_name": {"lab"}, "user_id": {"U222"},
		"user_name": {"carla"}, "command": {"/timon"}, "text": {"summarize since yesterday"}, "response_url": {r.slack.ResponseURL()}, "trigger_id": {"1.2.3"}}
	if code := r.deliver(t, "/slack/commands", "application/x-www-form-urlencoded", []byte(v.Encode()), 0); code != 200 {
		t.Fatalf("status %d", code)
	}
	r.settle(t)
	if r.fake.Count() != 0 {
		t.Fatal("a channel was summarized for a user who is not in it")
	}
	if n := len(r.slack.Calls("conversations.history")); n != 0 {
		t.Fatalf("conversations.history called %d times for a non-member", n)
	}
	res := r.slack.Responses()
	if len(res) != 1 || res[0].ResponseType != "ephemeral" || !strings.Contains(res[0].Text, "not a member") {
		t.Fatalf("responses %+v", res)
	}
}

// "since my last message" starts after the requester's last message.
func TestSummarizeSinceMyLastMessage(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	now := time.Now()
	r.slack.AddMessageAt("C123ABC456", "", "U2147483697", "before: the old plan", now.Add(-5*time.Hour))
	r.slack.AddMessageAt("C123ABC456", "", "U061F7AUR", "bob's last words are below", now.Add(-4*time.Hour))
	r.slack.AddMessageAt("C123ABC456", "", "U2147483697", "my last message", now.Add(-3*time.Hour))
	r.slack.AddMessageAt("C123ABC456", "", "U061F7AUR", "after: the new plan", now.Add(-2*time.Hour))
	mention := r.slack.AddMessage("C123ABC456", "", "U2147483697", "<@"+slacktest.BotUserID+"> summarize since my last message")
	r.deliver(t, "/slack/events", "application/json", slacktest.AppMention("EvSum2", "C123ABC456", "U2147483697", "summarize since my last message", mention, ""), 0)
	r.settle(t)
	reqs := r.fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d model calls", len(reqs))
	}
	if sent := reqs[0].LastUser(); !strings.Contains(sent, "after: the new plan") || strings.Contains(sent, "my last message") || strings.Contains(sent, "old plan") {
		t.Fatalf("sent %q", sent)
	}
}

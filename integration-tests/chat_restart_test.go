package integrationtests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/bots/slack/slacktest"
	"timon.dev/timon/core/provider/fakellm"
)

// TestChatAnswersSurviveKill9: Slack events acknowledged by the hub are
// answered after a SIGKILL and a restart on the same data, each once.
func TestChatAnswersSurviveKill9(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.Handle(func(fakellm.Request) fakellm.Reply {
		return fakellm.Reply{Text: "a considered answer", FirstTokenDelay: 300 * time.Millisecond}
	})
	p := newChatPlatforms(t)
	extra := p.chatSection() + "jobs:\n  workers: 2\n  job_timeout: 3s\n  rescue_after: 4s\n"
	h := p.startHub(t, fake, fmt.Sprintf(hubConfig, fake.URL())+extra)

	const n = 20
	roots := make([]string, n)
	for i := range roots {
		text := fmt.Sprint("ask question number ", i)
		roots[i] = p.slack.AddMessage("C123ABC456", "", p.ada, "<@"+slacktest.BotUserID+"> "+text)
		body := slacktest.AppMention(fmt.Sprint("EvKill", i), "C123ABC456", p.ada, text, roots[i], "")
		resp, err := slacktest.Deliver(http.DefaultClient, h.url+"/slack/events", "application/json", body, slackSecret, 0)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("event %d: status %d", i, resp.StatusCode)
		}
	}
	answered := func() int {
		done := 0
		for _, ts := range roots {
			if r := p.slack.Replies("C123ABC456", ts); len(r) > 0 && strings.Contains(r[0].Text, " req_") {
				done++
			}
		}
		return done
	}
	waitFor(t, 30*time.Second, "the first answers", func() bool { return answered() >= 2 })
	h.cmd.Process.Kill()
	<-h.waited
	before := answered()
	if before >= n {
		t.Fatalf("all %d events were answered before the kill; nothing was tested", n)
	}
	t.Logf("killed with %d of %d events answered", before, n)

	h2 := launchHub(t, fake, h.cfg, h.data)
	deadline := time.Now().Add(60 * time.Second)
	for answered() < n {
		if time.Now().After(deadline) {
			for i, ts := range roots {
				t.Logf("event %d: %+v", i, p.slack.Replies("C123ABC456", ts))
			}
			t.Fatalf("%d of %d events answered after the restart", answered(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// No job left, the killed hub's included (rescued, then done): nothing
	// more can post.
	if err := waitJobsDone(h2); err != nil {
		t.Fatal(err)
	}
	for i, ts := range roots {
		if r := p.slack.Replies("C123ABC456", ts); len(r) != 1 {
			t.Errorf("event %d got %d replies, want 1", i, len(r))
		}
	}
}

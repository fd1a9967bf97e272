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

// BenchmarkChatCatchUp measures, through the real binary, a catch-up
// summary of 2,000 Slack messages ("summarize since yesterday"): the model
// calls it makes (parts, then their merge), the tokens they carry
// (fakellm's count: four bytes a token) and the time from the mention to
// the final private answer, with fakellm answering each part with a short
// summary.
func BenchmarkChatCatchUp(b *testing.B) {
	fake := newFakeB(b)
	fake.Handle(func(fakellm.Request) fakellm.Reply {
		return fakellm.Reply{Text: fakellmSummary}
	})
	p := newChatPlatforms(b)
	p.slack.AddUser("U0BOB", "bob", "bob@lab-univ.fr", "en-US")
	now := time.Now()
	const n = 2000
	for i := range n {
		who := p.ada
		if i%3 != 0 {
			who = "U0BOB"
		}
		p.slack.AddMessageAt("C123ABC456", "", who, fmt.Sprintf("message %d: cryostat run %d went fine, the helium level is at %d%%, next beam time being scheduled with the facility", i, i%17, 40+i%50),
			now.Add(-20*time.Hour+time.Duration(i)*30*time.Second))
	}
	h := p.startHub(b, fake, fmt.Sprintf(benchConfig, fake.URL())+p.chatSection())
	ctx := ctxT(b)
	mention := p.slack.AddMessage("C123ABC456", "", p.ada, "<@"+slacktest.BotUserID+"> summarize since yesterday")
	before := len(modelRequests(fake))
	start := time.Now()
	resp, err := slacktest.Deliver(http.DefaultClient, h.url+"/slack/events", "application/json",
		slacktest.AppMention("EvBenchCatch", "C123ABC456", p.ada, "summarize since yesterday", mention, ""), slackSecret, 0)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("delivery: %v %v", err, resp)
	}
	resp.Body.Close()
	var final slacktest.Message
	if err := p.slack.Wait(ctx, func() bool {
		for _, m := range p.slack.BotMessages() {
			if strings.Contains(m.Text, "journal request") {
				final = m
				return true
			}
		}
		return false
	}); err != nil {
		b.Fatal("no summary")
	}
	elapsed := final.At.Sub(start)
	reqs := modelRequests(fake)[before:]
	prompt, largest := 0, 0
	for _, r := range reqs {
		size := 0
		for _, m := range r.Messages {
			size += len(m.Content)
		}
		prompt += (size + 3) / 4
		largest = max(largest, (size+3)/4)
	}
	completion := len(reqs) * ((len(fakellmSummary) + 3) / 4)
	if !strings.Contains(final.Text, fmt.Sprintf("Summarized 2,000 messages in %d parts", len(reqs)-1)) || !final.Ephemeral {
		b.Fatalf("final reply %+v", final)
	}
	fmt.Printf("chat catch-up of %d Slack messages: %d model calls (%d parts + 1 merge), %d prompt tokens (largest request %d), %d completion tokens, %.0f ms from the mention to the private answer\n",
		n, len(reqs), len(reqs)-1, prompt, largest, completion, ms(elapsed))
	b.ReportMetric(float64(len(reqs)), "model-calls")
	b.ReportMetric(float64(prompt), "prompt-tokens")
	b.ReportMetric(ms(elapsed), "ms")
}

// fakellmSummary is what fakellm answers each request of
// BenchmarkChatCatchUp.
const fakellmSummary = "**Key points**\n- the cryostat runs went fine; ada checked the helium level\n- bob scheduled the beam time\n" +
	"**Decisions**\n- order helium before Friday\n**Open questions**\n- who covers the night shift?"

package integrationtests

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"

	"timon.dev/timon/bots/slack/slacktest"
)

// BenchmarkChatFirstReply measures, through the real binary, the time from
// a chat event reaching the hub to the first visible reply on the platform
// (the placeholder the answer then replaces), for a Slack mention (HTTP
// Events API, signed) and a Mattermost mention (WebSocket), one at a time
// and 8 at a time, with fakellm as the model. Target: p99 < 200 ms.
func BenchmarkChatFirstReply(b *testing.B) {
	fake := newFakeB(b)
	fake.Record(false)
	p := newChatPlatforms(b)
	h := p.startHub(b, fake, fmt.Sprintf(benchConfig, fake.URL())+p.chatSection())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := p.mm.Wait(ctx, func() bool { return p.mm.Connected(p.mm.Bot().Id) }); err != nil {
		b.Fatal("the Mattermost bot did not connect")
	}
	var seq atomic.Int64
	slackOne := func() time.Duration {
		id := seq.Add(1)
		root := p.slack.AddMessage("C123ABC456", "", p.ada, "<@"+slacktest.BotUserID+"> ask hi")
		body := slacktest.AppMention(fmt.Sprintf("EvBench%d", id), "C123ABC456", p.ada, "ask hi", root, "")
		start := time.Now()
		resp, err := slacktest.Deliver(http.DefaultClient, h.url+"/slack/events", "application/json", body, slackSecret, 0)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("delivery: %v %v", err, resp)
		}
		resp.Body.Close()
		var first time.Time
		if err := p.slack.Wait(ctx, func() bool {
			r := p.slack.Replies("C123ABC456", root)
			if len(r) > 0 {
				first = r[0].At
			}
			return len(r) > 0
		}); err != nil {
			b.Fatal("no Slack reply")
		}
		return first.Sub(start)
	}
	mmOne := func() time.Duration {
		start := time.Now()
		post, err := p.mm.Post(p.alan.Id, p.town.Id, "", "@"+p.mm.Bot().Username+" ask hi")
		if err != nil {
			b.Fatal(err)
		}
		var first int64
		if err := p.mm.Wait(ctx, func() bool {
			r := p.mm.Replies(post.Id, p.mm.Bot().Id)
			if len(r) > 0 {
				first = r[0].CreateAt
			}
			return len(r) > 0
		}); err != nil {
			b.Fatal("no Mattermost reply")
		}
		return time.UnixMilli(first).Sub(start.Truncate(time.Millisecond))
	}
	run := func(name string, one func() time.Duration, conc, n int) {
		one() // warm up
		lat := make([]time.Duration, n)
		var mu sync.Mutex
		var wg sync.WaitGroup
		next := 0
		for range conc {
			wg.Go(func() {
				for {
					mu.Lock()
					i := next
					next++
					mu.Unlock()
					if i >= n {
						return
					}
					d := one()
					mu.Lock()
					lat[i] = d
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		p50, p99 := pct(lat, 50), pct(lat, 99)
		fmt.Printf("chat first visible reply, %s, concurrency %d, %d events: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
			name, conc, n, ms(p50), ms(p99), ms(pct(lat, 100)))
		b.ReportMetric(ms(p99), fmt.Sprintf("%s-first-reply-p99-ms/c%d", name, conc))
	}
	run("slack", slackOne, 1, 150)
	run("slack", slackOne, 8, 200)
	run("mattermost", mmOne, 1, 150)
	run("mattermost", mmOne, 8, 200)
}

// BenchmarkChatConcurrentMentions sends 100 mentions at once on each
// platform (Slack ones each delivered twice, as Slack retries), from 100
// different users, and checks that each is answered exactly once; it prints
// how long all took and the first-reply and answer latencies.
func BenchmarkChatConcurrentMentions(b *testing.B) {
	fake := newFakeB(b)
	fake.Record(false)
	p := newChatPlatforms(b)
	const n = 100
	var slackUsers []string
	var mmUsers []*model.User
	for i := range n {
		id := fmt.Sprintf("UB%03d", i)
		p.slack.AddUser(id, fmt.Sprintf("user%03d", i), fmt.Sprintf("user%03d@lab-univ.fr", i), "en-US")
		slackUsers = append(slackUsers, id)
		u := p.mm.AddUser(&model.User{Username: fmt.Sprintf("user%03d", i), Email: fmt.Sprintf("user%03d@example.org", i), Locale: "en"})
		p.mm.AddMember(p.town.Id, u.Id)
		mmUsers = append(mmUsers, u)
	}
	p.slack.AddChannel("C123ABC456", "lab", "public", append(slackUsers, p.ada, slacktest.BotUserID)...)
	h := p.startHub(b, fake, fmt.Sprintf(benchConfig, fake.URL())+p.chatSection())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := p.mm.Wait(ctx, func() bool { return p.mm.Connected(p.mm.Bot().Id) }); err != nil {
		b.Fatal("the Mattermost bot did not connect")
	}
	done := func(text string) bool { return strings.Contains(text, "journal request req_") }

	// Slack.
	roots := make([]string, n)
	for i := range n {
		roots[i] = p.slack.AddMessage("C123ABC456", "", slackUsers[i], fmt.Sprintf("<@%s> ask number %d", slacktest.BotUserID, i))
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		body := slacktest.AppMention(fmt.Sprintf("EvC%d", i), "C123ABC456", slackUsers[i], fmt.Sprintf("ask number %d", i), roots[i], "")
		for retry := range 2 {
			wg.Go(func() {
				resp, err := slacktest.Deliver(http.DefaultClient, h.url+"/slack/events", "application/json", body, slackSecret, retry)
				if err != nil || resp.StatusCode != 200 {
					b.Errorf("delivery: %v %v", err, resp)
					return
				}
				resp.Body.Close()
			})
		}
	}
	wg.Wait()
	if err := p.slack.Wait(ctx, func() bool {
		for i := range n {
			r := p.slack.Replies("C123ABC456", roots[i])
			if len(r) == 0 || !done(r[len(r)-1].Text) {
				return false
			}
		}
		return true
	}); err != nil {
		b.Fatalf("not every Slack mention was answered: %d bot messages", len(p.slack.BotMessages()))
	}
	total := time.Since(start)
	time.Sleep(500 * time.Millisecond) // a duplicate answer would show now
	var first, answered []time.Duration
	for i := range n {
		r := p.slack.Replies("C123ABC456", roots[i])
		if len(r) != 1 || !strings.HasPrefix(r[0].Text, fmt.Sprintf("echo: number %d\n", i)) {
			b.Fatalf("Slack mention %d: %d replies, %+v", i, len(r), r)
		}
		first = append(first, r[0].At.Sub(start))
	}
	for _, c := range p.slack.Calls("chat.update") {
		answered = append(answered, c.At.Sub(start))
	}
	fmt.Printf("chat 100 concurrent Slack mentions (each delivered twice): all answered once in %.0f ms; first reply p50 %.0f ms p99 %.0f ms; last edit at %.0f ms\n",
		ms(total), ms(pct(first, 50)), ms(pct(first, 99)), ms(pct(answered, 100)))
	b.ReportMetric(ms(total), "slack-100-total-ms")

	// Mattermost.
	posts := make([]*model.Post, n)
	start = time.Now()
	for i := range n {
		wg.Go(func() {
			post, err := p.mm.Post(mmUsers[i].Id, p.town.Id, "", fmt.Sprintf("@%s ask number %d", p.mm.Bot().Username, i))
			if err != nil {
				b.Error(err)
				return
			}
			posts[i] = post
		})
	}
	wg.Wait()
	if err := p.mm.Wait(ctx, func() bool {
		for _, post := range posts {
			r := p.mm.Replies(post.Id, p.mm.Bot().Id)
			if len(r) == 0 || !done(r[len(r)-1].Message) {
				return false
			}
		}
		return true
	}); err != nil {
		b.Fatal("not every Mattermost mention was answered")
	}
	total = time.Since(start)
	time.Sleep(500 * time.Millisecond)
	first = first[:0]
	for i, post := range posts {
		r := p.mm.Replies(post.Id, p.mm.Bot().Id)
		if len(r) != 1 || !strings.HasPrefix(r[0].Message, fmt.Sprintf("echo: number %d\n", i)) {
			b.Fatalf("Mattermost mention %d: %d replies", i, len(r))
		}
		first = append(first, time.UnixMilli(r[0].CreateAt).Sub(start))
	}
	fmt.Printf("chat 100 concurrent Mattermost mentions: all answered once in %.0f ms; first reply p50 %.0f ms p99 %.0f ms\n",
		ms(total), ms(pct(first, 50)), ms(pct(first, 99)))
	b.ReportMetric(ms(total), "mattermost-100-total-ms")
	if n := fake.Count(); n != 2*100 {
		b.Fatalf("the model was asked %d times for 200 mentions", n)
	}
}

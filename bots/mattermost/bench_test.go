package mattermost_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
)

// mentionAll posts n mentions at once (from as many goroutines) and
// returns, for each, the time from its post to the bot's first visible
// reply in its thread (the placeholder or the first chunk).
func mentionAll(t testing.TB, r *rig, n int) (posts []*model.Post, firstReply []time.Duration) {
	t.Helper()
	posts = make([]*model.Post, n)
	firstReply = make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			p, err := r.mm.Post(r.alan.Id, townID, "", fmt.Sprintf("@timon ask question %d", i))
			if err != nil {
				t.Error(err)
				return
			}
			posts[i] = p
			r.wait(t, "a first reply", func() bool { return len(r.mm.Replies(p.Id, r.botID)) > 0 })
			firstReply[i] = time.Since(start)
		}()
	}
	wg.Wait()
	return posts, firstReply
}

// answeredOnce waits for every post's answer and checks that each has
// exactly one reply and that the model was asked want times.
func answeredOnce(t testing.TB, r *rig, posts []*model.Post, want int) {
	t.Helper()
	r.wait(t, "every answer", func() bool {
		for _, p := range posts {
			if !answered(r.mm.Replies(p.Id, r.botID)) {
				return false
			}
		}
		return true
	})
	r.settle(t)
	for _, p := range posts {
		if n := len(r.mm.Replies(p.Id, r.botID)); n != 1 {
			t.Errorf("%q: %d replies", p.Message, n)
		}
	}
	if n := r.llm.Count(); n != want {
		t.Fatalf("the model was asked %d times, want %d", n, want)
	}
}

func TestConcurrentMentionsAreEachAnsweredOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	posts, _ := mentionAll(t, r, 40)
	answeredOnce(t, r, posts, 40)
}

// BenchmarkMentionToFirstReply measures, through the fake server's
// WebSocket and REST API, the time from a mention to the bot's first
// visible reply, one mention at a time and 100 at once, on SQLite with
// fakellm.
func BenchmarkMentionToFirstReply(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("concurrent=%d", n), func(b *testing.B) {
			r := newRig(b, rigOptions{})
			var all []time.Duration
			var posts []*model.Post
			b.ResetTimer()
			for range b.N {
				p, d := mentionAll(b, r, n)
				posts = append(posts, p...)
				all = append(all, d...)
			}
			b.StopTimer()
			answeredOnce(b, r, posts, len(posts))
			slices.Sort(all)
			pct := func(p float64) float64 {
				return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

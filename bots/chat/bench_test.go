package chat_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"timon.dev/timon/core/jobs"
	"timon.dev/timon/core/store/storetest"
)

// BenchmarkEnqueueToFirstPost measures, in process, the time from Enqueue
// (what an adapter does before acknowledging an event) to the first post on
// the platform (the placeholder), each event sent once the previous one
// shows its placeholder (its answer may still be running), for several poll
// intervals of the job queue: on SQLite River learns of a new job from the
// inserting process at most once per fetch cooldown, otherwise at its next
// poll.
func BenchmarkEnqueueToFirstPost(b *testing.B) {
	for _, poll := range []time.Duration{time.Second, 200 * time.Millisecond, 50 * time.Millisecond} {
		b.Run(fmt.Sprintf("poll=%v", poll), func(b *testing.B) {
			st := storetest.SQLite(b)
			q := jobs.New(st, jobs.Options{PollInterval: poll})
			r := newRig(b, rigOptions{store: st, jobs: q})
			ctx := context.Background()
			if err := q.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer q.Stop(ctx)
			const n = 100
			lat := make([]time.Duration, 0, n)
			for range n {
				ev := mention("ask hi")
				start := time.Now()
				if _, err := r.router.Enqueue(ctx, ev); err != nil {
					b.Fatal(err)
				}
				for len(r.plat.of(ev.ID)) == 0 {
					time.Sleep(time.Millisecond) // polling for the placeholder; the latency is its own time stamp
				}
				lat = append(lat, r.plat.of(ev.ID)[0].at.Sub(start))
			}
			q.Wait(ctx)
			slices.Sort(lat)
			p50, p99 := lat[n/2], lat[n*99/100]
			fmt.Printf("chat enqueue → first post, poll %v: p50 %.1f ms, p99 %.1f ms\n", poll, float64(p50)/1e6, float64(p99)/1e6)
			b.ReportMetric(float64(p99)/1e6, "p99-ms")
		})
	}
}

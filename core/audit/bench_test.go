package audit

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

// benchStores opens the stores benchmarks run on.
var benchStores = []struct {
	name string
	open func(testing.TB) *store.Store
}{
	{"sqlite", storetest.SQLite},
	{"postgres", storetest.Postgres},
}

// BenchmarkAppend measures acknowledged appends per second with one and
// with 16 concurrent writers (group commit batches the latter). cpu-µs is
// the process's CPU time per append: on a shared machine, it tells the
// journal's cost from the wait for a core.
func BenchmarkAppend(b *testing.B) {
	for _, s := range benchStores {
		for _, writers := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/writers=%d", s.name, writers), func(b *testing.B) {
				st := s.open(b)
				j := openJournal(b, st, Options{SigningKey: testKey()})
				ctx := context.Background()
				var n atomic.Int64
				b.ResetTimer()
				cpu0 := cpuTime()
				start := time.Now()
				if writers == 1 {
					for i := range b.N {
						if err := j.Append(ctx, benchEntry(i), nil); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					procs := runtime.GOMAXPROCS(0)
					b.SetParallelism((writers + procs - 1) / procs)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := j.Append(ctx, benchEntry(int(n.Add(1))), nil); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				el := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/el.Seconds(), "appends/s")
				b.ReportMetric(float64(cpuTime()-cpu0)/1e3/float64(b.N), "cpu-µs/append")
				j.Close()
			})
		}
	}
}

// BenchmarkVerify measures entries verified per second on a journal of
// 200,000 entries with a checkpoint every 1000.
func BenchmarkVerify(b *testing.B) {
	const entries = 200_000
	for _, s := range benchStores {
		b.Run(s.name, func(b *testing.B) {
			st := s.open(b)
			bulkFill(b, st, entries, testKey(), 1000)
			ctx := context.Background()
			pub := testPub()
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now()
			for range b.N {
				r, err := Verify(ctx, st, pub)
				if err != nil || !r.OK || r.Entries != entries {
					b.Fatalf("verify: %v %v", r, err)
				}
			}
			el := time.Since(start)
			b.ReportMetric(float64(entries)*float64(b.N)/el.Seconds(), "entries/s")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(entries)/float64(b.N), "cpu-ns/entry")
		})
	}
}

// benchEntry is a realistic entry: stamped now, by one of 1000 users.
func benchEntry(i int) *Entry {
	e := sample(i)
	e.Time = time.Time{}
	e.UserID = fmt.Sprintf("user%03d", (i*7919)%1000)
	return e
}

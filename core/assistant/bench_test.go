package assistant_test

import (
	"context"
	"strings"
	"testing"

	"timon.dev/timon/core/quota"
)

// BenchmarkEngineDo is one governed chat request with a 4 KB prompt through
// every stage (SQLite store), fakellm answering, 16 requests in flight.
func BenchmarkEngineDo(b *testing.B) {
	r := newRigB(b, rigOptions{limits: quota.Limits{RequestsPerMinute: 1 << 30, TokensPerDay: 1 << 40, Concurrent: 1000}})
	r.fake.Record(false)
	prompt := strings.Repeat("the cluster results show a significant increase ", 90)[:4096]
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.engine.Do(context.Background(), chat("bench", nil, prompt)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

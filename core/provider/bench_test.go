package provider_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/provider/fakellm"
)

// prompt4KB is a 4 KB user prompt.
var prompt4KB = strings.Repeat("Summarise the attached lab notebook page. ", 4096/42+1)[:4096]

// BenchmarkChat measures a non-streamed chat call with a 4 KB prompt
// through Client against fakellm; compare with fakellm's BenchmarkDirectChat.
func BenchmarkChat(b *testing.B) {
	fake := fakellm.New()
	defer fake.Close()
	fake.Record(false)
	c, err := provider.New(provider.Config{Name: "bench", BaseURL: fake.URL(), Models: []string{"fake-model"}})
	if err != nil {
		b.Fatal(err)
	}
	req := userChat(prompt4KB)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(prompt4KB)))
	for b.Loop() {
		if _, err := c.Chat(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChatParallel is BenchmarkChat with 16 concurrent callers per
// CPU.
func BenchmarkChatParallel(b *testing.B) {
	fake := fakellm.New()
	defer fake.Close()
	fake.Record(false)
	c, err := provider.New(provider.Config{Name: "bench", BaseURL: fake.URL(), Models: []string{"fake-model"}})
	if err != nil {
		b.Fatal(err)
	}
	req := userChat(prompt4KB)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Chat(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkChatStream measures a streamed chat call with a 4 KB prompt and
// a 400-byte answer in 4-byte chunks.
func BenchmarkChatStream(b *testing.B) {
	fake := fakellm.New()
	defer fake.Close()
	fake.Record(false)
	answer := strings.Repeat("word ", 80)
	fake.Handle(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{Text: answer} })
	c, err := provider.New(provider.Config{Name: "bench", BaseURL: fake.URL(), Models: []string{"fake-model"}})
	if err != nil {
		b.Fatal(err)
	}
	req := userChat(prompt4KB)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ChatStream(ctx, req, func(string) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkModeration measures a Mistral moderation call of a 4 KB text
// against fakellm answering after 20 ms, as a local classifier might, with
// 1 and 16 concurrent callers; it reports the round trip's p50 and p99,
// whose excess over 20 ms is timon's and fakellm's share.
func BenchmarkModeration(b *testing.B) {
	fake := fakellm.New()
	defer fake.Close()
	fake.Record(false)
	fake.Handle(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{FirstTokenDelay: 20 * time.Millisecond} })
	k, err := provider.NewClassifier(provider.ClassifierConfig{Config: provider.Config{
		Name: "bench", Kind: provider.KindMistral, BaseURL: fake.URL(), Sovereign: true,
	}})
	if err != nil {
		b.Fatal(err)
	}
	req := provider.ModerationRequest{Input: []string{prompt4KB}}
	for _, conc := range []int{1, 16} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			b.ReportAllocs()
			lat := make([]time.Duration, b.N)
			var (
				next atomic.Int64
				wg   sync.WaitGroup
			)
			b.ResetTimer()
			for range conc {
				wg.Go(func() {
					for {
						i := int(next.Add(1) - 1)
						if i >= len(lat) {
							return
						}
						start := time.Now()
						if _, err := k.Moderate(context.Background(), req); err != nil {
							b.Error(err)
							return
						}
						lat[i] = time.Since(start)
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Millisecond) }
			b.ReportMetric(ms(0.50), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
		})
	}
}

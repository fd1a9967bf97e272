package provider_test

import (
	"context"
	"strings"
	"testing"

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

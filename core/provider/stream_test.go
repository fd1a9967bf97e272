package provider_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/provider/fakellm"
)

func TestChatStream(t *testing.T) {
	const text = "Bonjour <PERSON_1>, le résultat est 42 ✓ — voilà."
	for _, kind := range []provider.Kind{provider.KindOpenAI, provider.KindMistral} {
		t.Run(string(kind), func(t *testing.T) {
			fake := startFake(t)
			fake.Enqueue(fakellm.Reply{Text: text, ChunkSize: 3, Usage: &provider.Usage{PromptTokens: 11, CompletionTokens: 17}})
			c := newClient(t, provider.Config{Kind: kind, BaseURL: fake.URL()})
			var deltas []string
			res, err := c.ChatStream(testContext(t), userChat("hi"), collect(&deltas))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(deltas, ""); got != text || res.Text != text {
				t.Errorf("deltas join to %q, Result.Text %q; want %q", got, res.Text, text)
			}
			if len(deltas) < 10 {
				t.Errorf("got %d deltas, want the text in many chunks", len(deltas))
			}
			for _, d := range deltas {
				if !utf8.ValidString(d) {
					t.Errorf("delta %q splits a rune", d)
				}
			}
			if res.Usage != (provider.Usage{PromptTokens: 11, CompletionTokens: 17}) {
				t.Errorf("Usage = %+v", res.Usage)
			}
			if res.FinishReason != "stop" || res.Provider != "test" || res.Model != "fake-model" {
				t.Errorf("Result = %+v", res)
			}
			r := fake.Requests()[0]
			// Mistral sends usage unasked and may refuse unknown fields.
			if !r.Stream || r.IncludeUsage != (kind == provider.KindOpenAI) {
				t.Errorf("stream, include_usage = %v, %v", r.Stream, r.IncludeUsage)
			}
		})
	}
}

// A stream cut mid-way is an error, never a truncated success, and since
// text was emitted it is Partial: failover does not try the next endpoint.
func TestChatStreamCut(t *testing.T) {
	first, second := startFake(t), startFake(t)
	first.Enqueue(fakellm.Reply{Text: strings.Repeat("abcd", 10), ChunkSize: 4, CutAfter: 2})
	cands := []*provider.Client{
		newClient(t, provider.Config{Name: "first", BaseURL: first.URL()}),
		newClient(t, provider.Config{Name: "second", BaseURL: second.URL()}),
	}
	var deltas []string
	res, err := provider.Failover(testContext(t), cands, func(ctx context.Context, c *provider.Client) (*provider.Result, error) {
		return c.ChatStream(ctx, userChat("hi"), collect(&deltas))
	})
	if res != nil {
		t.Errorf("got a result %+v from a cut stream", res)
	}
	e := asError(t, err)
	if !e.Partial || e.Retryable || e.Provider != "first" || !errors.Is(err, provider.ErrStreamCut) ||
		e.Reason != "stream cut before the answer was complete (part of the answer was already sent)" {
		t.Errorf("error = %+v, want Partial, not Retryable, from first", e)
	}
	if got := strings.Join(deltas, ""); got != "abcdabcd" {
		t.Errorf("emitted %q, want the two chunks before the cut", got)
	}
	if first.Count() != 1 || second.Count() != 0 {
		t.Errorf("requests first, second = %d, %d; want 1, 0", first.Count(), second.Count())
	}
}

// Before anything was emitted, a failing stream moves to the next endpoint.
func TestChatStreamFailoverBeforeEmission(t *testing.T) {
	first, second := startFake(t), startFake(t)
	first.Handle(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{Status: 503} })
	cands := []*provider.Client{
		newClient(t, provider.Config{Name: "first", BaseURL: first.URL(), MaxRetries: -1}),
		newClient(t, provider.Config{Name: "second", BaseURL: second.URL()}),
	}
	var deltas []string
	res, err := provider.Failover(testContext(t), cands, func(ctx context.Context, c *provider.Client) (*provider.Result, error) {
		return c.ChatStream(ctx, userChat("hi"), collect(&deltas))
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Provider != "second" || strings.Join(deltas, "") != "echo: hi" {
		t.Errorf("Provider %q, emitted %q", res.Provider, strings.Join(deltas, ""))
	}
}

// A stream that fails before emitting anything is retried on its endpoint.
func TestChatStreamRetriedBeforeEmission(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	fake.Enqueue(fakellm.Reply{Status: 500}, fakellm.Reply{Text: "whole answer"})
	c := newClient(t, provider.Config{BaseURL: fake.URL(), MaxRetries: 1})
	var deltas []string
	res, err := c.ChatStream(testContext(t), userChat("hi"), collect(&deltas))
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "whole answer" || strings.Join(deltas, "") != "whole answer" || fake.Count() != 2 {
		t.Errorf("Text %q, emitted %q, after %d requests", res.Text, strings.Join(deltas, ""), fake.Count())
	}
}

// When emit fails, the upstream request is aborted and emit's error comes
// back unchanged.
func TestChatStreamEmitErrorAbortsUpstream(t *testing.T) {
	fake := startFake(t)
	fake.Enqueue(fakellm.Reply{Text: strings.Repeat("word ", 200), ChunkDelay: 20 * time.Millisecond})
	c := newClient(t, provider.Config{BaseURL: fake.URL()})
	stop := errors.New("client went away")
	ctx := testContext(t)
	_, err := c.ChatStream(ctx, userChat("hi"), func(string) error { return stop })
	if err != stop {
		t.Fatalf("err = %v, want emit's error unchanged", err)
	}
	if err := fake.WaitCancelled(ctx, 1); err != nil {
		t.Fatalf("fake never saw the stream abandoned: %v", err)
	}
	if fake.Count() != 1 {
		t.Errorf("fake got %d requests, want 1", fake.Count())
	}
}

// Timeout bounds silences, not the whole stream: an answer that keeps
// flowing for longer than Timeout completes, a stall fails.
func TestChatStreamIdleTimeout(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	text := strings.Repeat("a", 12*4)
	fake.Enqueue(fakellm.Reply{Text: text, ChunkDelay: 100 * time.Millisecond})
	c := newClient(t, provider.Config{BaseURL: fake.URL(), Timeout: time.Second})
	var deltas []string
	start := time.Now()
	res, err := c.ChatStream(testContext(t), userChat("hi"), collect(&deltas))
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != text || time.Since(start) < time.Second {
		t.Errorf("got %q after %v; want the whole text after more than Timeout", res.Text, time.Since(start))
	}

	fake.Enqueue(fakellm.Reply{Text: "abcdefgh", ChunkSize: 4, ChunkDelay: time.Hour})
	short := newClient(t, provider.Config{BaseURL: fake.URL(), Timeout: 500 * time.Millisecond})
	_, err = short.ChatStream(testContext(t), userChat("hi"), collect(&deltas))
	e := asError(t, err)
	if !e.Timeout || !e.Partial || e.Reason != "timed out after 500ms (part of the answer was already sent)" {
		t.Errorf("error = %+v", e)
	}
}

package provider_test

import (
	"context"
	"errors"
	"testing"

	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/provider/fakellm"
)

func chatCall(req provider.ChatRequest) func(context.Context, *provider.Client) (*provider.Result, error) {
	return func(ctx context.Context, c *provider.Client) (*provider.Result, error) {
		return c.Chat(ctx, req)
	}
}

func TestFailoverWhenFirstIsDown(t *testing.T) {
	second := startFake(t)
	cands := []*provider.Client{
		newClient(t, provider.Config{Name: "down", BaseURL: closedURL(t), MaxRetries: -1}),
		newClient(t, provider.Config{Name: "up", BaseURL: second.URL()}),
	}
	res, err := provider.Failover(testContext(t), cands, chatCall(userChat("hi")))
	if err != nil {
		t.Fatal(err)
	}
	if res.Provider != "up" || res.Text != "echo: hi" {
		t.Errorf("Result = %+v", res)
	}
}

func TestFailoverWhenFirstKeepsFailing(t *testing.T) {
	t.Parallel()
	first, second := startFake(t), startFake(t)
	first.Handle(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{Status: 500} })
	cands := []*provider.Client{
		newClient(t, provider.Config{Name: "first", BaseURL: first.URL(), MaxRetries: 1}),
		newClient(t, provider.Config{Name: "second", BaseURL: second.URL()}),
	}
	res, err := provider.Failover(testContext(t), cands, chatCall(userChat("hi")))
	if err != nil {
		t.Fatal(err)
	}
	if res.Provider != "second" {
		t.Errorf("Provider = %q", res.Provider)
	}
	if first.Count() != 2 || second.Count() != 1 {
		t.Errorf("requests first, second = %d, %d; want 2 (with its retry), 1", first.Count(), second.Count())
	}
}

func TestNoFailoverOnClientError(t *testing.T) {
	first, second := startFake(t), startFake(t)
	first.Enqueue(fakellm.Reply{Status: 400})
	cands := []*provider.Client{
		newClient(t, provider.Config{Name: "first", BaseURL: first.URL()}),
		newClient(t, provider.Config{Name: "second", BaseURL: second.URL()}),
	}
	_, err := provider.Failover(testContext(t), cands, chatCall(userChat("hi")))
	e := asError(t, err)
	if e.StatusCode != 400 || e.Provider != "first" {
		t.Errorf("error = %+v", e)
	}
	if second.Count() != 0 {
		t.Errorf("second got %d requests after a 400", second.Count())
	}
}

func TestFailoverReturnsLastError(t *testing.T) {
	cands := []*provider.Client{
		newClient(t, provider.Config{Name: "a", BaseURL: closedURL(t), MaxRetries: -1}),
		newClient(t, provider.Config{Name: "b", BaseURL: closedURL(t), MaxRetries: -1}),
	}
	_, err := provider.Failover(testContext(t), cands, chatCall(userChat("hi")))
	if e := asError(t, err); e.Provider != "b" || e.Reason != "connection refused" {
		t.Errorf("error = %+v", e)
	}

	_, err = provider.Failover(testContext(t), nil, chatCall(userChat("hi")))
	asError(t, err)
}

func TestFailoverStopsWhenCallerCancels(t *testing.T) {
	first, second := startFake(t), startFake(t)
	first.Enqueue(fakellm.Reply{Hang: true})
	cands := []*provider.Client{
		newClient(t, provider.Config{Name: "first", BaseURL: first.URL()}),
		newClient(t, provider.Config{Name: "second", BaseURL: second.URL()}),
	}
	ctx, cancel := context.WithCancel(testContext(t))
	go func() {
		if first.WaitCount(ctx, 1) == nil {
			cancel()
		}
	}()
	_, err := provider.Failover(ctx, cands, chatCall(userChat("hi")))
	e := asError(t, err)
	if e.Retryable || !errors.Is(err, context.Canceled) || e.Provider != "first" {
		t.Errorf("error = %+v", e)
	}
	if second.Count() != 0 {
		t.Errorf("second got %d requests after the caller cancelled", second.Count())
	}
}

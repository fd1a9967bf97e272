package provider_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/provider/fakellm"
)

func TestRetryHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	fake.Enqueue(fakellm.Reply{Status: 429, RetryAfter: time.Second})
	c := newClient(t, provider.Config{BaseURL: fake.URL()})
	start := time.Now()
	res, err := c.Chat(testContext(t), userChat("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Errorf("answered after %v, before the 1s Retry-After", elapsed)
	}
	if res.Text != "echo: hi" || fake.Count() != 2 {
		t.Errorf("Text %q after %d requests; want the echo after 2", res.Text, fake.Count())
	}
}

func TestRetry500ThenSuccess(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	fake.Enqueue(fakellm.Reply{Status: 500}, fakellm.Reply{Status: 502})
	c := newClient(t, provider.Config{BaseURL: fake.URL()})
	res, err := c.Chat(testContext(t), userChat("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "echo: hi" || fake.Count() != 3 {
		t.Errorf("Text %q after %d requests; want the echo after 3", res.Text, fake.Count())
	}
}

func TestRetriesExhausted(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	fake.Handle(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{Status: 500} })
	c := newClient(t, provider.Config{Name: "vllm", BaseURL: fake.URL(), MaxRetries: 1})
	_, err := c.Chat(testContext(t), userChat("hi"))
	e := asError(t, err)
	if e.StatusCode != 500 || !e.Retryable || e.Reason != "HTTP 500 from upstream" || e.Error() != "provider vllm: HTTP 500 from upstream" {
		t.Errorf("error = %+v", e)
	}
	if fake.Count() != 2 {
		t.Errorf("fake got %d requests, want 2 (1 + 1 retry)", fake.Count())
	}
}

func TestNoRetryOnClientErrors(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 422} {
		fake := startFake(t)
		fake.Enqueue(fakellm.Reply{Status: status})
		c := newClient(t, provider.Config{BaseURL: fake.URL()})
		_, err := c.Chat(testContext(t), userChat("hi"))
		e := asError(t, err)
		// Never again on this endpoint; a 404 (a model this endpoint does
		// not serve) lets failover try the next one.
		if e.StatusCode != status || e.Retryable != (status == 404) || fake.Count() != 1 {
			t.Errorf("status %d: error %+v after %d requests", status, e, fake.Count())
		}
	}
}

// A Retry-After beyond the caller's deadline fails at once, Retryable, so
// that failover can use the time left elsewhere.
func TestRetryAfterBeyondDeadlineFailsFast(t *testing.T) {
	fake := startFake(t)
	fake.Enqueue(fakellm.Reply{Status: 429, RetryAfter: 20 * time.Second})
	c := newClient(t, provider.Config{BaseURL: fake.URL()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Chat(ctx, userChat("hi"))
	e := asError(t, err)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("failed after %v, want at once", elapsed)
	}
	if e.StatusCode != 429 || !e.Retryable || e.RetryAfter != 20*time.Second || e.Reason != "rate limited (429), retry after 20s" {
		t.Errorf("error = %+v", e)
	}
	if fake.Count() != 1 {
		t.Errorf("fake got %d requests, want 1", fake.Count())
	}
}

// A Retry-After beyond the 30s cap is not waited for.
func TestRetryAfterBeyondCap(t *testing.T) {
	fake := startFake(t)
	fake.Enqueue(fakellm.Reply{Status: 503, RetryAfter: time.Hour})
	c := newClient(t, provider.Config{BaseURL: fake.URL()})
	_, err := c.Chat(testContext(t), userChat("hi"))
	e := asError(t, err)
	if !e.Retryable || fake.Count() != 1 || !strings.Contains(e.Reason, "retry after 3600s") {
		t.Errorf("error %+v after %d requests", e, fake.Count())
	}
}

func TestTimeoutPerAttempt(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	fake.Enqueue(fakellm.Reply{FirstTokenDelay: time.Hour})
	c := newClient(t, provider.Config{BaseURL: fake.URL(), Timeout: 500 * time.Millisecond})
	_, err := c.Chat(testContext(t), userChat("hi"))
	e := asError(t, err)
	if !e.Timeout || !e.Retryable || e.Reason != "timed out after 500ms" || e.StatusCode != 0 {
		t.Errorf("error = %+v", e)
	}
	if fake.Count() != 1 {
		t.Errorf("fake got %d requests; a timeout is left to failover, not retried", fake.Count())
	}
	if err := fake.WaitCancelled(testContext(t), 1); err != nil {
		t.Errorf("the timed-out request was not aborted: %v", err)
	}
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	t.Parallel()
	c := newClient(t, provider.Config{BaseURL: closedURL(t), MaxRetries: 1})
	start := time.Now()
	_, err := c.Chat(testContext(t), userChat("hi"))
	e := asError(t, err)
	if e.Reason != "connection refused" || !e.Retryable || e.StatusCode != 0 {
		t.Errorf("error = %+v", e)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Errorf("failed after %v: no backoff before the retry", time.Since(start))
	}
}

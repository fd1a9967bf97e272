package provider_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/provider/fakellm"
)

// promptly is how soon the fake must see a cancelled request go away. The
// real figure is a few milliseconds; this leaves room for a loaded machine
// while staying far below any timeout that could be mistaken for it.
const promptly = time.Second

// When the caller's context ends, the upstream request is aborted at once,
// for plain and streamed calls alike.
func TestCancelAbortsUpstream(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := map[bool]string{false: "chat", true: "stream"}[stream]
		t.Run(name, func(t *testing.T) {
			fake := startFake(t)
			fake.Enqueue(fakellm.Reply{Hang: true})
			c := newClient(t, provider.Config{BaseURL: fake.URL(), Timeout: time.Hour})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				var err error
				if stream {
					_, err = c.ChatStream(ctx, userChat("hi"), func(string) error { return nil })
				} else {
					_, err = c.Chat(ctx, userChat("hi"))
				}
				errc <- err
			}()
			if err := fake.WaitCount(testContext(t), 1); err != nil {
				t.Fatal(err)
			}
			cancelled := time.Now()
			cancel()
			wctx, wcancel := context.WithTimeout(context.Background(), promptly)
			defer wcancel()
			if err := fake.WaitCancelled(wctx, 1); err != nil {
				t.Fatalf("fake did not see the request abandoned within %v", promptly)
			}
			t.Logf("upstream saw the cancellation after %v", time.Since(cancelled))
			err := <-errc
			e := asError(t, err)
			if e.Retryable || e.Timeout || !errors.Is(err, context.Canceled) || e.Reason != "cancelled by the caller" {
				t.Errorf("error = %+v", e)
			}
		})
	}
}

// While waiting to retry, the caller's cancellation is obeyed at once.
func TestCancelDuringRetryWait(t *testing.T) {
	fake := startFake(t)
	fake.Enqueue(fakellm.Reply{Status: 429, RetryAfter: 25 * time.Second})
	c := newClient(t, provider.Config{BaseURL: fake.URL()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if fake.WaitCount(ctx, 1) == nil {
			cancel()
		}
	}()
	start := time.Now()
	_, err := c.Chat(ctx, userChat("hi"))
	if e := asError(t, err); !errors.Is(err, context.Canceled) || e.Retryable {
		t.Errorf("error = %+v", e)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("returned after %v, want soon after the cancellation", elapsed)
	}
}

func TestCallerDeadline(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	fake.Enqueue(fakellm.Reply{Hang: true})
	c := newClient(t, provider.Config{BaseURL: fake.URL(), Timeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Chat(ctx, userChat("hi"))
	e := asError(t, err)
	if !e.Timeout || e.Retryable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %+v", e)
	}
}

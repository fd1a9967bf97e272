package complete

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/lsp/lsptest"
)

// A client that repeats a completion request and cancels the first one
// (nvim-cmp, company-mode) must not make the model answer twice: the
// second request joins the one in flight, which survives the cancel.
func TestRepeatedRequestJoinsTheOneInFlight(t *testing.T) {
	fake := fakellm.New()
	t.Cleanup(fake.Close)
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open) // before fake.Close: the handler must not block it
	fake.Handle(func(fakellm.Request) fakellm.Reply { <-release; return fakellm.Reply{} })
	local := lsptest.Engine(t, fake.URL(), lsptest.EngineOptions{})
	c := New(Options{
		Assistant: local.Engine, Principal: core.Principal{UserID: "alice", Integration: core.IntegrationLSP},
		Debounce: 10 * time.Millisecond, MaxDebounce: 20 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const addGo = "package m\n\nfunc add(a, b int) int {"
	r := Request{URI: "u", Language: "go", Text: addGo + "\n}\n", Offset: len(addGo), Version: 1, Invoked: true}

	first, cancelFirst := context.WithCancel(ctx)
	errFirst := make(chan error, 1)
	go func() { _, err := c.Complete(first, r); errFirst <- err }()
	if err := fake.WaitCount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		res Result
		err error
	}
	second := make(chan answer, 1)
	go func() { res, err := c.Complete(ctx, r); second <- answer{res, err} }()
	// Wait until the second request has joined.
	for {
		c.mu.Lock()
		n := 0
		if f := c.inflight["u"]; f != nil {
			n = f.waiters
		}
		c.mu.Unlock()
		if n == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the second request did not join (%d waiters)", n)
		}
		time.Sleep(time.Millisecond)
	}
	cancelFirst()
	if err := <-errFirst; !errors.Is(err, context.Canceled) {
		t.Fatalf("the canceled request: %v", err)
	}
	open()
	a := <-second
	if a.err != nil || a.res.Text != "\n\treturn a + b" {
		t.Fatalf("the second request got %+v, %v", a.res, a.err)
	}
	if fake.Count() != 1 || fake.Cancelled() != 0 {
		t.Fatalf("%d model requests, %d aborted; want 1 and 0", fake.Count(), fake.Cancelled())
	}
}

package complete_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/lsp/complete"
	"timon.dev/timon/lsp/lsptest"
)

func newCompleter(t *testing.T, debounce time.Duration) (*complete.Completer, *fakellm.Server, *lsptest.Local) {
	t.Helper()
	fake := fakellm.New()
	t.Cleanup(fake.Close)
	local := lsptest.Engine(t, fake.URL(), lsptest.EngineOptions{})
	c := complete.New(complete.Options{
		Assistant: local.Engine,
		Principal: core.Principal{UserID: "alice", Integration: core.IntegrationLSP},
		Debounce:  debounce, MaxDebounce: 2 * debounce,
	})
	return c, fake, local
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

const addGo = "package m\n\nfunc add(a, b int) int {"

func TestCompletionSendsWindowAndOriginAndCleansTheAnswer(t *testing.T) {
	c, fake, local := newCompleter(t, 10*time.Millisecond)
	text := addGo + "\n}\n"
	res, err := c.Complete(ctxT(t), complete.Request{URI: "u", Path: "m/add.go", Language: "go", Text: text, Offset: len(addGo), Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	// fakellm answers "\n\treturn a + b\n}" after this prompt; the brace is
	// already after the cursor.
	if res.Text != "\n\treturn a + b" || res.Cached {
		t.Fatalf("got %+v", res)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 || reqs[0].Prompt != addGo || reqs[0].Suffix != "\n}\n" || reqs[0].Path != "/v1/fim/completions" {
		t.Fatalf("sent %+v", reqs)
	}
	es := local.Journal(t)
	if len(es) != 1 || es[0].Task != "complete" || es[0].Integration != "lsp" || es[0].UserID != "alice" {
		t.Fatalf("journal %+v", es)
	}
}

func TestTypingTheSuggestionReusesIt(t *testing.T) {
	c, fake, _ := newCompleter(t, 10*time.Millisecond)
	ctx := ctxT(t)
	text := addGo + "\n}\n"
	off := len(addGo)
	if _, err := c.Complete(ctx, complete.Request{URI: "u", Language: "go", Text: text, Offset: off, Invoked: true, Version: 1}); err != nil {
		t.Fatal(err)
	}
	typed := "\n\tret"
	c.Keystroke("u", 2)
	text2 := text[:off] + typed + text[off:]
	res, err := c.Complete(ctx, complete.Request{URI: "u", Language: "go", Text: text2, Offset: off + len(typed), Version: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "urn a + b" || !res.Cached {
		t.Fatalf("got %+v", res)
	}
	// Typing something else asks the model again.
	c.Keystroke("u", 3)
	text3 := text[:off] + "\n\tpanic(" + text[off:]
	if _, err := c.Complete(ctx, complete.Request{URI: "u", Language: "go", Text: text3, Offset: off + 8, Version: 3}); err != nil {
		t.Fatal(err)
	}
	if fake.Count() != 2 {
		t.Fatalf("model asked %d times, want 2", fake.Count())
	}
}

func TestKeystrokeBurstReachesTheModelOnce(t *testing.T) {
	t.Parallel()
	c, fake, _ := newCompleter(t, 150*time.Millisecond)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	results := make([]error, 20)
	text := addGo
	for i := range 20 {
		text += "x"
		c.Keystroke("u", int32(i+1))
		wg.Add(1)
		go func(i int, text string) {
			defer wg.Done()
			_, results[i] = c.Complete(ctx, complete.Request{URI: "u", Language: "go", Text: text, Offset: len(text), Version: int32(i + 1)})
		}(i, text)
		time.Sleep(50 * time.Millisecond) // the typing speed under test, under the 150 ms debounce
	}
	wg.Wait()
	if n := fake.Count(); n != 1 {
		t.Fatalf("a burst of 20 keystrokes made %d model requests, want 1", n)
	}
	for i, err := range results[:19] {
		if !errors.Is(err, complete.ErrSuperseded) {
			t.Fatalf("request %d: %v, want superseded", i, err)
		}
	}
	if results[19] != nil {
		t.Fatal(results[19])
	}
}

func TestKeystrokeAbortsTheUpstreamRequest(t *testing.T) {
	c, fake, _ := newCompleter(t, 10*time.Millisecond)
	ctx := ctxT(t)
	fake.Enqueue(fakellm.Reply{Hang: true})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Complete(ctx, complete.Request{URI: "u", Language: "go", Text: addGo, Offset: len(addGo), Invoked: true, Version: 1})
		errc <- err
	}()
	if err := fake.WaitCount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	c.Keystroke("u", 2)
	if err := <-errc; !errors.Is(err, complete.ErrSuperseded) {
		t.Fatalf("got %v", err)
	}
	if err := fake.WaitCancelled(ctx, 1); err != nil {
		t.Fatal("the upstream request was not aborted:", err)
	}
	// A request for an older version than a keystroke seen is not sent.
	if _, err := c.Complete(ctx, complete.Request{URI: "u", Language: "go", Text: addGo, Offset: len(addGo), Invoked: true, Version: 1}); !errors.Is(err, complete.ErrSuperseded) {
		t.Fatalf("stale request: %v", err)
	}
	if fake.Count() != 1 {
		t.Fatalf("count %d", fake.Count())
	}
}

func TestNoAutomaticCompletionInCommentsStringsOrProse(t *testing.T) {
	c, fake, _ := newCompleter(t, 10*time.Millisecond)
	ctx := ctxT(t)
	for _, r := range []complete.Request{
		{URI: "a", Language: "go", Text: "x := 1 // explain ", Offset: 18},
		{URI: "b", Language: "python", Text: "s = 'abc ", Offset: 9},
		{URI: "c", Language: "latex", Text: "The results show ", Offset: 17},
	} {
		res, err := c.Complete(ctx, r)
		if err != nil || res.Text != "" || res.Reason == "" {
			t.Fatalf("%s: %+v %v", r.Language, res, err)
		}
	}
	if fake.Count() != 0 {
		t.Fatalf("the model was asked %d times", fake.Count())
	}
	// Explicitly invoked: completed.
	fake.Enqueue(fakellm.Reply{Text: "what the loop does"})
	res, err := c.Complete(ctx, complete.Request{URI: "a", Language: "go", Text: "x := 1 // explain ", Offset: 18, Invoked: true})
	if err != nil || res.Text != "what the loop does" {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestModelErrorsAreCoreErrors(t *testing.T) {
	c, fake, _ := newCompleter(t, 10*time.Millisecond)
	fake.Enqueue(fakellm.Reply{Status: 503})
	_, err := c.Complete(ctxT(t), complete.Request{URI: "u", Language: "go", Text: addGo, Offset: len(addGo), Invoked: true})
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Kind != core.KindUnavailable || strings.TrimSpace(ce.Message) == "" {
		t.Fatalf("got %v", err)
	}
}

// An explicit invocation away from any typing asks the model without the
// debounce (here far longer than the test's deadline); an Invoked one
// that is not explicit waits like typing.
func TestExplicitInvocationSkipsTheDebounce(t *testing.T) {
	t.Parallel()
	c, fake, _ := newCompleter(t, time.Hour)
	ctx := ctxT(t)
	res, err := c.Complete(ctx, complete.Request{URI: "u", Language: "go", Text: addGo, Offset: len(addGo), Invoked: true, Explicit: true, Version: 1})
	if err != nil || res.Text == "" || fake.Count() != 1 {
		t.Fatalf("got %+v, %v after %d model requests", res, err, fake.Count())
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = c.Complete(short, complete.Request{URI: "v", Language: "go", Text: addGo, Offset: len(addGo), Invoked: true, Version: 1})
	if !errors.Is(err, context.DeadlineExceeded) || fake.Count() != 1 {
		t.Fatalf("an Invoked request did not wait: %v, %d model requests", err, fake.Count())
	}
}

// Package complete is timon lsp's code completion: the fill-in-the-middle
// window around the cursor (prefix and suffix budgeted in tokens, about
// 70/30), the decision not to complete inside comments and strings unless
// asked, an adaptive debounce, per-document cancellation of the request in
// flight when a key is pressed, a small cache so that typing the suggested
// text reuses it, and the post-processing of the model's answer.
package complete

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"timon.dev/timon/core"
)

// ErrSuperseded is returned when a newer keystroke or completion request
// for the same document made the request pointless.
var ErrSuperseded = errors.New("superseded by a newer keystroke")

// Options configure a Completer.
type Options struct {
	Assistant core.Assistant
	Principal core.Principal
	// PrefixTokens and SuffixTokens budget the window; zero means 1400
	// and 600.
	PrefixTokens, SuffixTokens int
	// MaxTokens bounds the answer; zero leaves it to the assistant.
	MaxTokens int
	// Debounce and MaxDebounce bound the adaptive wait before a
	// completion asks the model; zero means 150ms and 300ms.
	Debounce, MaxDebounce time.Duration
	// ProseAuto completes prose files as you type; otherwise only on an
	// explicit invocation.
	ProseAuto bool
	Logger    *slog.Logger
}

// Request is one completion to compute.
type Request struct {
	URI      string // the document's key
	Path     string // the file path sent as origin (relative to the workspace)
	Language string
	Text     string // the whole document
	Offset   int    // the cursor, a byte offset in Text
	// Version is the document's version Text is; a keystroke recorded for
	// a later version supersedes the request.
	Version int32
	// Invoked is a request the user may have asked for (a key, a menu):
	// comments, strings and prose are completed too. It is still
	// debounced: nvim-cmp and company-mode send textDocument/completion
	// with triggerKind Invoked on every keystroke.
	Invoked bool
	// Explicit is an invocation the client tells apart from typing
	// (inline completion with triggerKind Invoked): it waits only for
	// what is left of the debounce since the last keystroke, so
	// that a burst of them still asks the model once.
	Explicit bool
}

// Result is a completion.
type Result struct {
	// Text is inserted at the cursor; "" means nothing to offer.
	Text string
	// Cached reports that no model was asked.
	Cached bool
	// Reason says why nothing is offered ("comment or string", "prose"),
	// for logs.
	Reason string
	// Notices are the assistant's notices for the user (a moderation
	// warning); a suggestion from the cache has none.
	Notices []string
}

// Completer computes completions. It is safe for concurrent use.
type Completer struct {
	o     Options
	cache *cache

	mu       sync.Mutex
	inflight map[string]*flight // by document
	typing   map[string]*typing
}

// flight is one completion being computed, shared by the identical
// requests waiting for it.
type flight struct {
	uri     string
	key     flightKey
	cancel  context.CancelCauseFunc
	waiters int // guarded by Completer.mu
	done    chan struct{}
	res     Result // set before done is closed
	err     error
}

type flightKey struct {
	version           int32
	offset            int
	invoked, explicit bool
}

type typing struct {
	version  int32 // the latest version seen
	last     time.Time
	interval time.Duration // moving average between keystrokes
}

// New returns a Completer.
func New(o Options) *Completer {
	if o.PrefixTokens == 0 {
		o.PrefixTokens = 1400
	}
	if o.SuffixTokens == 0 {
		o.SuffixTokens = 600
	}
	if o.Debounce == 0 {
		o.Debounce = 150 * time.Millisecond
	}
	if o.MaxDebounce < o.Debounce {
		o.MaxDebounce = max(300*time.Millisecond, o.Debounce)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Completer{o: o, cache: newCache(), inflight: map[string]*flight{}, typing: map[string]*typing{}}
}

// Keystroke records a change to the document uri, now at version: the
// completion in flight for it is canceled (its upstream request aborted)
// and the typing speed updated for the debounce.
func (c *Completer) Keystroke(uri string, version int32) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.inflight[uri]; f != nil {
		f.cancel(ErrSuperseded)
		delete(c.inflight, uri)
	}
	t := c.typing[uri]
	if t == nil {
		c.typing[uri] = &typing{last: now, version: version}
		return
	}
	t.version = max(t.version, version)
	gap := now.Sub(t.last)
	t.last = now
	switch {
	case gap > 2*time.Second: // a new burst
		t.interval = 0
	case t.interval == 0:
		t.interval = gap
	default:
		t.interval = (t.interval*2 + gap) / 3
	}
}

// Forget drops what is kept about the document uri (it was closed).
func (c *Completer) Forget(uri string) {
	c.mu.Lock()
	if f := c.inflight[uri]; f != nil {
		f.cancel(ErrSuperseded)
		delete(c.inflight, uri)
	}
	delete(c.typing, uri)
	c.mu.Unlock()
	c.cache.forget(uri)
}

// debounce is the wait before an automatic completion of uri: long while
// keys come fast, short after a pause.
func (c *Completer) debounce(uri string) time.Duration {
	c.mu.Lock()
	t := c.typing[uri]
	c.mu.Unlock()
	lo, hi := c.o.Debounce, c.o.MaxDebounce
	if t == nil || t.interval == 0 || time.Since(t.last) > 2*time.Second {
		return lo
	}
	// 100ms between keys or less: the longest wait; 400ms or more: the
	// shortest.
	const fast, slow = 100 * time.Millisecond, 400 * time.Millisecond
	f := float64(slow-t.interval) / float64(slow-fast)
	f = max(0, min(1, f))
	return lo + time.Duration(f*float64(hi-lo))
}

// wait is how long the request r waits for more keystrokes before the
// model is asked.
func (c *Completer) wait(r Request) time.Duration {
	d := c.debounce(r.URI)
	if !r.Explicit {
		return d
	}
	c.mu.Lock()
	var last time.Time
	if t := c.typing[r.URI]; t != nil {
		last = t.last
	}
	c.mu.Unlock()
	return d - time.Since(last)
}

// Complete computes the completion at r.Offset. It returns ErrSuperseded
// when a keystroke or a newer request for the same document came first,
// the context's error when ctx ends, and the assistant's *core.Error when
// the model cannot answer.
func (c *Completer) Complete(ctx context.Context, r Request) (Result, error) {
	r.Offset = max(0, min(r.Offset, len(r.Text)))
	before, after := r.Text[:r.Offset], r.Text[r.Offset:]
	if !r.Invoked {
		if IsProse(r.Language) && !c.o.ProseAuto {
			return Result{Reason: "prose"}, nil
		}
		if InCommentOrString(before, r.Language) {
			return Result{Reason: "comment or string"}, nil
		}
	}
	if text, ok := c.cache.lookup(r.URI, before, after); ok {
		return Result{Text: text, Cached: true}, nil
	}

	key := flightKey{version: r.Version, offset: r.Offset, invoked: r.Invoked, explicit: r.Explicit}
	c.mu.Lock()
	if t := c.typing[r.URI]; t != nil && t.version > r.Version {
		c.mu.Unlock()
		return Result{}, ErrSuperseded
	}
	f := c.inflight[r.URI]
	if f == nil || f.key != key {
		// A request elsewhere or for another version supersedes the one
		// in flight; the same request again (a client repeating it, then
		// canceling the first) joins it instead of asking the model twice.
		if f != nil {
			f.cancel(ErrSuperseded)
		}
		// The flight outlives the request that started it: it ends when
		// its last waiter leaves, a keystroke supersedes it, or it is done.
		fctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
		f = &flight{uri: r.URI, key: key, cancel: cancel, done: make(chan struct{})}
		c.inflight[r.URI] = f
		go c.fly(fctx, f, r)
	}
	f.waiters++
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.res, f.err
	case <-ctx.Done():
		c.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			// Nobody wants it any more: abort it, and let the next
			// request start afresh rather than join a canceled flight.
			f.cancel(context.Cause(ctx))
			if c.inflight[f.uri] == f {
				delete(c.inflight, f.uri)
			}
		}
		c.mu.Unlock()
		return Result{}, ctx.Err()
	}
}

// fly computes the flight f for r, after the debounce.
func (c *Completer) fly(ctx context.Context, f *flight, r Request) {
	f.res, f.err = c.ask(ctx, r)
	f.cancel(nil)
	c.mu.Lock()
	if c.inflight[f.uri] == f {
		delete(c.inflight, f.uri)
	}
	c.mu.Unlock()
	close(f.done)
}

func (c *Completer) ask(ctx context.Context, r Request) (Result, error) {
	before, after := r.Text[:r.Offset], r.Text[r.Offset:]
	// Every request waits: the keystroke that follows within the wait
	// supersedes it, so a burst reaches the model once.
	if wait := c.wait(r); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return Result{}, cause(ctx)
		case <-t.C:
		}
	}

	prefix, suffix := Window(r.Text, r.Offset, c.o.PrefixTokens, c.o.SuffixTokens)
	req := &core.Request{
		Principal: c.o.Principal,
		Task:      core.TaskComplete,
		Prefix:    prefix,
		Suffix:    suffix,
		Origin:    core.Origin{Path: r.Path, Language: r.Language},
		MaxTokens: c.o.MaxTokens,
	}
	if strings.TrimSpace(prefix) == "" && strings.TrimSpace(suffix) == "" {
		return Result{Reason: "empty document"}, nil
	}
	resp, err := c.o.Assistant.Do(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, cause(ctx)
		}
		return Result{}, err
	}
	text := Clean(resp.Text, around(r.Text, r.Offset, r.Language))
	if text != "" {
		c.cache.store(r.URI, before, after, text)
	}
	return Result{Text: text, Notices: resp.Notices}, nil
}

// cause is ErrSuperseded for a keystroke, the context's error otherwise.
func cause(ctx context.Context) error {
	if err := context.Cause(ctx); errors.Is(err, ErrSuperseded) {
		return ErrSuperseded
	}
	return ctx.Err()
}

// cache keeps the last suggestions of each document so that typing the
// suggested text shows the rest without asking the model again.
type cache struct {
	mu   sync.Mutex
	docs map[string][]entry
}

type entry struct {
	before, after, text string
}

const perDoc = 4

func newCache() *cache { return &cache{docs: map[string][]entry{}} }

func (c *cache) store(uri, before, after, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	es := append([]entry{{before, after, text}}, c.docs[uri]...)
	if len(es) > perDoc {
		es = es[:perDoc]
	}
	c.docs[uri] = es
}

// lookup finds a suggestion made at a point the user has since typed
// towards: the text before the cursor is the old one plus a beginning of
// the suggestion, and the text after it is unchanged.
func (c *cache) lookup(uri, before, after string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.docs[uri] {
		if after != e.after || len(before) < len(e.before) || before[:len(e.before)] != e.before {
			continue
		}
		typed := before[len(e.before):]
		if !strings.HasPrefix(e.text, typed) {
			continue
		}
		rest := e.text[len(typed):]
		if len(strings.TrimSpace(rest)) < MinLength {
			continue
		}
		return rest, true
	}
	return "", false
}

func (c *cache) forget(uri string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.docs, uri)
}

package provider

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"timon.dev/timon/core/retryafter"
)

// Retry timing: Retry-After-Ms, then Retry-After in seconds or as an HTTP
// date (as openai-go reads them), else exponential backoff with jitter.
const (
	// maxRetryWait caps a server-directed wait: beyond it the call fails at
	// once (Retryable) so that failover moves to the next endpoint.
	maxRetryWait = 30 * time.Second
	// backoffBase and backoffMax shape the wait when the server names none:
	// 0.5s, 1s, 2s... up to 8s, minus up to 25% jitter.
	backoffBase = 500 * time.Millisecond
	backoffMax  = 8 * time.Second
)

// callKind says what a call sends.
type callKind uint8

const (
	callChat     callKind = iota + 1 // chat completion, or Mistral FIM: same answer
	callLegacy                       // OpenAI legacy completion (FIM)
	callStream                       // streamed chat completion
	callPing                         // model list, once
	callEmbed                        // embeddings
	callModerate                     // moderation API (Mistral or OpenAI wire)
	callGuard                        // guard model over the chat wire
)

// call is one call to the endpoint, over all its attempts.
type call struct {
	kind callKind
	url  string
	body []byte
	// model is the model requested, reported when the server names none.
	model string
	// emit receives a stream's text; emitted reports that it was given
	// some, after which a failure is Partial and ends the call.
	emit    func(delta string) error
	emitted bool
	// wd bounds the current attempt.
	wd *watchdog
	// listed is what a ping's model list named.
	listed []string
	// inputs is the number of texts of an embeddings call, embedding its
	// answer.
	inputs    int
	embedding *Embedding
	// mod describes a moderation call; moderation is its answer.
	mod        *modCall
	moderation *Moderation
}

// emitError carries the error returned by a stream's emit function, which
// the call returns unchanged.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }
func (e *emitError) Unwrap() error { return e.err }

// run performs cl with a timeout per attempt and retries it on this
// endpoint while the failure is worth it, the retry budget lasts and the
// caller's deadline leaves room for the wait.
func (c *Client) run(ctx context.Context, cl *call) (res *Result, err error) {
	if op := cl.kind.operation(); op != "" {
		start := time.Now()
		defer func() { c.observe(op, start, err) }()
	}
	retries := c.cfg.MaxRetries
	if cl.kind == callPing {
		retries = 0
	}
	for attempt := 0; ; attempt++ {
		res, err = c.attempt(ctx, cl)
		if err == nil {
			return res, nil
		}
		var ee *emitError
		if errors.As(err, &ee) {
			return nil, ee.err
		}
		e, ok := err.(*Error)
		if !ok {
			return nil, err // unreachable: attempt classifies
		}
		if cl.emitted {
			e.Partial, e.Retryable, e.again = true, false, false
			if ctx.Err() == nil {
				e.Reason += " (part of the answer was already sent)"
			}
		}
		if !e.again || attempt >= retries {
			return nil, e
		}
		wait := e.RetryAfter
		if wait <= 0 {
			wait = backoff(attempt)
		}
		if wait > maxRetryWait {
			return nil, e // the endpoint asks for too long: let failover move on
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return nil, e // the caller cannot wait that long: fail fast
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, c.classify(ctx, ctx, ctx.Err())
		case <-t.C:
		}
	}
}

// attempt runs cl once under a context that is cancelled when the caller's
// ends, or with cause errAttemptTimeout after Timeout without a touch of
// the watchdog.
func (c *Client) attempt(ctx context.Context, cl *call) (*Result, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cl.wd = startWatchdog(c.cfg.Timeout, cancel)
	defer cl.wd.stop()
	var (
		res *Result
		err error
	)
	switch cl.kind {
	case callChat, callLegacy:
		res, err = c.plain(actx, cl)
	case callStream:
		res, err = c.stream(actx, cl)
	case callPing:
		cl.listed, err = c.ping(actx)
	case callEmbed:
		err = c.embed(actx, cl)
	case callModerate:
		err = c.moderate(actx, cl)
	case callGuard:
		res, err = c.plain(actx, cl)
		if err == nil {
			cl.moderation, err = cl.mod.parseGuard(res.Text)
			if err == nil {
				cl.moderation.Model, cl.moderation.Usage = res.Model, res.Usage
			}
			res = nil
		}
	}
	if err == nil {
		return res, nil
	}
	var ee *emitError
	if errors.As(err, &ee) {
		return nil, err
	}
	e := c.classify(ctx, actx, err)
	if e.StatusCode == http.StatusNotFound && cl.model != "" {
		// What a server without the model answers (Ollama before
		// "ollama pull"): name the model, the likely fix.
		e.Model = cl.model
		e.Reason = fmt.Sprintf("model %q is not served (404): check the model name and the base URL", cl.model)
		// This endpoint's fault, not the request's: the next endpoint of
		// the route may serve the model (not this one again).
		e.Retryable = true
	}
	return nil, e
}

// watchdog cancels an attempt with errAttemptTimeout once its timeout has
// passed since it started or was last touched. A stream touches it on every
// chunk; rather than resetting the timer each time (a lock and a heap
// update), touch records the time, and the timer, when it fires, sleeps
// again for what is left.
type watchdog struct {
	timeout time.Duration
	begin   time.Time // monotonic
	// last is when touch was last called, as time since begin, 0 if never.
	last   atomic.Int64
	done   atomic.Bool
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

func startWatchdog(timeout time.Duration, cancel context.CancelCauseFunc) *watchdog {
	w := &watchdog{timeout: timeout, cancel: cancel, begin: time.Now()}
	// w.timer is written before any touch, and fire reads it only after
	// seeing a touch (through the atomic last), so the two do not race.
	w.timer = time.AfterFunc(timeout, w.fire)
	return w
}

func (w *watchdog) touch() { w.last.Store(int64(time.Since(w.begin))) }

func (w *watchdog) stop() {
	w.done.Store(true)
	w.timer.Stop()
}

func (w *watchdog) fire() {
	if w.done.Load() {
		return
	}
	if last := w.last.Load(); last != 0 {
		if rest := w.timeout - (time.Since(w.begin) - time.Duration(last)); rest > 0 {
			w.timer.Reset(rest)
			return
		}
	}
	w.cancel(errAttemptTimeout)
}

// backoff is the wait before retry number attempt+1 when the server did not
// say how long.
func backoff(attempt int) time.Duration {
	d := backoffMax
	if attempt < 5 {
		d = min(backoffBase<<attempt, backoffMax)
	}
	return d - rand.N(d/4)
}

// retryAfter is the wait h asks for; 0 when none is readable.
func retryAfter(h http.Header) time.Duration {
	d, _ := retryafter.Parse(h)
	return d
}

package provider

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Retry timing. openai-go's own retry loop is switched off (MaxRetries 0):
// it waits out Retry-After inside the per-attempt timeout and cannot give up
// early when the caller's deadline is closer than the wait. The rules below
// are otherwise the same as its: Retry-After-Ms, then Retry-After in seconds
// or as an HTTP date, else exponential backoff with jitter.
const (
	// maxRetryWait caps a server-directed wait: beyond it the call fails at
	// once (Retryable) so that failover moves to the next endpoint.
	maxRetryWait = 30 * time.Second
	// backoffBase and backoffMax shape the wait when the server names none:
	// 0.5s, 1s, 2s... up to 8s, minus up to 25% jitter.
	backoffBase = 500 * time.Millisecond
	backoffMax  = 8 * time.Second
)

// attemptFunc performs one HTTP exchange under ctx. A stream calls touch on
// every chunk to push the attempt's timeout back.
type attemptFunc func(ctx context.Context, touch func()) (*Result, error)

// callOptions tune run for one call.
type callOptions struct {
	// noRetry makes a single attempt (Ping).
	noRetry bool
	// emitted reports whether a stream already gave text to its caller; a
	// failure after that is Partial and ends the call.
	emitted func() bool
}

// emitError carries the error returned by a stream's emit function, which
// the call returns unchanged.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }
func (e *emitError) Unwrap() error { return e.err }

// run performs fn with a timeout per attempt and retries it on this endpoint
// while the failure is worth it, the retry budget lasts and the caller's
// deadline leaves room for the wait.
func (c *Client) run(ctx context.Context, opts callOptions, fn attemptFunc) (*Result, error) {
	retries := c.cfg.MaxRetries
	if opts.noRetry {
		retries = 0
	}
	for attempt := 0; ; attempt++ {
		res, err := c.attempt(ctx, fn)
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
		if opts.emitted != nil && opts.emitted() {
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

// attempt runs fn once under a context that is cancelled when the caller's
// ends, or with cause errAttemptTimeout after Timeout without touch.
func (c *Client) attempt(ctx context.Context, fn attemptFunc) (*Result, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(c.cfg.Timeout, func() { cancel(errAttemptTimeout) })
	defer timer.Stop()
	touch := func() { timer.Reset(c.cfg.Timeout) }
	res, err := fn(actx, touch)
	if err == nil {
		return res, nil
	}
	var ee *emitError
	if errors.As(err, &ee) {
		return nil, err
	}
	return nil, c.classify(ctx, actx, err)
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

// retryAfter reads Retry-After-Ms, then Retry-After (seconds or HTTP date);
// 0 when absent or unreadable.
func retryAfter(h http.Header) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(min(ms, 1e9) * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 {
			return time.Duration(min(s, 1e6) * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

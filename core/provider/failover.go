package provider

import (
	"context"
	"errors"
)

// Failover calls call with each candidate in order until one succeeds. The
// next candidate is tried only when the previous one failed with a Retryable
// *Error, after that candidate's own retries (a model it does not serve
// included); any other error (400, 401, 403..., the caller's context ending, a stream that failed after emitting
// text, an emit error) is returned at once. When every candidate failed, the
// last error is returned. No candidate at all is an *Error with an empty
// Provider.
//
// For streams, call may simply be ChatStream: see [Client.ChatStream] for why
// a stream never moves to another endpoint once text was emitted.
func Failover(ctx context.Context, candidates []*Client, call func(ctx context.Context, c *Client) (*Result, error)) (*Result, error) {
	if len(candidates) == 0 {
		return nil, &Error{Reason: "no provider to try", Err: errors.New("no provider to try")}
	}
	var last error
	for _, c := range candidates {
		res, err := call(ctx, c)
		if err == nil {
			return res, nil
		}
		last = err
		var e *Error
		if !errors.As(err, &e) || !e.Retryable || e.Partial || ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, last
}

package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// Error is every failure of a [Client] call, except the caller's own error
// returned by a stream's emit function, which [Client.ChatStream] returns
// unchanged.
type Error struct {
	// Provider is the Name of the endpoint that failed.
	Provider string
	// StatusCode is the HTTP status of the answer, 0 when there was none.
	StatusCode int
	// Reason is short and meant for people, e.g. "rate limited (429), retry
	// after 3s", "connection refused", "timed out after 60s". It never holds
	// the API key, the prompt or the upstream error message (which may echo
	// the prompt).
	Reason string
	// Timeout reports that an attempt timed out or the caller's deadline
	// passed.
	Timeout bool
	// Retryable reports that the failure belongs to this endpoint (429, 5xx,
	// connection error, timeout, broken answer) and that the next endpoint
	// of a route is worth trying (a 404 naming a model the endpoint does not
	// serve, too). It is false for the caller's request being refused (400,
	// 401, 403...), for the caller's context ending, and for a stream that
	// failed after text was emitted.
	Retryable bool
	// Partial reports a stream that failed after some text had already been
	// given to emit: the answer cannot be moved to another endpoint.
	Partial bool
	// Model is the model asked for, set when the endpoint answered 404:
	// it does not serve that model (or the base URL is wrong).
	Model string
	// RetryAfter is what the endpoint asked to wait (Retry-After or
	// Retry-After-Ms), 0 when it did not say.
	RetryAfter time.Duration
	// Err is the underlying error, for errors.Is and errors.As.
	Err error

	// again reports a failure worth retrying on the same endpoint.
	again bool
}

// Error returns "provider <name>: <reason>".
func (e *Error) Error() string {
	return "provider " + e.Provider + ": " + e.Reason
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Sentinel causes carried in Error.Err.
var (
	// ErrStreamCut is the cause of a stream that ended before the answer was
	// complete.
	ErrStreamCut = errors.New("stream ended before the answer was complete")
	// ErrEmptyAnswer is the cause of an answer without any choice.
	ErrEmptyAnswer = errors.New("answer has no choices")

	errAttemptTimeout = errors.New("attempt timed out")
)

// invalidRequest is a failure found before anything was sent.
func (c *Client) invalidRequest(format string, args ...any) *Error {
	reason := "invalid request: " + fmt.Sprintf(format, args...)
	return &Error{Provider: c.cfg.Name, Reason: reason, Err: errors.New(reason)}
}

// classify turns the error of one attempt into an *Error. ctx is the
// caller's context, actx the attempt's.
func (c *Client) classify(ctx, actx context.Context, err error) *Error {
	e := &Error{Provider: c.cfg.Name, Err: err}
	if ctxErr := ctx.Err(); ctxErr != nil {
		e.Err = ctxErr
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			e.Timeout = true
			e.Reason = "caller's deadline exceeded"
		} else {
			e.Reason = "cancelled by the caller"
		}
		return e
	}
	if errors.Is(context.Cause(actx), errAttemptTimeout) {
		e.Timeout, e.Retryable = true, true
		e.Err = fmt.Errorf("%w after %s: %w", errAttemptTimeout, seconds(c.cfg.Timeout), context.DeadlineExceeded)
		e.Reason = "timed out after " + seconds(c.cfg.Timeout)
		return e
	}

	var statusErr *statusError
	if errors.As(err, &statusErr) {
		e.StatusCode, e.RetryAfter = statusErr.status, statusErr.retryAfter
		c.classifyStatus(e)
		return e
	}

	e.Retryable = true
	e.again = true
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		unkAuth x509.UnknownAuthorityError
		hostErr x509.HostnameError
		recErr  tls.RecordHeaderError
		netErr  net.Error
		sseErr  *streamError
	)
	switch {
	case errors.As(err, &sseErr):
		e.Reason = "error reported by upstream mid-stream"
	case errors.Is(err, ErrStreamCut):
		e.Reason = "stream cut before the answer was complete"
	case errors.Is(err, ErrEmptyAnswer):
		e.Reason, e.again = "empty answer from upstream", false
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Reason = "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		e.Reason = "connection reset by upstream"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		e.Reason = "connection closed by upstream"
	case errors.As(err, &dnsErr):
		e.Reason = "cannot resolve host " + dnsErr.Name
	case errors.As(err, &certErr), errors.As(err, &unkAuth), errors.As(err, &hostErr):
		e.Reason, e.again = "TLS certificate not trusted", false
	case errors.As(err, &recErr):
		e.Reason, e.again = "TLS handshake failed (is the URL http rather than https?)", false
	case errors.As(err, &netErr) && netErr.Timeout():
		e.Timeout = true
		e.Reason = "network timeout"
	case errors.As(err, &netErr):
		e.Reason = "connection failed"
	case errors.Is(err, ErrGuardAnswer):
		e.Reason, e.again = "the guard model's answer is neither safe nor unsafe with known categories", false
	case isDecodeError(err), errors.Is(err, errEmbedShape), errors.Is(err, errModerationShape):
		e.Reason, e.again = "invalid answer from upstream", false
	default:
		e.Reason, e.again = "request failed", false
	}
	return e
}

func isDecodeError(err error) bool {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	return errors.As(err, &syn) || errors.As(err, &typ)
}

// classifyStatus fills Reason, Retryable and again from e.StatusCode.
func (c *Client) classifyStatus(e *Error) {
	code := e.StatusCode
	switch {
	case code == http.StatusTooManyRequests:
		e.Retryable, e.again = true, true
		e.Reason = "rate limited (429)"
		if e.RetryAfter > 0 {
			e.Reason += ", retry after " + seconds(e.RetryAfter)
		}
	case code >= 500:
		e.Retryable, e.again = true, true
		e.Reason = "HTTP " + strconv.Itoa(code) + " from upstream"
		if e.RetryAfter > 0 {
			e.Reason += ", retry after " + seconds(e.RetryAfter)
		}
	case code == http.StatusRequestTimeout:
		e.Retryable, e.again = true, true
		e.Reason = "HTTP 408 from upstream"
	case code == http.StatusUnauthorized:
		e.Reason = "unauthorized (401): check the API key"
	case code == http.StatusForbidden:
		e.Reason = "forbidden (403): the API key may not use this model"
	case code == http.StatusNotFound:
		e.Reason = "not found (404): check the base URL and the model name"
	case code == http.StatusBadRequest || code == http.StatusUnprocessableEntity:
		e.Reason = "request refused by upstream (" + strconv.Itoa(code) + ")"
	default:
		e.Reason = "HTTP " + strconv.Itoa(code) + " from upstream"
	}
}

// seconds formats d for people: "60s", "1.5s", "250ms".
func seconds(d time.Duration) string {
	if d >= time.Second && d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

package core

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error for the user and for transports (HTTP status,
// LSP message, chat reply).
type Kind string

// Error kinds.
const (
	KindInvalid         Kind = "invalid"         // malformed request
	KindUnauthenticated Kind = "unauthenticated" // missing, unknown or revoked credentials
	KindDenied          Kind = "denied"          // policy refused
	KindBlocked         Kind = "blocked"         // redaction refused to send the content
	KindQuota           Kind = "quota_exceeded"  // over budget; RetryAt tells when it resets
	KindTooLarge        Kind = "too_large"       // body or input over the limit
	KindUnavailable     Kind = "unavailable"     // provider down or refusing
	KindTimeout         Kind = "timeout"         // provider too slow
	KindOutputRejected  Kind = "output_rejected" // the model's answer failed a check
	KindNotFound        Kind = "not_found"       // unknown resource
	KindCanceled        Kind = "canceled"        // the caller went away
	KindInternal        Kind = "internal"        // a bug or a failing dependency (store, journal)
	KindNotImplemented  Kind = "not_implemented" // the feature is not built yet
)

// ErrRedactionBudget is in the chain of the KindUnavailable error of a
// request refused because its redaction took longer than its time budget
// (redaction.timeout).
var ErrRedactionBudget = errors.New("redaction budget exceeded")

// Error is the error every core operation returns. Message is written for
// the person who made the request: it names the rule, provider or type
// involved, never a secret or content.
type Error struct {
	Kind      Kind      `json:"code"`
	Message   string    `json:"message"`
	Rule      string    `json:"rule,omitempty"`       // the policy rule, for KindDenied
	Provider  string    `json:"provider,omitempty"`   // for KindUnavailable, KindTimeout
	RetryAt   time.Time `json:"retry_at,omitzero"`    // for KindQuota
	RequestID string    `json:"request_id,omitempty"` // the journal entry
	// Moderation, for KindBlocked and KindUnavailable, says what
	// moderation refused, or where its classifier did not answer.
	Moderation *ModerationFlag `json:"moderation,omitempty"`
	Err        error           `json:"-"`
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// ErrorKind returns the kind of err: the Kind of an *Error in its chain,
// KindCanceled for context cancellation, KindTimeout for deadlines, and
// KindInternal otherwise.
func ErrorKind(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	}
	return KindInternal
}

// AsError returns err as an *Error, wrapping unknown errors as internal ones
// with the given message.
func AsError(err error, msg string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: KindInternal, Message: msg, Err: err}
}

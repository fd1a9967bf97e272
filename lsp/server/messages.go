package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.lsp.dev/protocol"

	"timon.dev/timon/core"
)

// notify shows msg to the user (window/showMessage) or, with logOnly, puts
// it in the client's log (window/logMessage). It never waits for the
// client.
func (s *Server) notify(ctx context.Context, typ protocol.MessageType, msg string, logOnly bool) {
	ctx = context.WithoutCancel(ctx)
	var err error
	if logOnly {
		err = s.client.LogMessage(ctx, &protocol.LogMessageParams{Type: typ, Message: msg})
	} else {
		err = s.client.ShowMessage(ctx, &protocol.ShowMessageParams{Type: typ, Message: msg})
	}
	if err != nil {
		s.log.Debug("message not delivered", "err", err)
	}
}

// showError tells the user why a request failed: the kind, the reason,
// the rule, when to retry and the journal's request id; never content.
func (s *Server) showError(ctx context.Context, what string, err error) {
	k := core.ErrorKind(err)
	if k == core.KindCanceled {
		return
	}
	typ := protocol.MessageTypeError
	switch k {
	case core.KindQuota, core.KindBlocked, core.KindOutputRejected, core.KindDenied:
		typ = protocol.MessageTypeWarning
	}
	s.log.Info("request failed", "what", what, "kind", string(k))
	s.notify(ctx, typ, Describe(what, err), false)
}

// showCompletionError is showError for completions, at most once a minute
// for each kind of error: they come with every pause in typing.
func (s *Server) showCompletionError(ctx context.Context, err error) {
	k := core.ErrorKind(err)
	s.mu.Lock()
	last := s.shown[k]
	show := time.Since(last) > time.Minute
	if show {
		s.shown[k] = time.Now()
	}
	s.mu.Unlock()
	if show {
		s.showError(ctx, "completion", err)
	}
}

// showNotices shows the assistant's notices on what succeeded (a
// moderation warning: "moderation: category health flagged (output)") as
// one warning, sent with the result, which still applies.
func (s *Server) showNotices(ctx context.Context, what string, notices []string) {
	if len(notices) == 0 {
		return
	}
	s.log.Info("request answered with notices", "what", what, "notices", len(notices))
	s.notify(ctx, protocol.MessageTypeWarning, "timon: "+what+": "+strings.Join(notices, "; "), false)
}

// showCompletionNotices is showNotices for the completions of document
// uri: each notice once per document in a session, since completions
// come with every pause in typing.
func (s *Server) showCompletionNotices(ctx context.Context, uri string, notices []string) {
	var fresh []string
	s.mu.Lock()
	for _, n := range notices {
		if k := uri + "\x00" + n; !s.noticed[k] {
			s.noticed[k] = true
			fresh = append(fresh, n)
		}
	}
	s.mu.Unlock()
	s.showNotices(ctx, "completion", fresh)
}

// Describe is the message shown for err when what failed.
func Describe(what string, err error) string {
	e := core.AsError(err, "internal error")
	var b strings.Builder
	fmt.Fprintf(&b, "timon: %s failed: ", what)
	// Moderation's refusals say so themselves ("refused by moderation:
	// category health (input)", "moderation is unavailable, so nothing was
	// sent (classifier NAME)"): they were neither redaction nor the model.
	moderation := e.Moderation != nil
	switch e.Kind {
	case core.KindQuota:
		b.WriteString("quota exceeded: ")
	case core.KindDenied:
		b.WriteString("not allowed: ")
	case core.KindBlocked:
		if !moderation {
			b.WriteString("blocked by redaction: ")
		}
	case core.KindUnavailable:
		if !moderation {
			b.WriteString("the model is unavailable: ")
		}
	case core.KindTimeout:
		b.WriteString("the model is too slow: ")
	case core.KindOutputRejected:
		b.WriteString("the answer was refused: ")
	case core.KindUnauthenticated:
		b.WriteString("not authenticated: ")
	}
	b.WriteString(e.Message)
	if e.Rule != "" {
		fmt.Fprintf(&b, " (rule %s)", e.Rule)
	}
	if !e.RetryAt.IsZero() {
		fmt.Fprintf(&b, "; try again after %s", e.RetryAt.Local().Format("15:04:05"))
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request %s]", e.RequestID)
	}
	return b.String()
}

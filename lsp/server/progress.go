package server

import (
	"context"
	"fmt"
	"time"

	"go.lsp.dev/protocol"
)

// beginProgress shows a cancellable progress while an action runs, when
// the client supports server-initiated progress. The returned context
// ends when the user cancels it; done ends the progress.
func (s *Server) beginProgress(ctx context.Context, title string) (context.Context, func()) {
	if !s.caps.workDoneProgress {
		return ctx, func() {}
	}
	s.mu.Lock()
	s.seq++
	token := fmt.Sprintf("timon-%d", s.seq)
	s.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := s.client.WorkDoneProgressCreate(cctx, &protocol.WorkDoneProgressCreateParams{Token: protocol.String(token)})
	cancel()
	if err != nil {
		s.log.Debug("no progress", "err", err)
		return ctx, func() {}
	}
	ctx, stop := context.WithCancel(ctx)
	s.mu.Lock()
	s.progress[token] = stop
	s.mu.Unlock()
	s.report(ctx, token, &protocol.WorkDoneProgressBegin{Kind: "begin", Title: title, Cancellable: ptr(true), Message: ptr("asking the assistant…")})
	return ctx, func() {
		s.mu.Lock()
		delete(s.progress, token)
		s.mu.Unlock()
		s.report(ctx, token, &protocol.WorkDoneProgressEnd{Kind: "end"})
		stop()
	}
}

func (s *Server) report(ctx context.Context, token string, value any) {
	v, err := protocol.Marshal(value)
	if err != nil {
		return
	}
	if err := s.client.Progress(context.WithoutCancel(ctx), &protocol.ProgressParams{Token: protocol.String(token), Value: v}); err != nil {
		s.log.Debug("progress not delivered", "err", err)
	}
}

// WorkDoneProgressCancel cancels the action whose progress the user
// canceled.
func (s *Server) WorkDoneProgressCancel(ctx context.Context, p *protocol.WorkDoneProgressCancelParams) error {
	var token string
	switch t := p.Token.(type) {
	case protocol.String:
		token = string(t)
	case protocol.Integer:
		token = fmt.Sprint(int32(t))
	}
	s.mu.Lock()
	stop := s.progress[token]
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	return nil
}

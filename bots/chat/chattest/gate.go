// Package chattest holds what the chat platforms' fakes (slacktest,
// mattermosttest) share.
package chattest

import (
	"context"
	"sync"
)

// Gate holds a fake's answers back while it is shut: a test shuts it to
// have a request accepted by the platform but not yet answered (a client
// killed in that window has had its post accepted without learning its
// id). The zero Gate is open.
type Gate struct {
	mu sync.Mutex
	ch chan struct{}
}

// Shut holds the answers that wait on g until release is called.
func (g *Gate) Shut() (release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch := make(chan struct{})
	g.ch = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			if g.ch == ch {
				g.ch = nil
			}
			g.mu.Unlock()
			close(ch)
		})
	}
}

// Wait returns once g is open, true, or once ctx ends, false.
func (g *Gate) Wait(ctx context.Context) bool {
	g.mu.Lock()
	ch := g.ch
	g.mu.Unlock()
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

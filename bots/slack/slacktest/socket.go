package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// socket serves Socket Mode: it says hello, pings every 500 ms and records
// the envelope acknowledgements it reads.
func (s *Server) socket(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.sockets = append(s.sockets, c)
	s.mu.Unlock()
	hello, _ := json.Marshal(map[string]any{"type": "hello", "num_connections": 1,
		"debug_info":      map[string]any{"host": "applink-fake", "build_number": 10, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": "A111"}})
	s.write(c, hello)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.mu.Lock()
				err := c.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
				s.mu.Unlock()
				if err != nil {
					return
				}
			}
		}
	}()
	defer close(done)
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.acks = append(s.acks, json.RawMessage(msg))
		s.notify()
		s.mu.Unlock()
	}
}

func (s *Server) write(c *websocket.Conn, msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.WriteMessage(websocket.TextMessage, msg)
}

// Sockets is how many Socket Mode connections were opened.
func (s *Server) Sockets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sockets)
}

// WaitSocket waits until at least n Socket Mode connections were opened.
func (s *Server) WaitSocket(ctx context.Context, n int) error {
	return s.waitFor(ctx, func() bool { return len(s.sockets) >= n })
}

// Send writes an envelope (see Envelope) on the latest Socket Mode
// connection.
func (s *Server) Send(envelope []byte) error {
	s.mu.Lock()
	if len(s.sockets) == 0 {
		s.mu.Unlock()
		return errors.New("no Socket Mode connection")
	}
	c := s.sockets[len(s.sockets)-1]
	s.mu.Unlock()
	return s.write(c, envelope)
}

// DropSocket closes the latest Socket Mode connection abruptly.
func (s *Server) DropSocket() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sockets) > 0 {
		s.sockets[len(s.sockets)-1].Close()
	}
}

// Ack is an acknowledgement read from the client.
type Ack struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload"`
}

// WaitAck waits for the acknowledgement of an envelope.
func (s *Server) WaitAck(ctx context.Context, envelopeID string) (Ack, error) {
	var found Ack
	err := s.waitFor(ctx, func() bool {
		for _, raw := range s.acks {
			var a Ack
			if json.Unmarshal(raw, &a) == nil && a.EnvelopeID == envelopeID {
				found = a
				return true
			}
		}
		return false
	})
	return found, err
}

// Wait waits until cond (called with the fake's state locked) holds.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	return s.waitFor(ctx, func() bool {
		s.mu.Unlock()
		defer s.mu.Lock()
		return cond()
	})
}

// waitFor calls cond with mu held until it holds or ctx ends.
func (s *Server) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok := cond()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

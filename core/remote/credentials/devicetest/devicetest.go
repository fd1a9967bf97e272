// Package devicetest is a wire-level test double of a hub's device
// sign-in endpoints (DEVICE.md): POST /auth/device and POST
// /auth/device/token, answering polls from a script, enforcing the
// polling interval with slow_down, and handing the token out once. Other
// paths go to Next (for example a reverse proxy to a real hub).
package devicetest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// The answers a script can give to a poll.
const (
	Pending  = "authorization_pending"
	SlowDown = "slow_down"
	Denied   = "access_denied"
	Expired  = "expired_token"
	Approve  = "approve" // hands the token out
)

// Options configure the double; the zero value answers pending forever.
type Options struct {
	// Interval and ExpiresIn are sent to the client (seconds on the
	// wire); zero means 5 and 600.
	Interval, ExpiresIn int
	// Unit is the length of the wire's second for enforcing the interval:
	// a poll sooner than the interval after the previous one gets
	// slow_down, and the interval grows by 5. Zero enforces nothing.
	Unit time.Duration
	// Answers are given to the polls in order; the last one repeats.
	Answers []string
	// What an approval hands out.
	Token, User string
	ExpiresAt   time.Time
	// Disabled answers 404 as a hub without OpenID Connect does.
	Disabled bool
	// Next serves every other path; nil answers 404.
	Next http.Handler
}

// Poll is one poll the double received.
type Poll struct {
	At     time.Time
	Answer string
}

// Start is one POST /auth/device the double received.
type Start struct {
	Client, Name string
}

// Server is a running double.
type Server struct {
	URL string
	srv *httptest.Server
	o   Options

	mu       sync.Mutex
	starts   []Start
	polls    []Poll
	interval time.Duration
	last     time.Time
	given    bool
}

// deviceCode and userCode are the double's only codes.
const (
	deviceCode = "dc_Yl9tZXdKc0xfQ2h0cGRRMXhNa0N2TjRoX0ZqZ1l3"
	userCode   = "WDJB-MJHT"
)

// New starts a double; Close stops it.
func New(o Options) *Server {
	if o.Interval == 0 {
		o.Interval = 5
	}
	if o.ExpiresIn == 0 {
		o.ExpiresIn = 600
	}
	s := &Server{o: o, interval: time.Duration(o.Interval) * o.Unit}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/device", s.start)
	mux.HandleFunc("POST /auth/device/token", s.token)
	next := o.Next
	if next == nil {
		next = http.NotFoundHandler()
	}
	mux.Handle("/", next)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// UserCode is the code every sign-in shows.
func (s *Server) UserCode() string { return userCode }

// Starts returns the sign-ins started so far.
func (s *Server) Starts() []Start {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Start(nil), s.starts...)
}

// Polls returns the polls received so far.
func (s *Server) Polls() []Poll {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Poll(nil), s.polls...)
}

func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	if s.o.Disabled {
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "not_found", "message": "sign-in is not configured on this hub"})
		return
	}
	var body struct{ Client, Name string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || (body.Client != "timon-cli" && body.Client != "vscode") {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"kind": "invalid", "message": "expected {client, name}"}})
		return
	}
	s.mu.Lock()
	s.starts = append(s.starts, Start{body.Client, body.Name})
	s.mu.Unlock()
	base := "http://" + r.Host
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code": deviceCode, "user_code": userCode,
		"verification_uri": base + "/console/device", "verification_uri_complete": base + "/console/device?code=" + userCode,
		"expires_in": s.o.ExpiresIn, "interval": s.o.Interval,
	})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	var body struct {
		DeviceCode string `json:"device_code"`
	}
	json.NewDecoder(r.Body).Decode(&body)
	now := time.Now()
	s.mu.Lock()
	answer := Pending
	if n := len(s.o.Answers); n > 0 {
		answer = s.o.Answers[min(len(s.polls), n-1)]
	}
	switch {
	case body.DeviceCode != deviceCode || s.given:
		answer = Expired // unknown, or already collected
	case s.o.Unit > 0 && !s.last.IsZero() && now.Sub(s.last) < s.interval:
		answer = SlowDown
	}
	if answer == SlowDown {
		s.interval += 5 * s.o.Unit
	}
	if answer == Approve {
		s.given = true
	}
	s.last = now
	s.polls = append(s.polls, Poll{At: now, Answer: answer})
	s.mu.Unlock()

	if answer != Approve {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": answer})
		return
	}
	out := map[string]any{"access_token": s.o.Token, "token_type": "Bearer", "user": s.o.User}
	if !s.o.ExpiresAt.IsZero() {
		out["expires_at"] = s.o.ExpiresAt.UTC().Format(time.RFC3339)
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

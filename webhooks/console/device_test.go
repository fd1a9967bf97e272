package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/webhooks/console"
)

type startAnswer struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresAt   string `json:"expires_at"`
	User        string `json:"user"`
	Error       any    `json:"error"`
}

func TestDeviceFlow(t *testing.T) {
	each(t, nil, func(t *testing.T, r *rig) {
		var start startAnswer
		if st := r.postJSON("/auth/device", map[string]string{"client": "timon-cli", "name": "timon lsp on host X"}, &start); st != 200 {
			t.Fatalf("start: %d", st)
		}
		if len(start.DeviceCode) < 43 || len(start.UserCode) != 9 || start.VerificationURI != r.url+"/console/device" ||
			start.VerificationURIComplete != r.url+"/console/device?code="+start.UserCode || start.ExpiresIn != 600 || start.Interval != 5 {
			t.Fatalf("start answer: %+v", start)
		}
		poll := func(want string) tokenAnswer {
			t.Helper()
			var a tokenAnswer
			st := r.postJSON("/auth/device/token", map[string]string{"device_code": start.DeviceCode}, &a)
			switch {
			case want == "" && (st != 200 || a.AccessToken == ""):
				t.Fatalf("poll: %d %+v, want the token", st, a)
			case want != "" && (st != 400 || a.Error != want):
				t.Fatalf("poll: %d %+v, want %s", st, a, want)
			}
			return a
		}
		poll("authorization_pending")
		poll("slow_down")
		r.clock.Add(5 * time.Second)
		poll("authorization_pending")

		// The person opens the link, signs in, sees the code and approves.
		b := r.browser()
		resp := b.signIn(start.VerificationURIComplete, "alice", "alice-pw")
		if resp.StatusCode != 200 || !strings.Contains(b.last, `<strong id="device-user-code">`+start.UserCode+`</strong>`) ||
			!strings.Contains(b.last, "timon lsp on host X") || !strings.Contains(b.last, `id="approve"`) {
			t.Fatalf("approval page: %d\n%s", resp.StatusCode, b.last)
		}
		// Without the CSRF token, no approval.
		if resp := b.post("/console/device", url.Values{"code": {start.UserCode}, "action": {"approve"}}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("approval without CSRF: %d", resp.StatusCode)
		}
		resp = b.post("/console/device", url.Values{"csrf": {b.csrfOf(start.VerificationURIComplete)}, "code": {start.UserCode}, "action": {"approve"}})
		if resp.StatusCode != 200 || !strings.Contains(b.last, `id="device-done"`) {
			t.Fatalf("approve: %d\n%s", resp.StatusCode, b.last)
		}
		r.clock.Add(5 * time.Second)
		a := poll("")
		if a.TokenType != "Bearer" || a.User != "alice@example.org" || a.ExpiresAt == "" {
			t.Fatalf("token answer %+v", a)
		}
		tok, err := r.st.LookupToken(t.Context(), a.AccessToken)
		if err != nil || tok.UserID != "alice@example.org" || strings.Join(tok.Scope, ",") != "lsp" || tok.Name != "timon lsp on host X" {
			t.Fatalf("token %+v %v", tok, err)
		}
		exp, err := time.Parse(time.RFC3339, a.ExpiresAt)
		if err != nil || time.Until(exp) < 89*24*time.Hour {
			t.Fatalf("expires_at %q", a.ExpiresAt)
		}
		// Exactly once.
		r.clock.Add(5 * time.Second)
		poll("expired_token")
		// The page no longer offers it.
		if resp := b.get(start.VerificationURIComplete); resp.StatusCode != http.StatusConflict || strings.Contains(b.last, `id="approve"`) {
			t.Fatalf("decided code: %d", resp.StatusCode)
		}

		// Denied.
		var d2 startAnswer
		r.postJSON("/auth/device", map[string]string{"client": "vscode", "name": "VS Code"}, &d2)
		b.get("/console/device")
		if !strings.Contains(b.last, `id="device-code"`) {
			t.Fatal("no code entry on the device page")
		}
		b.get("/console/device?code=" + url.QueryEscape(strings.ToLower(d2.UserCode)))
		resp = b.post("/console/device", url.Values{"csrf": {b.csrf()}, "code": {d2.UserCode}, "action": {"deny"}})
		if resp.StatusCode != 200 {
			t.Fatalf("deny: %d", resp.StatusCode)
		}
		var a2 tokenAnswer
		if st := r.postJSON("/auth/device/token", map[string]string{"device_code": d2.DeviceCode}, &a2); st != 400 || a2.Error != "access_denied" {
			t.Fatalf("denied poll: %d %+v", st, a2)
		}

		// Expired.
		var d3 startAnswer
		r.postJSON("/auth/device", map[string]string{"client": "vscode"}, &d3)
		r.clock.Add(10 * time.Minute)
		var a3 tokenAnswer
		if st := r.postJSON("/auth/device/token", map[string]string{"device_code": d3.DeviceCode}, &a3); st != 400 || a3.Error != "expired_token" {
			t.Fatalf("expired poll: %d %+v", st, a3)
		}
		if resp := b.get("/console/device?code=" + d3.UserCode); resp.StatusCode != http.StatusNotFound || !strings.Contains(b.last, `id="device-error"`) {
			t.Fatalf("expired code page: %d", resp.StatusCode)
		}
		// Unknown device code, unknown client, not JSON.
		var a4 tokenAnswer
		if st := r.postJSON("/auth/device/token", map[string]string{"device_code": "nope"}, &a4); st != 400 || a4.Error != "expired_token" {
			t.Fatalf("unknown device code: %d %+v", st, a4)
		}
		var e struct{ Code, Message string }
		if st := r.postJSON("/auth/device", map[string]string{"client": "curl"}, &e); st != 400 || e.Code != "invalid" || e.Message == "" {
			t.Fatalf("unknown client: %d %+v", st, e)
		}
	})
}

func TestNotConfigured(t *testing.T) {
	h := console.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) }), nil)
	for _, p := range []string{"/auth/device", "/auth/device/token", "/console/"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", p, strings.NewReader("{}")))
		if rec.Code != 404 || rec.Body.String() != `{"code":"not_found","message":"sign-in is not configured on this hub"}`+"\n" {
			t.Errorf("%s: %d %s", p, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/models", nil))
	if rec.Code != 299 {
		t.Fatal("other paths must reach the hub")
	}
}

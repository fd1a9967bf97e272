package console_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/identity"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
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

// from is an HTTP client whose connections come from the loopback address
// ip (127.0.0.0/8 is all the host's on Linux).
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 20 * time.Second}
}

type answer struct {
	status     int
	retryAfter string
	body       map[string]any
}

func (r *rig) postFrom(c *http.Client, path, body string) answer {
	r.t.Helper()
	resp, err := c.Post(r.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if err := json.NewDecoder(resp.Body).Decode(&a.body); err != nil {
		r.t.Fatalf("%s: answer not JSON: %v", path, err)
	}
	return a
}

func devices(t *testing.T, st *store.Store) int {
	t.Helper()
	var n int
	if err := st.QueryRow(t.Context(), `SELECT COUNT(*) FROM identity_devices`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// refused checks a 429 in the hub's error shape with a Retry-After of a
// few seconds at most max.
func refused(t *testing.T, a answer, says string, maxWait int) {
	t.Helper()
	secs, err := strconv.Atoi(a.retryAfter)
	if a.status != http.StatusTooManyRequests || err != nil || secs < 1 || secs > maxWait ||
		a.body["code"] != "quota_exceeded" || !strings.Contains(a.body["message"].(string), says) {
		t.Fatalf("want 429 saying %q with Retry-After up to %d s, got %d Retry-After %q %v", says, maxWait, a.status, a.retryAfter, a.body)
	}
}

// TestDeviceStartLimit: an address may start 10 device sign-ins a minute;
// the 11th is refused with Retry-After and writes nothing, while another
// address still gets through. Polls have their own, looser limit.
func TestDeviceStartLimit(t *testing.T) {
	each(t, nil, func(t *testing.T, r *rig) {
		one, two := from("127.0.0.1"), from("127.0.0.2")
		start := `{"client":"timon-cli","name":"laptop"}`
		for i := range 10 {
			if a := r.postFrom(one, "/auth/device", start); a.status != 200 {
				t.Fatalf("start %d: %d %v", i+1, a.status, a.body)
			}
		}
		if n := devices(t, r.st); n != 10 {
			t.Fatalf("%d device authorizations after 10 starts", n)
		}
		refused(t, r.postFrom(one, "/auth/device", start), "too many sign-in attempts from this address: try again in a minute", 6)
		// Whatever the body: refused before it is read.
		refused(t, r.postFrom(one, "/auth/device", `{"client":"vscode"}`), "try again in a minute", 6)
		if n := devices(t, r.st); n != 10 {
			t.Fatalf("refused starts wrote rows: %d device authorizations", n)
		}
		if a := r.postFrom(two, "/auth/device", start); a.status != 200 || a.body["device_code"] == "" {
			t.Fatalf("another address: %d %v", a.status, a.body)
		}
		if n := devices(t, r.st); n != 11 {
			t.Fatalf("%d device authorizations after the other address's start", n)
		}

		// Polls: a burst of 20, then 2 a second. The refused ones are
		// counted until one is seen (the bucket refills as they go).
		three := from("127.0.0.3")
		for i := 0; ; i++ {
			a := r.postFrom(three, "/auth/device/token", `{"device_code":"nope"}`)
			if a.status == http.StatusTooManyRequests {
				if i < 20 {
					t.Fatalf("poll %d refused, within the burst", i+1)
				}
				refused(t, a, "too many sign-in polls from this address", 1)
				break
			}
			if a.status != 400 || a.body["error"] != "expired_token" || i > 200 {
				t.Fatalf("poll %d: %d %v", i+1, a.status, a.body)
			}
		}
		// The other addresses still poll.
		if a := r.postFrom(two, "/auth/device/token", `{"device_code":"nope"}`); a.status != 400 {
			t.Fatalf("poll from another address: %d %v", a.status, a.body)
		}
	})
}

// TestDevicePendingCap: beyond the cap on undecided, unexpired device
// authorizations of the hub, starts are refused whatever their address;
// once some expire, starts are accepted again. An IPv6 client is limited
// by its /64.
func TestDevicePendingCap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		c := &clock{}
		c.t.Store(time.Now().UnixMicro())
		id, err := identity.New(context.Background(), st, identity.Options{Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		con, err := console.New(console.Options{Config: &console.Config{Issuer: "https://idp.invalid", ClientID: "timon", PublicURL: "https://timon.example.org"},
			Identity: id, Store: st, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		console.SetPendingDeviceCap(con, 3)
		post := func(remote, body string) *httptest.ResponseRecorder {
			t.Helper()
			req := httptest.NewRequest("POST", "/auth/device", strings.NewReader(body))
			req.RemoteAddr = remote
			rec := httptest.NewRecorder()
			con.ServeHTTP(rec, req)
			return rec
		}
		start := `{"client":"vscode"}`
		for i := range 3 {
			if rec := post("192.0.2."+strconv.Itoa(i+1)+":4000", start); rec.Code != 200 {
				t.Fatalf("start %d: %d %s", i+1, rec.Code, rec.Body)
			}
		}
		rec := post("192.0.2.9:4000", start)
		var body map[string]any
		json.Unmarshal(rec.Body.Bytes(), &body)
		refused(t, answer{status: rec.Code, retryAfter: rec.Header().Get("Retry-After"), body: body}, "too many sign-ins are waiting for approval on this hub", 60)
		if n := devices(t, st); n != 3 {
			t.Fatalf("a start beyond the cap wrote a row: %d", n)
		}
		c.Add(10*time.Minute + time.Second)
		if rec := post("192.0.2.9:4000", start); rec.Code != 200 {
			t.Fatalf("start once the others expired: %d %s", rec.Code, rec.Body)
		}

		// IPv6: the addresses of one /64 share their bucket (they are
		// refused before the cap is counted), the next /64 has its own.
		console.SetPendingDeviceCap(con, 1000)
		for i := range 10 {
			if rec := post("[2001:db8::"+strconv.Itoa(i+1)+"]:4000", start); rec.Code != 200 {
				t.Fatalf("IPv6 start %d: %d %s", i+1, rec.Code, rec.Body)
			}
		}
		if rec := post("[2001:db8::ffff]:4000", start); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("another address of the same /64: %d %s", rec.Code, rec.Body)
		}
		if rec := post("[2001:db8:0:1::1]:4000", start); rec.Code != 200 {
			t.Fatalf("the next /64: %d %s", rec.Code, rec.Body)
		}
	})
}

package console_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/identity"
	"timon.dev/timon/core/store"
	"timon.dev/timon/webhooks/console"
)

func TestCSRFRejected(t *testing.T) {
	each(t, nil, func(t *testing.T, r *rig) {
		alice, bob := r.browser(), r.browser()
		alice.signIn("/console/", "alice", "alice-pw")
		bob.signIn("/console/", "bob", "bob-pw")
		bobCSRF := bob.csrf()
		for name, form := range map[string]url.Values{
			"missing":       {"name": {"forged"}},
			"empty":         {"name": {"forged"}, "csrf": {""}},
			"another's":     {"name": {"forged"}, "csrf": {bobCSRF}},
			"made up":       {"name": {"forged"}, "csrf": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
			"truncated own": {"name": {"forged"}, "csrf": {alice.csrfOf("/console/")[:20]}},
		} {
			resp := alice.post("/console/tokens", form)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(alice.last, `id="error-message"`) {
				t.Errorf("%s CSRF token: %d", name, resp.StatusCode)
			}
		}
		if resp := alice.post("/auth/logout", url.Values{}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("logout without CSRF token: %d", resp.StatusCode)
		}
		toks, _ := r.st.ListTokens(t.Context(), "alice@example.org")
		if len(toks) != 0 {
			t.Fatalf("a forged form created a token: %v", toks)
		}
		// Without a session at all, a form is refused.
		anon := r.browser()
		if resp := anon.post("/console/tokens", url.Values{"name": {"x"}, "csrf": {bobCSRF}}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("form without a session: %d", resp.StatusCode)
		}
	})
}

// csrfOf loads path and returns its CSRF token.
func (b *browser) csrfOf(path string) string {
	b.t.Helper()
	b.get(path)
	return b.csrf()
}

func TestSessionFixationImpossible(t *testing.T) {
	each(t, nil, func(t *testing.T, r *rig) {
		// An attacker signs in, then plants their own session cookie in
		// the victim's browser, and also a made-up one.
		attacker := r.browser()
		attacker.signIn("/console/", "bob", "bob-pw")
		planted := attacker.cookie("timon_session")
		if planted == "" {
			t.Fatal("no session cookie")
		}
		victim := r.browser()
		victim.setCookie("timon_session", planted)
		victim.get("/console/signin")
		// The planted session is signed in as bob: the sign-in page
		// redirects. The victim signs in anyway, through the provider.
		victim.setCookie("timon_session", planted)
		resp := victim.get("/auth/login?return=/console/")
		id := inputID.FindStringSubmatch(victim.last)
		if resp.StatusCode != 200 || id == nil {
			t.Fatalf("login form: %d", resp.StatusCode)
		}
		resp = victim.post(r.idp.Issuer+"/login/username", url.Values{"id": {id[1]}, "username": {"alice"}, "password": {"alice-pw"}})
		if resp.StatusCode != 200 || !strings.Contains(victim.last, "Alice Martin") {
			t.Fatalf("victim's sign-in: %d", resp.StatusCode)
		}
		got := victim.cookie("timon_session")
		if got == "" || got == planted {
			t.Fatal("the session must change at sign-in")
		}
		if _, _, err := r.id.Authenticate(t.Context(), planted); !errors.Is(err, identity.ErrSessionEnded) {
			t.Fatalf("the planted session must end: %v", err)
		}
		// A made-up cookie is never adopted.
		other := r.browser()
		other.setCookie("timon_session", "made-up-by-the-attacker")
		other.signIn("/console/", "alice", "alice-pw")
		if v := other.cookie("timon_session"); v == "made-up-by-the-attacker" || v == "" {
			t.Fatalf("a pre-set session cookie was adopted: %q", v)
		}
	})
}

func TestExpiredRevokedAndLoggedOutSessions(t *testing.T) {
	each(t, nil, func(t *testing.T, r *rig) {
		b := r.browser()
		b.signIn("/console/", "alice", "alice-pw")
		secret := b.cookie("timon_session")

		// Logout ends the session; its cookie no longer signs anyone in.
		resp := b.post("/auth/logout", url.Values{"csrf": {b.csrfOf("/console/")}})
		if resp.StatusCode != 200 || resp.Request.URL.Path != "/console/signin" || !strings.Contains(b.last, `id="signed-out"`) {
			t.Fatalf("logout: %d %s", resp.StatusCode, resp.Request.URL)
		}
		b.setCookie("timon_session", secret)
		if resp := b.get("/console/"); resp.Request.URL.Path != "/console/signin" {
			t.Fatalf("a logged-out session was accepted: %s", resp.Request.URL)
		}

		// Revoked (every session of the person ended).
		b.signIn("/console/", "alice", "alice-pw")
		if err := r.id.EndSessions(t.Context(), "alice@example.org"); err != nil {
			t.Fatal(err)
		}
		if resp := b.get("/console/"); resp.Request.URL.Path != "/console/signin" {
			t.Fatalf("a revoked session was accepted: %s", resp.Request.URL)
		}

		// Expired: past the idle timeout, and past the lifetime.
		b.signIn("/console/", "alice", "alice-pw")
		r.clock.Add(2*time.Hour + time.Minute)
		if resp := b.get("/console/"); resp.Request.URL.Path != "/console/signin" {
			t.Fatalf("an idle session was accepted: %s", resp.Request.URL)
		}
		b.signIn("/console/", "alice", "alice-pw")
		for range 13 {
			r.clock.Add(time.Hour)
			b.get("/console/")
		}
		if resp := b.get("/console/"); resp.Request.URL.Path != "/console/signin" {
			t.Fatalf("an expired session was accepted: %s", resp.Request.URL)
		}
		// A form posted with an ended session is refused.
		if resp := b.post("/console/tokens", url.Values{"name": {"x"}, "csrf": {"x"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("form with an expired session: %d", resp.StatusCode)
		}
	})
}

func TestCookies(t *testing.T) {
	each(t, nil, func(t *testing.T, r *rig) {
		b := r.browser()
		b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp := b.get("/auth/login?return=/console/")
		ck := resp.Cookies()
		if len(ck) != 1 || ck[0].Name != "timon_login" || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteLaxMode || ck[0].Path != "/" {
			t.Fatalf("login cookie: %+v", ck)
		}
		loc, _ := url.Parse(resp.Header.Get("Location"))
		q := loc.Query()
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" ||
			q.Get("redirect_uri") != r.url+"/auth/callback" || !strings.Contains(q.Get("scope"), "openid") {
			t.Fatalf("authorization request: %s", loc)
		}
		// A callback whose state is not this browser's is refused.
		resp = b.get("/auth/callback?code=x&state=" + url.QueryEscape(q.Get("state")+"x"))
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("forged state: %d", resp.StatusCode)
		}
		// A callback from another browser (no login cookie) is refused.
		if resp := r.browser().get("/auth/callback?code=x&state=" + url.QueryEscape(q.Get("state"))); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("callback without the login cookie: %d", resp.StatusCode)
		}
	})
}

func TestSecureCookieSettings(t *testing.T) {
	for _, tc := range []struct {
		url    string
		secure bool
	}{
		{"https://timon.example.org", true},
		{"http://127.0.0.1:8080", false},
		{"http://localhost:8080", false},
		{"http://[::1]:8080", false},
	} {
		c := &console.Config{PublicURL: tc.url}
		if c.SecureCookies() != tc.secure {
			t.Errorf("%s: secure=%v", tc.url, !tc.secure)
		}
	}
}

func TestOpenRedirectRefused(t *testing.T) {
	for in, want := range map[string]string{
		"/console/device?code=ABCD-EFGH": "/console/device?code=ABCD-EFGH",
		"/console/admin/tokens":          "/console/admin/tokens",
		"":                               "/console/",
		"//evil.example/":                "/console/",
		"///evil.example/":               "/console/",
		"/\\evil.example/":               "/console/",
		"\\\\evil.example":               "/console/",
		"https://evil.example/":          "/console/",
		"javascript:alert(1)":            "/console/",
		"evil.example":                   "/console/",
		"/console/\r\nLocation: x":       "/console/",
		"/%2F%2Fevil.example":            "/console/",
		" /console/":                     "/console/",
		"http:/evil.example":             "/console/",
	} {
		if got := console.SafeReturn(in); got != want {
			t.Errorf("SafeReturn(%q) = %q, want %q", in, got, want)
		}
	}
	each(t, nil, func(t *testing.T, r *rig) {
		b := r.browser()
		b.get("/console/signin?return=" + url.QueryEscape("//evil.example/x"))
		m := hrefOf("sign-in").FindStringSubmatch(b.last)
		if m == nil || strings.Contains(m[1], "evil") {
			t.Fatalf("sign-in link carries the foreign return: %v", m)
		}
		// Straight to /auth/login with a foreign return: lands on the console.
		resp := b.get("/auth/login?return=" + url.QueryEscape("https://evil.example/"))
		id := inputID.FindStringSubmatch(b.last)
		if resp.StatusCode != 200 || id == nil {
			t.Fatal("no login form")
		}
		resp = b.post(r.idp.Issuer+"/login/username", url.Values{"id": {id[1]}, "username": {"alice"}, "password": {"alice-pw"}})
		if resp.Request.URL.Host != strings.TrimPrefix(r.url, "http://") || resp.Request.URL.Path != "/console/" {
			t.Fatalf("redirected to %s", resp.Request.URL)
		}
		// A local return is honoured.
		b2 := r.browser()
		resp = b2.signIn("/console/device?code=BCDF-GHJK", "alice", "alice-pw")
		if resp.Request.URL.Path != "/console/device" || resp.Request.URL.Query().Get("code") != "BCDF-GHJK" {
			t.Fatalf("return path lost: %s", resp.Request.URL)
		}
	})
}

func TestAdminOnly(t *testing.T) {
	each(t, nil, func(t *testing.T, r *rig) {
		bob := r.browser()
		bob.signIn("/console/", "bob", "bob-pw")
		if strings.Contains(bob.last, `id="nav-admin"`) {
			t.Fatal("a non-admin sees the admin link")
		}
		bobTok := &store.Token{UserID: "bob@example.org", Name: "bob's"}
		if _, err := r.st.CreateToken(t.Context(), bobTok); err != nil {
			t.Fatal(err)
		}
		csrf := bob.csrfOf("/console/")
		for _, p := range []string{"/console/admin/", "/console/admin/tokens", "/console/admin/usage", "/console/admin/nothing/here"} {
			if resp := bob.get(p); resp.StatusCode != http.StatusForbidden || strings.Contains(bob.last, "bob&#39;s") {
				t.Errorf("non-admin GET %s: %d", p, resp.StatusCode)
			}
		}
		if resp := bob.post("/console/admin/tokens/"+bobTok.ID+"/revoke", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("non-admin revoke: %d", resp.StatusCode)
		}
		// Signed out: sent to sign in, never shown.
		anon := r.browser()
		if resp := anon.get("/console/admin/tokens"); resp.Request.URL.Path != "/console/signin" {
			t.Errorf("anonymous admin page: %s", resp.Request.URL)
		}

		carol := r.browser()
		carol.signIn("/console/admin/tokens", "carol", "carol-pw")
		if !strings.Contains(carol.last, `id="admin-revoke-`+bobTok.ID+`"`) {
			t.Fatalf("the admin does not see bob's token:\n%s", carol.last)
		}
		resp := carol.post("/console/admin/tokens/"+bobTok.ID+"/revoke", url.Values{"csrf": {carol.csrf()}})
		if resp.StatusCode != 200 || resp.Request.URL.Path != "/console/admin/tokens" {
			t.Fatalf("admin revoke: %d %s", resp.StatusCode, resp.Request.URL)
		}
		toks, _ := r.st.ListTokens(t.Context(), "bob@example.org")
		if len(toks) != 1 || toks[0].RevokedAt.IsZero() {
			t.Fatal("bob's token was not revoked")
		}
	})
}

func TestMissingGroupsClaim(t *testing.T) {
	// Named subtests: a second storetest.Each in one test would be named
	// sqlite#01, and the SQLite driver reads '#' in its path as a URI
	// fragment.
	t.Run("default", func(t *testing.T) {
		each(t, nil, func(t *testing.T, r *rig) {
			b := r.browser()
			b.signIn("/console/", "dave", "dave-pw")
			if !strings.Contains(b.last, `<span id="my-groups">staff</span>`) {
				t.Fatalf("no groups claim must give the default group only:\n%s", b.last)
			}
			p, _ := r.id.Person(t.Context(), "dave@example.org")
			if strings.Join(p.Groups, ",") != "staff" || p.Admin {
				t.Fatalf("dave: %+v", p)
			}
			// Unknown groups alone: default only too (bob's cn=unknown is ignored).
			bob := r.browser()
			bob.signIn("/console/", "bob", "bob-pw")
			if !strings.Contains(bob.last, `<span id="my-groups">chemistry, staff</span>`) {
				t.Fatal("bob's groups")
			}
		})
	})
	// Without a default group, such a person is refused, and told why.
	t.Run("no_default", func(t *testing.T) {
		each(t, func(c *console.Config) { c.DefaultGroup = "" }, func(t *testing.T, r *rig) {
			b := r.browser()
			resp := b.signIn("/console/", "dave", "dave-pw")
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(b.last, "None of your groups gives access") || b.cookie("timon_session") != "" {
				t.Fatalf("no default group: %d\n%s", resp.StatusCode, b.last)
			}
			if _, err := r.id.Person(t.Context(), "dave@example.org"); !errors.Is(err, store.ErrNotFound) {
				t.Fatal("a refused person was provisioned")
			}
			alice := r.browser()
			if resp := alice.signIn("/console/", "alice", "alice-pw"); resp.StatusCode != 200 {
				t.Fatalf("a mapped person is let in: %d", resp.StatusCode)
			}
		})
	})
}

func TestNobodySeesAnothersTokens(t *testing.T) {
	each(t, nil, func(t *testing.T, r *rig) {
		bobTok := &store.Token{UserID: "bob@example.org", Name: "bobs-secret-laptop"}
		if _, err := r.st.CreateToken(t.Context(), bobTok); err != nil {
			t.Fatal(err)
		}
		alice := r.browser()
		alice.signIn("/console/", "alice", "alice-pw")
		if strings.Contains(alice.last, "bobs-secret-laptop") || strings.Contains(alice.last, bobTok.ID) {
			t.Fatal("alice sees bob's token")
		}
		resp := alice.post("/console/tokens/"+bobTok.ID+"/revoke", url.Values{"csrf": {alice.csrf()}})
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("alice revoking bob's token: %d", resp.StatusCode)
		}
		toks, _ := r.st.ListTokens(t.Context(), "bob@example.org")
		if !toks[0].RevokedAt.IsZero() {
			t.Fatal("alice revoked bob's token")
		}
	})
}

// TestCallbackReplayRefused: a callback URL (code and state) works once;
// replayed, even with the login cookie put back, it signs nobody in.
func TestCallbackReplayRefused(t *testing.T) {
	each(t, nil, func(t *testing.T, r *rig) {
		b := r.browser()
		var callback *url.URL
		b.c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
			if req.URL.Path == "/auth/callback" {
				callback = req.URL
			}
			return nil
		}
		b.get("/auth/login?return=/console/")
		state := b.cookie("timon_login")
		id := inputID.FindStringSubmatch(b.last)
		b.post(r.idp.Issuer+"/login/username", url.Values{"id": {id[1]}, "username": {"alice"}, "password": {"alice-pw"}})
		if callback == nil || state == "" || !strings.Contains(b.last, "Alice Martin") {
			t.Fatal("the sign-in did not go through the callback")
		}
		thief := r.browser()
		thief.setCookie("timon_login", state)
		if resp := thief.get(callback.String()); resp.StatusCode != http.StatusBadRequest || thief.cookie("timon_session") != "" {
			t.Fatalf("replayed callback: %d", resp.StatusCode)
		}
	})
}

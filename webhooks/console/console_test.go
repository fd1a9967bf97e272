package console_test

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/store"
	"timon.dev/timon/webhooks/console"
)

var secretRe = regexp.MustCompile(`id="new-token-secret"[^>]*>(timon_[A-Za-z0-9_-]+)<`)

func TestSignInAndTokens(t *testing.T) {
	each(t, nil, func(t *testing.T, r *rig) {
		b := r.browser()
		resp := b.signIn("/console/", "alice", "alice-pw")
		if resp.StatusCode != 200 || resp.Request.URL.Path != "/console/" {
			t.Fatalf("after sign-in: %d %s\n%s", resp.StatusCode, resp.Request.URL, b.last)
		}
		if !strings.Contains(b.last, "Alice Martin") || !strings.Contains(b.last, `<span id="my-groups">physics, staff</span>`) {
			t.Fatalf("My timon does not show the person:\n%s", b.last)
		}
		h := resp.Header
		if h.Get("Content-Security-Policy") != console.ContentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
			t.Fatalf("security headers: %v", h)
		}
		if !strings.Contains(b.last, `<html lang="en">`) || !strings.Contains(b.last, "timon login --hub "+r.url) {
			t.Fatal("page language or setup snippet missing")
		}
		p, err := r.id.Person(t.Context(), "alice@example.org")
		if err != nil || p.Subject != "u-alice" || p.Issuer != r.idp.Issuer {
			t.Fatalf("provisioned: %+v %v", p, err)
		}

		// Create a token scoped to the editors: its secret is shown once.
		resp = b.post("/console/tokens", url.Values{"csrf": {b.csrf()}, "name": {"laptop"}, "scope": {"lsp"}, "expires": {"30d"}})
		m := secretRe.FindStringSubmatch(b.last)
		if resp.StatusCode != 200 || m == nil {
			t.Fatalf("create: %d\n%s", resp.StatusCode, b.last)
		}
		tok, err := r.st.LookupToken(t.Context(), m[1])
		if err != nil || tok.UserID != "alice@example.org" || strings.Join(tok.Scope, ",") != "lsp" || strings.Join(tok.Groups, ",") != "physics,staff" ||
			time.Until(tok.ExpiresAt) < 29*24*time.Hour || time.Until(tok.ExpiresAt) > 31*24*time.Hour {
			t.Fatalf("token %+v %v", tok, err)
		}
		if err := tok.Usable(time.Now(), "api"); !errors.Is(err, store.ErrTokenScope) {
			t.Fatalf("an lsp token must not serve the API: %v", err)
		}
		b.get("/console/")
		if strings.Contains(b.last, m[1]) || !strings.Contains(b.last, `id="token-`+tok.ID+`"`) {
			t.Fatal("the secret must be shown once, and the token listed")
		}
		// Bad forms are refused with a message.
		resp = b.post("/console/tokens", url.Values{"csrf": {b.csrf()}, "name": {"x"}, "scope": {"root"}})
		if resp.StatusCode != 400 || !strings.Contains(b.last, `id="token-form-error"`) {
			t.Fatalf("bad scope: %d", resp.StatusCode)
		}
		// Revoke.
		resp = b.post("/console/tokens/"+tok.ID+"/revoke", url.Values{"csrf": {b.csrf()}})
		if resp.StatusCode != 200 || resp.Request.URL.Path != "/console/" {
			t.Fatalf("revoke: %d %s", resp.StatusCode, resp.Request.URL)
		}
		tok, _ = r.st.LookupToken(t.Context(), m[1])
		if tok.RevokedAt.IsZero() {
			t.Fatal("not revoked")
		}
		// Other paths go to the hub.
		b.get("/v1/models")
		if b.last != "the hub" {
			t.Fatalf("hub paths must reach the hub: %q", b.last)
		}
	})
}

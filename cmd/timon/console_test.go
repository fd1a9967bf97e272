package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"timon.dev/timon/core/store/storetest"
	"timon.dev/timon/webhooks/console"
)

// TestConsoleWiring: the sign_in section reaches the console's settings,
// and serve's wiring builds the console only when an issuer is set.
func TestConsoleWiring(t *testing.T) {
	t.Setenv("TIMON_OIDC_CLIENT_SECRET", "s3cret")
	cfg, err := parseAll("c.yaml", minimal+`sign_in:
  issuer: https://idp.example.org/realms/staff
  client_id: timon
  public_url: https://timon.example.org
  groups: {"cn=physics,ou=groups": [physics]}
  default_group: staff
  session_lifetime: 8h
`)
	if err != nil {
		t.Fatal(err)
	}
	s := sectionOf[console.Config](cfg, "sign_in")
	if !s.Enabled() || s.ClientSecret != "s3cret" || s.Groups["cn=physics,ou=groups"][0] != "physics" || s.AdminGroups[0] != "admin" || !s.SecureCookies() {
		t.Fatalf("settings: %+v", s)
	}
	h := &hub{cfg: cfg, store: storetest.SQLite(t)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	con, err := consoleHandler(t.Context(), h, log)
	if err != nil || con == nil {
		t.Fatalf("console: %v %v", con, err)
	}
	rec := httptest.NewRecorder()
	console.Wrap(http.NotFoundHandler(), con).ServeHTTP(rec, httptest.NewRequest("POST", "/auth/device", strings.NewReader(`{"client":"timon-cli","name":"x"}`)))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"verification_uri":"https://timon.example.org/console/device"`) {
		t.Fatalf("device start: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	console.Wrap(http.NotFoundHandler(), con).ServeHTTP(rec, httptest.NewRequest("GET", "/console/", nil))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Content-Security-Policy") != console.ContentSecurityPolicy {
		t.Fatalf("console page: %d %v", rec.Code, rec.Header())
	}

	off, err := parseAll("c.yaml", minimal)
	if err != nil {
		t.Fatal(err)
	}
	if con, err := consoleHandler(t.Context(), &hub{cfg: off}, log); con != nil || err != nil {
		t.Fatalf("without sign_in: %v %v", con, err)
	}
	if _, err := parseAll("c.yaml", minimal+"sign_in: {issuer: https://idp.example.org, client_id: timon, public_url: http://timon.example.org}\n"); err == nil ||
		!strings.Contains(err.Error(), "sign_in.public_url: must be https") {
		t.Fatalf("an http public URL must be refused: %v", err)
	}
}

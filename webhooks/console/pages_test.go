package console_test

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"timon.dev/timon/core/config"
	"timon.dev/timon/webhooks/console"
)

func TestFrenchPages(t *testing.T) {
	each(t, nil, func(t *testing.T, r *rig) {
		b := r.browser()
		b.lang = "fr-FR,fr;q=0.9"
		b.signIn("/console/", "alice", "alice-pw")
		if !strings.Contains(b.last, `<html lang="fr">`) || !strings.Contains(b.last, "Mes jetons") || !strings.Contains(b.last, `id="lang-switch"`) {
			t.Fatalf("French page:\n%s", b.last)
		}
		b.get("/console/?lang=en")
		if !strings.Contains(b.last, `<html lang="en">`) || !strings.Contains(b.last, "My tokens") {
			t.Fatal("the switch to English")
		}
		b.get("/console/")
		if !strings.Contains(b.last, `<html lang="en">`) {
			t.Fatal("the choice must be remembered")
		}
		// Assets are embedded, served from the hub itself.
		if resp := b.get("/console/static/style.css"); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
			t.Fatalf("style sheet: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if strings.Contains(b.last, "http://") || strings.Contains(b.last, "https://") {
			t.Fatal("the style sheet must not load anything from elsewhere")
		}
	})
}

// section is a Section of another package, here a test's.
type section struct {
	id   string
	fail bool
}

func (s section) ID() string               { return s.id }
func (s section) Title(lang string) string { return "Usage (" + lang + ")" }
func (s section) Render(_ context.Context, v console.Viewer, q url.Values) (template.HTML, error) {
	if s.fail {
		return "", errors.New("no data")
	}
	return template.HTML(`<p id="` + s.id + `-body">` + template.HTMLEscapeString(v.UserID+" "+q.Get("day")) + `</p>`), nil
}

func TestSections(t *testing.T) {
	each(t, nil, func(t *testing.T, r *rig) {
		con, err := console.New(console.Options{Config: mustConfig(t, r), Identity: r.id, Store: r.st, Logger: slog.New(slog.DiscardHandler),
			Mine:  []console.Section{section{id: "usage"}, section{id: "requests", fail: true}},
			Admin: []console.Section{section{id: "charts"}}})
		if err != nil {
			t.Fatal(err)
		}
		b := r.browser()
		b.signIn("/console/", "carol", "carol-pw")
		secret := b.cookie("timon_session")
		get := func(path string) (int, string) {
			req, _ := http.NewRequest("GET", path, nil)
			req.AddCookie(&http.Cookie{Name: "timon_session", Value: secret})
			rec := newRecorder()
			con.ServeHTTP(rec, req)
			return rec.Code, rec.Body.String()
		}
		code, body := get("/console/?day=2026-03-01")
		if code != 200 || !strings.Contains(body, `<p id="usage-body">carol@example.org 2026-03-01</p>`) || !strings.Contains(body, `<section id="requests"`) {
			t.Fatalf("sections on My timon: %d\n%s", code, body)
		}
		code, body = get("/console/admin/")
		if code != 200 || !strings.Contains(body, `href="/console/admin/charts"`) {
			t.Fatalf("admin home: %d", code)
		}
		code, body = get("/console/admin/charts")
		if code != 200 || !strings.Contains(body, `id="charts-body"`) {
			t.Fatalf("admin section: %d", code)
		}
	})
}

func mustConfig(t *testing.T, r *rig) *console.Config {
	cfg := &console.Config{Issuer: r.idp.Issuer, ClientID: r.idp.ClientID, ClientSecretEnv: "TIMON_TEST_OIDC_SECRET", PublicURL: r.url, DefaultGroup: "staff",
		Groups: map[string][]string{"timon-admins": {"admin"}}, AdminGroups: []string{"admin"}}
	var ch config.Check
	cfg.Check(&ch)
	return cfg
}

func TestConfigCheck(t *testing.T) {
	t.Setenv("TIMON_OIDC_CLIENT_SECRET", "")
	var off console.Config
	var ch config.Check
	off.Check(&ch)
	if len(ch.Problems()) != 0 || off.Enabled() || off.Integration().State != config.StateOff {
		t.Fatalf("off by default: %v", ch.Problems())
	}
	t.Setenv("TIMON_OIDC_CLIENT_SECRET", "s3cret")
	on := console.Config{Issuer: "https://idp.example.org/realms/staff", ClientID: "timon", PublicURL: "https://timon.example.org/"}
	ch = config.Check{}
	on.Check(&ch)
	if len(ch.Problems()) != 0 || on.ClientSecret != "s3cret" || on.PublicURL != "https://timon.example.org" || !on.SecureCookies() ||
		strings.Join(on.Scopes, " ") != "openid profile email" || on.GroupsClaim != "groups" || on.UserClaim != "email" {
		t.Fatalf("defaults: %+v %v", on, ch.Problems())
	}
	for name, c := range map[string]console.Config{
		"http public url":  {Issuer: "https://idp", ClientID: "x", PublicURL: "http://timon.example.org"},
		"public url path":  {Issuer: "https://idp", ClientID: "x", PublicURL: "https://timon.example.org/hub"},
		"no public url":    {Issuer: "https://idp", ClientID: "x"},
		"http issuer":      {Issuer: "http://idp.example.org", ClientID: "x", PublicURL: "https://t"},
		"no client id":     {Issuer: "https://idp", PublicURL: "https://t"},
		"empty group name": {Issuer: "https://idp", ClientID: "x", PublicURL: "https://t", Groups: map[string][]string{"a": {""}}},
	} {
		ch := config.Check{}
		c.Check(&ch)
		if len(ch.Problems()) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
}

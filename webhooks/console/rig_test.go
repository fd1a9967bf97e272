package console_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"timon.dev/timon/core/config"
	"timon.dev/timon/core/identity"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
	"timon.dev/timon/webhooks/console"
	"timon.dev/timon/webhooks/console/oidctest"
)

// The people of the test identity provider.
var people = []oidctest.User{
	{Subject: "u-alice", Username: "alice", Password: "alice-pw", Name: "Alice Martin", Email: "alice@example.org", Groups: []string{"cn=physics"}},
	{Subject: "u-bob", Username: "bob", Password: "bob-pw", Name: "Bob Durand", Email: "bob@example.org", Groups: []string{"cn=chemistry", "cn=unknown"}},
	{Subject: "u-carol", Username: "carol", Password: "carol-pw", Name: "Carol Admin", Email: "carol@example.org", Groups: []string{"timon-admins"}},
	{Subject: "u-dave", Username: "dave", Password: "dave-pw", Name: "Dave NoGroups", Email: "dave@example.org"},
}

type clock struct{ t atomic.Int64 }

func (c *clock) Now() time.Time      { return time.UnixMicro(c.t.Load()) }
func (c *clock) Add(d time.Duration) { c.t.Add(d.Microseconds()) }

// rig is a hub serving the console, with a real identity provider.
type rig struct {
	t     *testing.T
	url   string
	idp   *oidctest.Provider
	id    *identity.Service
	st    *store.Store
	clock *clock
}

func newRig(t *testing.T, st *store.Store, adjust func(*console.Config)) *rig {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String()
	idp := oidctest.Start(t, []string{public + "/auth/callback"}, people...)
	t.Setenv("TIMON_TEST_OIDC_SECRET", idp.ClientSecret)
	cfg := &console.Config{
		Issuer: idp.Issuer, ClientID: idp.ClientID, ClientSecretEnv: "TIMON_TEST_OIDC_SECRET", PublicURL: public,
		Groups:       map[string][]string{"cn=physics": {"physics"}, "cn=chemistry": {"chemistry"}, "timon-admins": {"admin"}},
		DefaultGroup: "staff", AdminGroups: []string{"admin"},
	}
	if adjust != nil {
		adjust(cfg)
	}
	var ch config.Check
	cfg.Check(&ch)
	if p := ch.Problems(); len(p) > 0 {
		t.Fatalf("settings: %v", p)
	}
	c := &clock{}
	c.t.Store(time.Now().UnixMicro())
	id, err := identity.New(context.Background(), st, identity.Options{
		Groups: cfg.Mapping(), SessionLifetime: time.Duration(cfg.SessionLifetime), IdleTimeout: time.Duration(cfg.SessionIdle), Now: c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	con, err := console.New(console.Options{Config: cfg, Identity: id, Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hub := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the hub") })
	srv := httptest.NewUnstartedServer(console.Wrap(hub, con))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &rig{t: t, url: public, idp: idp, id: id, st: st, clock: c}
}

// browser is a person's browser: a cookie jar, following redirects.
type browser struct {
	t    *testing.T
	r    *rig
	c    *http.Client
	last string // the body of the last page
	lang string
}

func (r *rig) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: r.t, r: r, c: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

func (b *browser) do(req *http.Request) *http.Response {
	b.t.Helper()
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b.last = string(body)
	return resp
}

func (b *browser) get(path string) *http.Response {
	b.t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = b.r.url + path
	}
	req, _ := http.NewRequest("GET", u, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) *http.Response {
	b.t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = b.r.url + path
	}
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	csrfRe  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	hrefOf  = func(id string) *regexp.Regexp { return regexp.MustCompile(`id="` + id + `" href="([^"]+)"`) }
	inputID = regexp.MustCompile(`name="id" value="([^"]+)"`)
)

// csrf is the anti-forgery token of the last page.
func (b *browser) csrf() string {
	b.t.Helper()
	m := csrfRe.FindStringSubmatch(b.last)
	if m == nil {
		b.t.Fatalf("no CSRF token on the page:\n%s", b.last)
	}
	return html.UnescapeString(m[1])
}

// signIn goes to path, is sent to the sign-in page, follows its button to
// the identity provider and fills in its form, as a person would; it
// returns the final answer.
func (b *browser) signIn(path, user, password string) *http.Response {
	b.t.Helper()
	resp := b.get(path)
	if !strings.HasPrefix(resp.Request.URL.Path, "/console/signin") {
		b.t.Fatalf("expected the sign-in page, got %s", resp.Request.URL)
	}
	m := hrefOf("sign-in").FindStringSubmatch(b.last)
	if m == nil {
		b.t.Fatalf("no sign-in button:\n%s", b.last)
	}
	resp = b.get(html.UnescapeString(m[1]))
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Request.URL.String(), b.r.idp.Issuer) {
		b.t.Fatalf("expected the provider's login form, got %d %s", resp.StatusCode, resp.Request.URL)
	}
	id := inputID.FindStringSubmatch(b.last)
	if id == nil {
		b.t.Fatalf("no auth request id in the login form:\n%s", b.last)
	}
	return b.post(b.r.idp.Issuer+"/login/username", url.Values{"id": {id[1]}, "username": {user}, "password": {password}})
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.r.url)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(b.r.url)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// postJSON posts a JSON body (the device endpoints).
func (r *rig) postJSON(path string, body any, out any) int {
	r.t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(r.url+path, "application/json", strings.NewReader(string(raw)))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		r.t.Fatalf("%s: answer not JSON: %v", path, err)
	}
	return resp.StatusCode
}

// each runs f on a console over SQLite and over PostgreSQL.
func each(t *testing.T, adjust func(*console.Config), f func(t *testing.T, r *rig)) {
	storetest.Each(t, func(t *testing.T, st *store.Store) { f(t, newRig(t, st, adjust)) })
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// Package oidctest runs a real OpenID Connect provider on loopback for
// tests: zitadel/oidc's op package over the in-memory storage of its
// example server, with users whose groups claim the test chooses and a
// plain HTML login form that a test fills in as a browser would.
package oidctest

import (
	"context"
	"crypto/rand"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is a person the provider knows.
type User struct {
	Subject  string
	Username string // what the login form asks
	Password string
	Name     string
	Email    string
	// Groups is the groups claim; nil leaves the claim out.
	Groups []string
}

// Provider is a running provider.
type Provider struct {
	// Issuer is the provider's URL (http://127.0.0.1:port).
	Issuer       string
	ClientID     string
	ClientSecret string

	mu    sync.Mutex
	users map[string]*User // by subject
}

// Start runs a provider until the test ends, with one confidential client
// (ClientID, ClientSecret) allowed to redirect to redirectURIs.
func Start(t testing.TB, redirectURIs []string, users ...User) *Provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{
		Issuer:       "http://" + ln.Addr().String(),
		ClientID:     "timon-test",
		ClientSecret: rand.Text(),
		users:        map[string]*User{},
	}
	for i := range users {
		p.users[users[i].Subject] = &users[i]
	}
	st := &claimsStorage{
		Storage: storage.NewStorageWithClients(userStore{p}, map[string]*storage.Client{
			p.ClientID: storage.WebClient(p.ClientID, p.ClientSecret, redirectURIs...),
		}),
		p: p,
	}
	var key [32]byte
	rand.Read(key[:])
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:      key,
		CodeMethodS256: true,
		AuthMethodPost: true,
	}, st, op.StaticIssuer(p.Issuer), op.WithAllowInsecure(),
		op.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	login := &loginForm{st: st.Storage, callback: op.AuthCallbackURL(provider)}
	mux.Handle("/login/username", op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(login.ServeHTTP))
	mux.Handle("/", provider)
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

// SetGroups changes a user's groups claim (nil removes it) for their next
// sign-in.
func (p *Provider) SetGroups(subject string, groups []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users[subject].Groups = groups
}

func (p *Provider) user(subject string) (User, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.users[subject]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// userStore gives the example storage the test's users.
type userStore struct{ p *Provider }

func (s userStore) GetUserByID(id string) *storage.User {
	u, ok := s.p.user(id)
	if !ok {
		return nil
	}
	return exampleUser(u)
}

func (s userStore) GetUserByUsername(name string) *storage.User {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	for _, u := range s.p.users {
		if u.Username == name {
			return exampleUser(*u)
		}
	}
	return nil
}

func (userStore) ExampleClientID() string { return storage.ServiceUserID }

func exampleUser(u User) *storage.User {
	return &storage.User{ID: u.Subject, Username: u.Username, Password: u.Password, FirstName: u.Name, Email: u.Email, EmailVerified: true}
}

// claimsStorage puts the profile, e-mail and groups claims into the ID
// token itself, as many institutional providers do.
type claimsStorage struct {
	*storage.Storage
	p *Provider
}

// SetUserinfoFromRequest adds the claims of the ID token (op.CanSetUserinfoFromRequest).
func (s *claimsStorage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, info, req, scopes); err != nil {
		return err
	}
	u, ok := s.p.user(req.GetSubject())
	if !ok {
		return fmt.Errorf("no user %s", req.GetSubject())
	}
	info.Subject = u.Subject
	info.Name = u.Name
	info.PreferredUsername = u.Username
	info.Email = u.Email
	info.EmailVerified = oidc.Bool(true)
	if u.Groups != nil {
		info.AppendClaims("groups", u.Groups)
	}
	return nil
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><title>Test identity provider</title></head><body>
<form method="post" action="/login/username">
<input type="hidden" name="id" value="{{.ID}}">
<label>Username <input name="username"></label>
<label>Password <input name="password" type="password"></label>
{{if .Error}}<p id="error">{{.Error}}</p>{{end}}
<button type="submit">Sign in</button>
</form></body></html>`))

type loginForm struct {
	st       *storage.Storage
	callback func(context.Context, string) string
}

func (l *loginForm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPost {
		loginPage.Execute(w, map[string]string{"ID": r.FormValue("authRequestID")})
		return
	}
	id := r.FormValue("id")
	if err := l.st.CheckUsernamePassword(r.FormValue("username"), r.FormValue("password"), id); err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		loginPage.Execute(w, map[string]string{"ID": id, "Error": err.Error()})
		return
	}
	http.Redirect(w, r, l.callback(r.Context(), id), http.StatusFound)
}

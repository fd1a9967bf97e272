package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/config"
	"timon.dev/timon/core/remote/credentials"
	"timon.dev/timon/core/remote/credentials/devicetest"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/sqlite"
	"timon.dev/timon/webhooks/server"
)

// userConfig gives the test its own user configuration directory and
// returns where timon login keeps credentials there.
func userConfig(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("AppData", filepath.Join(home, "AppData"))
	t.Setenv(config.EnvToken, "")
	p, err := credentials.DefaultPath()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var o, e bytes.Buffer
	code = run(ctx, args, strings.NewReader(""), &o, &e)
	return o.String(), e.String(), code
}

func shortSeconds(t *testing.T) {
	prev := loginSecond
	loginSecond = 20 * time.Millisecond
	t.Cleanup(func() { loginSecond = prev })
}

// tokenHub is the hub's API (webhooks/server) on a store of its own, to
// put behind the device double, and a token of ada's in it.
func tokenHub(t *testing.T) (st *store.Store, api http.Handler, secret, id string) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "timon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tok := &store.Token{UserID: "ada", Scope: []string{"lsp"}}
	if secret, err = st.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return st, server.New(server.Options{Store: st}), secret, tok.ID
}

// tokenRevoked reports whether the token id is revoked in st.
func tokenRevoked(t *testing.T, st *store.Store, id string) bool {
	t.Helper()
	toks, err := st.ListTokens(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if tok.ID == id {
			return !tok.RevokedAt.IsZero()
		}
	}
	t.Fatalf("no token %s", id)
	return false
}

// TestLogin: timon login prints the code and the URL, polls until the
// sign-in is approved, stores the token privately; timon lsp --hub and
// config check then use it; timon logout has the hub revoke it and
// forgets it.
func TestLogin(t *testing.T) {
	path := userConfig(t)
	shortSeconds(t)
	exp := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
	st, api, secret, id := tokenHub(t)
	s := devicetest.New(devicetest.Options{Interval: 1, Unit: 20 * time.Millisecond, Token: secret, User: "ada", ExpiresAt: exp,
		Answers: []string{devicetest.Pending, devicetest.SlowDown, devicetest.Approve}, Next: api})
	defer s.Close()

	out, errOut, code := runCLI(t, "login", "--hub", s.URL+"/", "--name", "laptop")
	if code != 0 {
		t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{s.URL + "/console/device?code=WDJB-MJHT", "WDJB-MJHT", "Signed in to " + s.URL + " as ada", path} {
		if !strings.Contains(out, want) {
			t.Errorf("login output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, secret) {
		t.Fatalf("the token was printed:\n%s%s", out, errOut)
	}
	if st := s.Starts(); len(st) != 1 || st[0].Client != "timon-cli" || st[0].Name != "laptop" {
		t.Fatalf("start %+v", st)
	}
	if n := len(s.Polls()); n != 3 {
		t.Fatalf("%d polls, want 3 (pending, slow_down, approve)", n)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("credentials file: %v %v", fi, err)
		}
	}
	c, ok, err := (&credentials.File{Path: path}).Get(s.URL)
	if err != nil || !ok || c.Token != secret || c.User != "ada" || !c.ExpiresAt.Equal(exp) {
		t.Fatalf("stored %#v %v %v", c, ok, err)
	}

	// timon lsp --hub finds it; an explicit token wins over it.
	cfg, err := config.LoadLSP("", s.URL)
	if err != nil || cfg.LSP.Token != secret || cfg.LSP.CredentialsFile != path {
		t.Fatalf("lsp with the stored token: %v %v", cfg, err)
	}
	t.Setenv(config.EnvToken, "timon_explicit")
	if cfg, err = config.LoadLSP("", s.URL); err != nil || cfg.LSP.Token != "timon_explicit" || cfg.LSP.CredentialsFile != "" {
		t.Fatalf("an explicit token: %v %v", cfg, err)
	}
	t.Setenv(config.EnvToken, "")
	// config check on the remote-mode file says where the token comes from.
	file := filepath.Join(t.TempDir(), "lsp.yaml")
	os.WriteFile(file, []byte("lsp:\n  hub_url: "+s.URL+"\n"), 0o600)
	out, errOut, code = runCLI(t, "config", "check", "--config", file)
	if code != 0 || !strings.Contains(out, "with the token timon login stored in "+path) {
		t.Fatalf("config check: exit %d\n%s%s", code, out, errOut)
	}

	// logout (here with the hub named by the configuration) has the hub
	// revoke it, and forgets it.
	out, errOut, code = runCLI(t, "logout", "--config", file)
	if code != 0 || !strings.Contains(out, "signed out: the token was revoked on "+s.URL+" and forgotten here") {
		t.Fatalf("logout: exit %d\n%s%s", code, out, errOut)
	}
	if !tokenRevoked(t, st, id) {
		t.Fatal("logout did not revoke the token on the hub")
	}
	if _, ok, _ := (&credentials.File{Path: path}).Get(s.URL); ok {
		t.Fatal("still stored after logout")
	}
	if _, errOut, code = runCLI(t, "logout", "--hub", s.URL); code != 1 || !strings.Contains(errOut, "not signed in to "+s.URL) {
		t.Fatalf("logout again: exit %d %s", code, errOut)
	}
	// Without a token, the message names timon login.
	_, errOut, code = runCLI(t, "config", "check", "--config", file)
	if code != 1 || !strings.Contains(errOut, "or sign in with timon login --hub "+s.URL) {
		t.Fatalf("config check without a token: exit %d\n%s", code, errOut)
	}
	_, errOut, code = runCLI(t, "lsp", "--hub", s.URL)
	if code != 1 || !strings.Contains(errOut, "remote mode needs a personal token: set TIMON_TOKEN") || !strings.Contains(errOut, "timon login --hub "+s.URL) {
		t.Fatalf("lsp without a token: exit %d\n%s", code, errOut)
	}
}

// TestLogoutRevokeFails: a token the hub already refuses (401) is
// forgotten as signed out; one the hub could not revoke (unreachable, or
// an older hub without the route) is forgotten all the same, with exit 1
// and what to do about the token still valid there.
func TestLogoutRevokeFails(t *testing.T) {
	path := userConfig(t)
	f := &credentials.File{Path: path}
	st, api, secret, id := tokenHub(t)
	hub := httptest.NewServer(api)
	defer hub.Close()
	if err := st.RevokeToken(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if err := f.Put(credentials.Credential{Hub: hub.URL, Token: secret}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "logout", "--hub", hub.URL)
	if code != 0 || !strings.Contains(out, "signed out: "+hub.URL+" no longer accepted the token") {
		t.Fatalf("logout of a revoked token: exit %d\n%s%s", code, out, errOut)
	}
	if _, ok, _ := f.Get(hub.URL); ok {
		t.Fatal("a revoked token is still stored after logout")
	}

	older := devicetest.New(devicetest.Options{}) // no /v1/tokens/self: 404
	defer older.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	for what, url := range map[string]string{"an older hub": older.URL, "an unreachable hub": gone.URL} {
		if err := f.Put(credentials.Credential{Hub: url, Token: "timon_kept"}); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := runCLI(t, "logout", "--hub", url)
		if code != 1 || !strings.Contains(out, "Removed the token stored for "+url) ||
			!strings.Contains(errOut, "revoking the token on "+url) || !strings.Contains(errOut, "may still be valid on the hub") ||
			!strings.Contains(errOut, url+"/console/#tokens") || !strings.Contains(errOut, "ask an administrator") {
			t.Fatalf("logout from %s: exit %d\n%s%s", what, code, out, errOut)
		}
		if _, ok, _ := f.Get(url); ok {
			t.Fatalf("logout from %s: still stored", what)
		}
	}
}

func TestLoginEnds(t *testing.T) {
	path := userConfig(t)
	shortSeconds(t)
	for _, tc := range []struct {
		name string
		o    devicetest.Options
		want string
	}{
		{"denied", devicetest.Options{Answers: []string{devicetest.Pending, devicetest.Denied}}, "denied in the browser: nothing was stored"},
		{"expired", devicetest.Options{ExpiresIn: 3}, "the code expired before the sign-in was approved: run timon login --hub"},
		{"not configured", devicetest.Options{Disabled: true}, "sign-in is not configured on this hub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Interval = 1
			s := devicetest.New(tc.o)
			defer s.Close()
			out, errOut, code := runCLI(t, "login", "--hub", s.URL)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("a credentials file was written: %v", err)
			}
		})
	}

	t.Run("interrupted", func(t *testing.T) {
		s := devicetest.New(devicetest.Options{Interval: 1})
		defer s.Close()
		ctx, cancel := context.WithCancel(context.Background())
		var o, e bytes.Buffer
		done := make(chan int)
		go func() { done <- run(ctx, []string{"login", "--hub", s.URL}, strings.NewReader(""), &o, &e) }()
		for deadline := time.Now().Add(10 * time.Second); len(s.Polls()) == 0; {
			if time.Now().After(deadline) {
				t.Fatal("no poll")
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel() // what Ctrl-C does through signal.NotifyContext
		if code := <-done; code != 1 || !strings.Contains(e.String(), "sign-in cancelled: nothing was stored") {
			t.Fatalf("exit %d\n%s", code, e.String())
		}
	})

	t.Run("no hub", func(t *testing.T) {
		if _, errOut, code := runCLI(t, "login"); code != 2 || !strings.Contains(errOut, "which hub?") {
			t.Fatalf("exit %d %s", code, errOut)
		}
		if _, errOut, code := runCLI(t, "login", "--hub", "timon.example.org"); code != 1 || !strings.Contains(errOut, "https://timon.example.org") {
			t.Fatalf("exit %d %s", code, errOut)
		}
	})
}

// TestStoredTokenProblems: an expired or unreadable stored token is
// reported as such, with what to do, by timon lsp and config check.
func TestStoredTokenProblems(t *testing.T) {
	path := userConfig(t)
	hub := "https://timon.example.org"
	f := &credentials.File{Path: path}
	if err := f.Put(credentials.Credential{Hub: hub, Token: "timon_old", ExpiresAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "lsp", "--hub", hub+"/")
	if code != 1 || !strings.Contains(errOut, "the token timon login stored for "+hub+" expired on") ||
		!strings.Contains(errOut, "run timon login --hub "+hub+" again") || strings.Contains(errOut, "needs a personal token") {
		t.Fatalf("expired: exit %d\n%s", code, errOut)
	}
	file := filepath.Join(t.TempDir(), "lsp.yaml")
	os.WriteFile(file, []byte("lsp:\n  hub_url: "+hub+"\n"), 0o600)
	_, errOut, code = runCLI(t, "config", "check", "--config", file)
	if code != 1 || !strings.Contains(errOut, "run timon login --hub "+hub+" again") || strings.Contains(errOut, "needs a personal token") ||
		!strings.Contains(errOut, "1 problem(s)") {
		t.Fatalf("config check, expired: exit %d\n%s", code, errOut)
	}
	// An explicit token does not even look at the stored one.
	t.Setenv(config.EnvToken, "timon_explicit")
	if _, errOut, code = runCLI(t, "config", "check", "--config", file); code != 0 {
		t.Fatalf("config check with TIMON_TOKEN: exit %d\n%s", code, errOut)
	}
	t.Setenv(config.EnvToken, "")

	if runtime.GOOS != "windows" {
		os.Chmod(path, 0o644)
		_, errOut, code = runCLI(t, "lsp", "--hub", hub)
		if code != 1 || !strings.Contains(errOut, "readable by other users") {
			t.Fatalf("world-readable: exit %d\n%s", code, errOut)
		}
		// logout removes such a file altogether.
		out, errOut, code := runCLI(t, "logout", "--hub", hub)
		if code != 0 || !strings.Contains(out, "which other users could read") {
			t.Fatalf("logout of a readable file: exit %d\n%s%s", code, out, errOut)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("file left: %v", err)
		}
	}
	os.MkdirAll(filepath.Dir(path), 0o700)
	os.WriteFile(path, []byte("{"), 0o600)
	_, errOut, code = runCLI(t, "lsp", "--hub", hub)
	if code != 1 || !strings.Contains(errOut, "is not a credentials file") {
		t.Fatalf("corrupt: exit %d\n%s", code, errOut)
	}
}

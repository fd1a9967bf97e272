package credentials_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/remote/credentials"
	"timon.dev/timon/core/remote/credentials/devicetest"
)

func TestNormalizeHub(t *testing.T) {
	for in, want := range map[string]string{
		"https://Timon.Example.org/":      "https://timon.example.org",
		"HTTPS://timon.example.org:443":   "https://timon.example.org",
		"http://127.0.0.1:80/":            "http://127.0.0.1",
		"http://127.0.0.1:8080":           "http://127.0.0.1:8080",
		"https://h.example/timon//?x=1#f": "https://h.example/timon",
		" https://[::1]:9443/ ":           "https://[::1]:9443",
	} {
		if got, err := credentials.NormalizeHub(in); err != nil || got != want {
			t.Errorf("NormalizeHub(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "timon.example.org", "ftp://h", "https://", "https://u:p@h"} {
		if _, err := credentials.NormalizeHub(bad); err == nil {
			t.Errorf("NormalizeHub(%q) accepted", bad)
		}
	}
	if _, err := credentials.NormalizeHub("https://ada:hunter2@h"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a password in the URL: %v", err)
	}
}

// TestFile: several hubs side by side, keyed by the normalised URL; the
// file private (0600 in a 0700 directory) and replaced, never edited.
func TestFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "timon")
	f := &credentials.File{Path: filepath.Join(dir, "credentials.json")}

	if _, ok, err := f.Get("https://a.example"); ok || err != nil {
		t.Fatalf("no file: %v %v", ok, err)
	}
	exp := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := f.Put(credentials.Credential{Hub: "https://A.example/", Token: "timon_a", User: "ada", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if err := f.Put(credentials.Credential{Hub: "http://127.0.0.1:8080", Token: "timon_b"}); err != nil {
		t.Fatal(err)
	}
	c, ok, err := f.Get("https://a.example:443")
	if err != nil || !ok || c.Token != "timon_a" || c.User != "ada" || !c.ExpiresAt.Equal(exp) || c.Hub != "https://a.example" {
		t.Fatalf("hub a: %#v %v %v", c, ok, err)
	}
	if c, ok, _ := f.Get("http://127.0.0.1:8080/"); !ok || c.Token != "timon_b" || !c.ExpiresAt.IsZero() {
		t.Fatalf("hub b: %#v %v", c, ok)
	}
	// Replacing one keeps the other.
	if err := f.Put(credentials.Credential{Hub: "https://a.example", Token: "timon_a2"}); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := f.Get("https://a.example"); c.Token != "timon_a2" {
		t.Fatalf("replaced: %#v", c)
	}
	if c, _, _ := f.Get("http://127.0.0.1:8080"); c.Token != "timon_b" {
		t.Fatalf("the other hub after a replacement: %#v", c)
	}
	if runtime.GOOS != "windows" {
		for p, want := range map[string]os.FileMode{f.Path: 0o600, dir: 0o700} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: %v, want %04o (%v)", p, fi.Mode().Perm(), want, err)
			}
		}
	}
	// Atomic: nothing but the file itself is left in the directory.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "credentials.json" {
		t.Fatalf("directory holds %v", entries)
	}
	// The token never shows in a formatted credential.
	c, _, _ = f.Get("https://a.example")
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
		if strings.Contains(s, "timon_a2") {
			t.Fatalf("token formatted: %s", s)
		}
	}

	if removed, err := f.Delete("https://A.EXAMPLE/"); !removed || err != nil {
		t.Fatalf("delete: %v %v", removed, err)
	}
	if removed, err := f.Delete("https://a.example"); removed || err != nil {
		t.Fatalf("delete again: %v %v", removed, err)
	}
	if _, ok, _ := f.Get("https://a.example"); ok {
		t.Fatal("still there after delete")
	}
	if _, ok, _ := f.Get("http://127.0.0.1:8080"); !ok {
		t.Fatal("the other hub went with it")
	}
}

// TestFileAtomicReplace: a reader holding the old file keeps reading the
// old content; the path names the new one at once.
func TestFileAtomicReplace(t *testing.T) {
	f := &credentials.File{Path: filepath.Join(t.TempDir(), "credentials.json")}
	if err := f.Put(credentials.Credential{Hub: "https://a.example", Token: "timon_old"}); err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	before, _ := os.Stat(f.Path)
	if err := f.Put(credentials.Credential{Hub: "https://a.example", Token: "timon_new"}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(f.Path)
	if os.SameFile(before, after) {
		t.Fatal("the file was rewritten in place, not replaced")
	}
	buf := make([]byte, 4096)
	n, _ := old.Read(buf)
	if !strings.Contains(string(buf[:n]), "timon_old") {
		t.Fatalf("the old file changed under its reader: %s", buf[:n])
	}
}

func TestFileRefusesWhatItCannotTrust(t *testing.T) {
	dir := t.TempDir()
	f := &credentials.File{Path: filepath.Join(dir, "credentials.json")}

	os.WriteFile(f.Path, []byte("{not json"), 0o600)
	if _, _, err := f.Get("https://a.example"); err == nil || !strings.Contains(err.Error(), "not a credentials file") {
		t.Fatalf("corrupt: %v", err)
	}
	if err := f.Put(credentials.Credential{Hub: "https://a.example", Token: "timon_x"}); err == nil {
		t.Fatal("a corrupt file was overwritten")
	}
	os.WriteFile(f.Path, []byte(`{"https://a.example": {"hub": "https://a.example"}}`), 0o600)
	if _, _, err := f.Get("https://a.example"); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Fatalf("entry without a token: %v", err)
	}
	if _, _, err := f.Get("a.example"); err == nil {
		t.Fatal("a hub without a scheme")
	}
	if err := f.Put(credentials.Credential{Hub: "https://a.example"}); err == nil {
		t.Fatal("stored without a token")
	}

	if runtime.GOOS == "windows" {
		return
	}
	os.WriteFile(f.Path, []byte(`{"https://a.example": {"hub": "https://a.example", "token": "timon_x"}}`), 0o600)
	if err := os.Chmod(f.Path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.Get("https://a.example")
	if !errors.Is(err, credentials.ErrInsecure) || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "timon_x") {
		t.Fatalf("world-readable: %v", err)
	}
	os.Chmod(f.Path, 0o600)
	if c, ok, err := f.Get("https://a.example"); err != nil || !ok || c.Token != "timon_x" {
		t.Fatalf("after chmod 600: %v %v %v", c, ok, err)
	}
}

func TestExpired(t *testing.T) {
	now := time.Now()
	if (credentials.Credential{}).Expired(now) {
		t.Fatal("no expiry is not expired")
	}
	if !(credentials.Credential{ExpiresAt: now.Add(-time.Second)}).Expired(now) || (credentials.Credential{ExpiresAt: now.Add(time.Hour)}).Expired(now) {
		t.Fatal("expiry")
	}
}

// unit is the tests' second: intervals and expiry are scaled down.
const unit = 20 * time.Millisecond

func device(s *devicetest.Server) *credentials.Device {
	return &credentials.Device{Hub: s.URL, Client: "timon-cli", Name: "timon lsp on box", Second: unit}
}

// TestDeviceFlow: pending, then slow_down (the client waits 5 s more
// from then on), then approved; the token is handed out once.
func TestDeviceFlow(t *testing.T) {
	exp := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
	s := devicetest.New(devicetest.Options{Interval: 1, Unit: unit, Token: "timon_tok", User: "ada", ExpiresAt: exp,
		Answers: []string{devicetest.Pending, devicetest.SlowDown, devicetest.Pending, devicetest.Approve}})
	defer s.Close()
	d := device(s)
	ctx := context.Background()
	a, err := d.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.UserCode != "WDJB-MJHT" || a.URL() != s.URL+"/console/device?code=WDJB-MJHT" || a.Interval != 1 {
		t.Fatalf("authorization %+v", a)
	}
	if st := s.Starts(); len(st) != 1 || st[0].Client != "timon-cli" || st[0].Name != "timon lsp on box" {
		t.Fatalf("start requests %+v", st)
	}
	c, err := d.Wait(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if c.Token != "timon_tok" || c.User != "ada" || !c.ExpiresAt.Equal(exp) || c.Hub != s.URL {
		t.Fatalf("credential %#v", c)
	}
	polls := s.Polls()
	var answers []string
	for _, p := range polls {
		answers = append(answers, p.Answer)
	}
	if strings.Join(answers, " ") != "authorization_pending slow_down authorization_pending approve" {
		t.Fatalf("polls answered %v", answers)
	}
	// The interval (1) before slow_down, 1+5 after it; never faster (the
	// double would have answered slow_down on its own).
	for i := 1; i < len(polls); i++ {
		want := 1 * unit
		if i >= 2 {
			want = 6 * unit
		}
		if gap := polls[i].At.Sub(polls[i-1].At); gap < want {
			t.Errorf("poll %d came %v after the previous, want at least %v", i, gap, want)
		}
	}
	// Once collected, the device code is spent.
	if _, err := d.Wait(ctx, a); !errors.Is(err, credentials.ErrExpired) {
		t.Fatalf("second collection: %v", err)
	}
}

func TestDeviceFlowEnds(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		o    devicetest.Options
		want error
	}{
		{"denied", devicetest.Options{Answers: []string{devicetest.Pending, devicetest.Denied}}, credentials.ErrDenied},
		{"expired on the hub", devicetest.Options{Answers: []string{devicetest.Expired}}, credentials.ErrExpired},
		{"expired while pending", devicetest.Options{ExpiresIn: 4}, credentials.ErrExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Interval = 1
			s := devicetest.New(tc.o)
			defer s.Close()
			d := device(s)
			a, err := d.Start(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if c, err := d.Wait(ctx, a); !errors.Is(err, tc.want) || c.Token != "" {
				t.Fatalf("got %v, %#v; want %v", err, c, tc.want)
			}
		})
	}

	t.Run("cancelled", func(t *testing.T) {
		s := devicetest.New(devicetest.Options{Interval: 1})
		defer s.Close()
		d := device(s)
		a, err := d.Start(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { _, err := d.Wait(cctx, a); done <- err }()
		for deadline := time.Now().Add(5 * time.Second); len(s.Polls()) < 2; {
			if time.Now().After(deadline) {
				t.Fatal("no polls")
			}
			time.Sleep(unit / 4)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("after cancel: %v", err)
		}
	})

	t.Run("not configured", func(t *testing.T) {
		s := devicetest.New(devicetest.Options{Disabled: true})
		defer s.Close()
		if _, err := device(s).Start(ctx); !errors.Is(err, credentials.ErrNotConfigured) {
			t.Fatalf("hub without sign-in: %v", err)
		}
	})

	t.Run("hub down then up", func(t *testing.T) {
		// 5xx answers are retried until the code expires.
		var n int
		s := devicetest.New(devicetest.Options{Interval: 1, Answers: []string{devicetest.Approve}, Token: "timon_t"})
		defer s.Close()
		flaky := &credentials.Device{Hub: s.URL, Client: "timon-cli", Second: unit, HTTP: &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == "/auth/device/token" && n < 2 {
				n++
				return &http.Response{StatusCode: 503, Body: http.NoBody, Request: r}, nil
			}
			return http.DefaultTransport.RoundTrip(r)
		})}}
		a, err := flaky.Start(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := flaky.Wait(ctx, a); err != nil || c.Token != "timon_t" {
			t.Fatalf("after two 503: %v %#v", err, c)
		}
	})
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

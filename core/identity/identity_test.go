package identity_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"timon.dev/timon/core/identity"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

// clock is a test clock moved by hand.
type clock struct{ t atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.t.Store(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixMicro())
	return c
}
func (c *clock) Now() time.Time      { return time.UnixMicro(c.t.Load()) }
func (c *clock) Add(d time.Duration) { c.t.Add(d.Microseconds()) }

var mapping = identity.Mapping{
	Table:   map[string][]string{"cn=physics": {"physics"}, "timon-admins": {"admin"}, "both": {"physics", "chemistry"}},
	Default: "staff",
	Admin:   []string{"admin"},
}

func newService(t *testing.T, st *store.Store, c *clock) *identity.Service {
	t.Helper()
	svc, err := identity.New(context.Background(), st, identity.Options{Groups: mapping, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestMapping(t *testing.T) {
	for _, tc := range []struct {
		in    []string
		want  string
		admin bool
	}{
		{nil, "staff", false},
		{[]string{}, "staff", false},
		{[]string{"unknown", "cn=Physics"}, "staff", false},
		{[]string{"cn=physics"}, "physics,staff", false},
		{[]string{"both", "cn=physics"}, "chemistry,physics,staff", false},
		{[]string{"timon-admins"}, "admin,staff", true},
	} {
		got, admin, err := mapping.Map(tc.in)
		if err != nil || strings.Join(got, ",") != tc.want || admin != tc.admin {
			t.Errorf("Map(%q) = %q %v %v, want %q admin=%v", tc.in, got, admin, err, tc.want, tc.admin)
		}
	}
	noDefault := identity.Mapping{Table: mapping.Table}
	if _, _, err := noDefault.Map([]string{"unknown"}); !errors.Is(err, identity.ErrNoGroup) {
		t.Fatalf("nothing mapped and no default: %v", err)
	}
	if _, _, err := noDefault.Map(nil); !errors.Is(err, identity.ErrNoGroup) {
		t.Fatalf("no claim and no default: %v", err)
	}
	if g, _, err := noDefault.Map([]string{"cn=physics"}); err != nil || strings.Join(g, ",") != "physics" {
		t.Fatalf("mapped without default: %v %v", g, err)
	}
}

func TestSignIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, st, c)
		p, err := svc.SignIn(ctx, identity.Claims{Issuer: "https://idp", Subject: "s1", UserID: "alice@example.org", Name: "Alice", Email: "alice@example.org", Groups: []string{"cn=physics"}})
		if err != nil {
			t.Fatal(err)
		}
		if p.ID != "alice@example.org" || p.Admin || strings.Join(p.Groups, ",") != "physics,staff" || !p.CreatedAt.Equal(c.Now()) {
			t.Fatalf("provisioned %+v", p)
		}
		c.Add(time.Hour)
		// Later sign-in: groups refreshed, id kept even if the e-mail changed.
		p2, err := svc.SignIn(ctx, identity.Claims{Issuer: "https://idp", Subject: "s1", UserID: "alice.new@example.org", Name: "Alice B", Email: "alice.new@example.org", Groups: []string{"timon-admins"}})
		if err != nil {
			t.Fatal(err)
		}
		if p2.ID != p.ID || !p2.Admin || !p2.CreatedAt.Equal(p.CreatedAt) || !p2.LastSeenAt.Equal(c.Now()) {
			t.Fatalf("refreshed %+v", p2)
		}
		got, err := svc.Person(ctx, p.ID)
		if err != nil || got.Name != "Alice B" || !got.Admin || strings.Join(got.Groups, ",") != "admin,staff" {
			t.Fatalf("stored %+v %v", got, err)
		}
		// Another account claiming the same user id is refused.
		if _, err := svc.SignIn(ctx, identity.Claims{Issuer: "https://idp", Subject: "s2", UserID: "alice@example.org"}); !errors.Is(err, identity.ErrUserIDTaken) {
			t.Fatalf("user id taken: %v", err)
		}
		// Missing claim: default group only.
		p3, err := svc.SignIn(ctx, identity.Claims{Issuer: "https://idp", Subject: "s3", UserID: "carol"})
		if err != nil || strings.Join(p3.Groups, ",") != "staff" || p3.Admin {
			t.Fatalf("no groups claim: %+v %v", p3, err)
		}
		people, err := svc.People(ctx)
		if err != nil || len(people) != 2 {
			t.Fatalf("people %v %v", people, err)
		}
		// Without a default group, nothing mapped is refused.
		strict, err := identity.New(ctx, st, identity.Options{Groups: identity.Mapping{Table: mapping.Table}, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := strict.SignIn(ctx, identity.Claims{Issuer: "https://idp", Subject: "s4", UserID: "dave", Groups: []string{"nothing"}}); !errors.Is(err, identity.ErrNoGroup) {
			t.Fatalf("strict: %v", err)
		}
		if _, err := strict.Person(ctx, "dave"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused person must not be provisioned: %v", err)
		}
	})
}

func TestSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, st, c)
		p, err := svc.SignIn(ctx, identity.Claims{Issuer: "i", Subject: "s", UserID: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		s1, err := svc.StartSession(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := svc.StartSession(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s1.ID == s2.ID || s1.Secret() == s2.Secret() || len(s1.Secret()) < 40 {
			t.Fatal("every sign-in must get a fresh session id and secret")
		}
		var stored string
		st.QueryRow(ctx, `SELECT hash FROM identity_sessions WHERE id = ?`, s1.ID).Scan(&stored)
		if stored == "" || strings.Contains(stored, s1.Secret()) {
			t.Fatal("the session secret must not be stored")
		}
		got, who, err := svc.Authenticate(ctx, s1.Secret())
		if err != nil || got.ID != s1.ID || who.ID != "alice" {
			t.Fatalf("authenticate: %v %v %v", got, who, err)
		}
		if _, _, err := svc.Authenticate(ctx, s1.Secret()+"x"); !errors.Is(err, identity.ErrNoSession) {
			t.Fatalf("unknown secret: %v", err)
		}
		// CSRF tokens are bound to their session.
		if !got.CheckCSRF(s1.CSRFToken()) || got.CheckCSRF(s2.CSRFToken()) || got.CheckCSRF("") || got.CheckCSRF(s1.CSRFToken()[1:]) {
			t.Fatal("CSRF token check")
		}
		// Logout ends only that session.
		if err := svc.EndSession(ctx, s1.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Authenticate(ctx, s1.Secret()); !errors.Is(err, identity.ErrSessionEnded) {
			t.Fatalf("after logout: %v", err)
		}
		if _, _, err := svc.Authenticate(ctx, s2.Secret()); err != nil {
			t.Fatalf("the other session: %v", err)
		}
		// Idle timeout, renewed by use.
		c.Add(identity.DefaultIdleTimeout - time.Minute)
		if _, _, err := svc.Authenticate(ctx, s2.Secret()); err != nil {
			t.Fatalf("used before the idle timeout: %v", err)
		}
		c.Add(identity.DefaultIdleTimeout - time.Minute)
		if _, _, err := svc.Authenticate(ctx, s2.Secret()); err != nil {
			t.Fatalf("use renews the idle timer: %v", err)
		}
		c.Add(identity.DefaultIdleTimeout)
		if _, _, err := svc.Authenticate(ctx, s2.Secret()); !errors.Is(err, identity.ErrSessionIdle) {
			t.Fatalf("idle: %v", err)
		}
		// Absolute expiry, however active.
		s3, _ := svc.StartSession(ctx, p.ID)
		for range 12 {
			c.Add(time.Hour)
			svc.Authenticate(ctx, s3.Secret())
		}
		if _, _, err := svc.Authenticate(ctx, s3.Secret()); !errors.Is(err, identity.ErrSessionExpired) {
			t.Fatalf("expired: %v", err)
		}
		s4, _ := svc.StartSession(ctx, p.ID)
		if err := svc.EndSessions(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Authenticate(ctx, s4.Secret()); !errors.Is(err, identity.ErrSessionEnded) {
			t.Fatalf("all sessions ended: %v", err)
		}
		if err := svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLogins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, st, c)
		state, err := svc.StartLogin(ctx, identity.Login{Nonce: "n", Verifier: "v", ReturnTo: "/console/"})
		if err != nil {
			t.Fatal(err)
		}
		var sealed string
		st.QueryRow(ctx, `SELECT sealed FROM identity_logins`).Scan(&sealed)
		if strings.Contains(sealed, "/console/") || sealed == "" {
			t.Fatal("the attempt must be sealed")
		}
		l, err := svc.FinishLogin(ctx, state)
		if err != nil || l.Nonce != "n" || l.Verifier != "v" || l.ReturnTo != "/console/" {
			t.Fatalf("finish: %+v %v", l, err)
		}
		if _, err := svc.FinishLogin(ctx, state); !errors.Is(err, identity.ErrUnknownLogin) {
			t.Fatalf("replayed state: %v", err)
		}
		if _, err := svc.FinishLogin(ctx, "forged"); !errors.Is(err, identity.ErrUnknownLogin) {
			t.Fatalf("forged state: %v", err)
		}
		old, _ := svc.StartLogin(ctx, identity.Login{})
		c.Add(identity.DefaultLoginLifetime)
		if _, err := svc.FinishLogin(ctx, old); !errors.Is(err, identity.ErrUnknownLogin) {
			t.Fatalf("old state: %v", err)
		}
	})
}

func TestDeviceFlow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, st, c)
		p, _ := svc.SignIn(ctx, identity.Claims{Issuer: "i", Subject: "s", UserID: "alice", Groups: []string{"cn=physics"}})
		if _, err := svc.StartDevice(ctx, "curl", "x"); !errors.Is(err, identity.ErrUnknownClient) {
			t.Fatalf("unknown client: %v", err)
		}
		d, err := svc.StartDevice(ctx, "timon-cli", "timon lsp on laptop")
		if err != nil {
			t.Fatal(err)
		}
		if len(d.DeviceCode) < 43 || len(d.UserCode) != 9 || d.UserCode[4] != '-' || d.Interval != 5*time.Second || d.ExpiresIn != 10*time.Minute {
			t.Fatalf("start: %+v", d)
		}
		for _, r := range strings.ReplaceAll(d.UserCode, "-", "") {
			if !strings.ContainsRune(identity.UserCodeAlphabet, r) {
				t.Fatalf("user code %s outside the alphabet", d.UserCode)
			}
		}
		poll := func(want error) *identity.DeviceGrant {
			t.Helper()
			g, err := svc.PollDevice(ctx, d.DeviceCode)
			if !errors.Is(err, want) {
				t.Fatalf("poll: got %v, want %v", err, want)
			}
			return g
		}
		poll(identity.ErrAuthorizationPending)
		c.Add(time.Second)
		poll(identity.ErrSlowDown)
		c.Add(5 * time.Second)
		poll(identity.ErrAuthorizationPending)

		dev, err := svc.Device(ctx, strings.ToLower(strings.ReplaceAll(d.UserCode, "-", " ")))
		if err != nil || dev.Client != "timon-cli" || dev.Name != "timon lsp on laptop" || dev.Status != "pending" {
			t.Fatalf("device: %+v %v", dev, err)
		}
		// Two approvals at once make one token.
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for range 2 {
			wg.Go(func() { errs <- svc.ApproveDevice(ctx, d.UserCode, p) })
		}
		wg.Wait()
		close(errs)
		var ok, decided int
		for err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, identity.ErrDeviceDecided):
				decided++
			default:
				t.Fatal(err)
			}
		}
		if ok != 1 || decided != 1 {
			t.Fatalf("%d approvals, %d refused", ok, decided)
		}
		if err := svc.DenyDevice(ctx, d.UserCode, p); !errors.Is(err, identity.ErrDeviceDecided) {
			t.Fatalf("deny after approve: %v", err)
		}
		var sealed string
		st.QueryRow(ctx, `SELECT sealed FROM identity_devices`).Scan(&sealed)
		if sealed == "" || strings.Contains(sealed, store.TokenPrefix) {
			t.Fatal("the waiting token must be sealed")
		}
		c.Add(5 * time.Second)
		// Polls at once: exactly one gets the token.
		grants := make(chan *identity.DeviceGrant, 4)
		for range 4 {
			wg.Go(func() {
				g, err := svc.PollDevice(ctx, d.DeviceCode)
				if err == nil {
					grants <- g
				} else if !errors.Is(err, identity.ErrExpiredToken) && !errors.Is(err, identity.ErrSlowDown) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		close(grants)
		var got []*identity.DeviceGrant
		for g := range grants {
			got = append(got, g)
		}
		if len(got) != 1 {
			t.Fatalf("%d polls got the token, want exactly 1", len(got))
		}
		g := got[0]
		tok, err := st.LookupToken(ctx, g.Token)
		if err != nil || tok.UserID != "alice" || tok.ID != g.TokenID || g.UserID != "alice" || strings.Join(tok.Scope, ",") != "lsp" ||
			strings.Join(tok.Groups, ",") != "physics,staff" || !tok.ExpiresAt.Equal(c.Now().Add(-5*time.Second).Add(identity.DefaultDeviceTokenLife)) || tok.Name != "timon lsp on laptop" {
			t.Fatalf("token %+v %v (grant %+v)", tok, err, g)
		}
		c.Add(5 * time.Second)
		poll(identity.ErrExpiredToken)
		if _, err := svc.PollDevice(ctx, "nonsense"); !errors.Is(err, identity.ErrExpiredToken) {
			t.Fatalf("unknown device code: %v", err)
		}

		// Denied.
		d2, _ := svc.StartDevice(ctx, "vscode", "")
		if err := svc.DenyDevice(ctx, d2.UserCode, p); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.PollDevice(ctx, d2.DeviceCode); !errors.Is(err, identity.ErrAccessDenied) {
			t.Fatalf("denied: %v", err)
		}
		// Expired before a decision.
		d3, _ := svc.StartDevice(ctx, "vscode", "")
		c.Add(10 * time.Minute)
		if err := svc.ApproveDevice(ctx, d3.UserCode, p); !errors.Is(err, identity.ErrUnknownDevice) {
			t.Fatalf("approving an expired code: %v", err)
		}
		if _, err := svc.PollDevice(ctx, d3.DeviceCode); !errors.Is(err, identity.ErrExpiredToken) {
			t.Fatalf("expired: %v", err)
		}
		if _, err := svc.Device(ctx, "BCDF-GHJA"); !errors.Is(err, identity.ErrUnknownDevice) {
			t.Fatalf("a code outside the alphabet: %v", err)
		}
		if err := svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPendingDevices: only undecided, unexpired authorizations count, and
// the count stops at its limit.
func TestPendingDevices(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, st, c)
		p, _ := svc.SignIn(ctx, identity.Claims{Issuer: "i", Subject: "s", UserID: "alice", Groups: []string{"cn=physics"}})
		count := func(limit, want int) {
			t.Helper()
			if n, err := svc.PendingDevices(ctx, limit); err != nil || n != want {
				t.Fatalf("PendingDevices(%d) = %d, %v; want %d", limit, n, err, want)
			}
		}
		count(10, 0)
		if _, err := svc.StartDevice(ctx, "vscode", ""); err != nil {
			t.Fatal(err)
		}
		c.Add(6 * time.Minute)
		for range 3 {
			if _, err := svc.StartDevice(ctx, "timon-cli", ""); err != nil {
				t.Fatal(err)
			}
		}
		count(10, 4)
		count(2, 2)
		denied, _ := svc.StartDevice(ctx, "vscode", "")
		if err := svc.DenyDevice(ctx, denied.UserCode, p); err != nil {
			t.Fatal(err)
		}
		count(10, 4)
		c.Add(5 * time.Minute) // the first one expires
		count(10, 3)
	})
}

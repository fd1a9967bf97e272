package quota_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/quota"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/postgres"
	"timon.dev/timon/core/store/storetest"
)

// t0 is mid-minute, mid-day, mid-month.
var t0 = time.Date(2026, 3, 14, 10, 15, 42, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

func newQuota(t testing.TB, st *store.Store, clk *clock, opts ...quota.Options) *quota.Quota {
	t.Helper()
	q, err := quota.New(context.Background(), st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	q.SetClock(clk.Now)
	return q
}

// each runs f on SQLite, PostgreSQL, and two PostgreSQL stores on one schema
// (two replicas); qs holds one Quota per replica, all sharing budgets.
func each(t *testing.T, clk *clock, f func(t *testing.T, qs []*quota.Quota)) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f(t, []*quota.Quota{newQuota(t, st, clk)})
	})
	t.Run("postgres-two-replicas", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		var qs []*quota.Quota
		for range 2 {
			st, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			qs = append(qs, newQuota(t, st, clk))
		}
		f(t, qs)
	})
}

func wantQuotaError(t *testing.T, err error, retryAt time.Time, words ...string) {
	t.Helper()
	var qe *core.Error
	if !errors.As(err, &qe) || qe.Kind != core.KindQuota {
		t.Fatalf("got %v, want a quota error", err)
	}
	if !qe.RetryAt.Equal(retryAt) {
		t.Fatalf("RetryAt %v, want %v (%s)", qe.RetryAt, retryAt, qe.Message)
	}
	for _, w := range words {
		if !strings.Contains(qe.Message, w) {
			t.Fatalf("message %q does not mention %q", qe.Message, w)
		}
	}
}

func usage(t *testing.T, q *quota.Quota, key string) *quota.Usage {
	t.Helper()
	u, err := q.Usage(context.Background(), quota.Subject{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustReserve(t *testing.T, q *quota.Quota, subs []quota.Subject, est int) *quota.Reservation {
	t.Helper()
	r, err := q.Reserve(context.Background(), subs, est)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func user(name string, l quota.Limits) quota.Subject {
	return quota.Subject{Key: "user:" + name, Limits: l}
}
func group(name string, l quota.Limits) quota.Subject {
	return quota.Subject{Key: "group:" + name, Limits: l}
}

func TestRequestsPerMinute(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		clk := newClock(t0)
		q := newQuota(t, st, clk)
		ctx := context.Background()
		alice := []quota.Subject{user("alice", quota.Limits{RequestsPerMinute: 2})}
		for range 2 {
			mustReserve(t, q, alice, 10).Settle(ctx, 5)
		}
		_, err := q.Reserve(ctx, alice, 10)
		wantQuotaError(t, err, time.Date(2026, 3, 14, 10, 16, 0, 0, time.UTC),
			"requests per minute for user alice", "2 of 2", "resets at 2026-03-14 10:16 UTC")
		if u := usage(t, q, "user:alice"); u.RequestsThisMinute != 2 || u.TokensToday != 10 {
			t.Fatalf("a refused request was counted: %+v", u)
		}
		clk.Set(time.Date(2026, 3, 14, 10, 16, 0, 0, time.UTC))
		mustReserve(t, q, alice, 10).Settle(ctx, 5)
		if u := usage(t, q, "user:alice"); u.RequestsThisMinute != 1 {
			t.Fatalf("the minute did not reset: %+v", u)
		}
	})
}

func TestTokensPerDay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		clk := newClock(t0)
		q := newQuota(t, st, clk)
		ctx := context.Background()
		alice := []quota.Subject{user("alice", quota.Limits{TokensPerDay: 1000, TokensPerMonth: 100000})}
		mustReserve(t, q, alice, 400)
		mustReserve(t, q, alice, 400)
		_, err := q.Reserve(ctx, alice, 400)
		wantQuotaError(t, err, time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC),
			"tokens per day for user alice", "800 of 1,000", "needs up to 400", "resets at 2026-03-15 00:00 UTC")
		mustReserve(t, q, alice, 200) // exactly fills the day
		clk.Set(time.Date(2026, 3, 14, 23, 59, 59, 0, time.UTC))
		if _, err := q.Reserve(ctx, alice, 1); err == nil {
			t.Fatal("a full day accepted a request")
		}
		clk.Set(time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC))
		mustReserve(t, q, alice, 400)
		u := usage(t, q, "user:alice")
		if u.TokensToday != 400 || u.TokensThisMonth != 1400 {
			t.Fatalf("usage after the day rolled over: %+v", u)
		}
		if !u.DayResetsAt.Equal(time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC)) || !u.MonthResetsAt.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("resets: %+v", u)
		}
	})
}

func TestTokensPerMonth(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		clk := newClock(time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC))
		q := newQuota(t, st, clk)
		ctx := context.Background()
		physics := []quota.Subject{group("physics", quota.Limits{TokensPerMonth: 1000})}
		mustReserve(t, q, physics, 700)
		_, err := q.Reserve(ctx, physics, 301)
		wantQuotaError(t, err, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
			"tokens per month for group physics", "700 of 1,000", "resets at 2027-01-01 00:00 UTC")
		clk.Set(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
		mustReserve(t, q, physics, 1000)
	})
}

func TestConcurrentCap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		clk := newClock(t0)
		q := newQuota(t, st, clk)
		ctx := context.Background()
		alice := []quota.Subject{user("alice", quota.Limits{Concurrent: 2})}
		r1 := mustReserve(t, q, alice, 10)
		mustReserve(t, q, alice, 10)
		_, err := q.Reserve(ctx, alice, 10)
		wantQuotaError(t, err, t0.Add(quota.DefaultBusyRetry), "concurrent requests for user alice", "2 of 2 already in flight")
		if u := usage(t, q, "user:alice"); u.InFlight != 2 || u.RequestsThisMinute != 2 {
			t.Fatalf("usage: %+v", u)
		}
		if err := r1.Settle(ctx, 3); err != nil {
			t.Fatal(err)
		}
		mustReserve(t, q, alice, 10)
	})
}

func TestAllOrNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		clk := newClock(t0)
		q := newQuota(t, st, clk)
		ctx := context.Background()
		alice := user("alice", quota.Limits{RequestsPerMinute: 10, TokensPerDay: 10000, Concurrent: 1})
		physics := group("physics", quota.Limits{TokensPerDay: 1000})
		mustReserve(t, q, []quota.Subject{physics, user("bob", quota.Limits{})}, 900)
		_, err := q.Reserve(ctx, []quota.Subject{alice, physics}, 200)
		wantQuotaError(t, err, time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC), "tokens per day for group physics")
		if u := usage(t, q, "user:alice"); u.RequestsThisMinute != 0 || u.TokensToday != 0 || u.InFlight != 0 {
			t.Fatalf("alice was charged for a refused request: %+v", u)
		}
		if u := usage(t, q, "group:physics"); u.TokensToday != 900 {
			t.Fatalf("physics: %+v", u)
		}
		// The refusal that lasts longest is reported, the others mentioned.
		phys2 := group("physics", quota.Limits{TokensPerDay: 1000, RequestsPerMinute: 1})
		_, err = q.Reserve(ctx, []quota.Subject{alice, phys2}, 200)
		wantQuotaError(t, err, time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC), "tokens per day for group physics", "also over requests per minute for group physics")
		// Alice's slot was not taken by the refused requests.
		r := mustReserve(t, q, []quota.Subject{alice, physics}, 100)
		if u := usage(t, q, "user:alice"); u.RequestsThisMinute != 1 || u.TokensToday != 100 || u.InFlight != 1 {
			t.Fatalf("alice: %+v", u)
		}
		if err := r.Settle(ctx, 50); err != nil {
			t.Fatal(err)
		}
		if u := usage(t, q, "group:physics"); u.TokensToday != 950 || u.InFlight != 0 {
			t.Fatalf("physics: %+v", u)
		}
	})
}

func TestSettle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		clk := newClock(t0)
		q := newQuota(t, st, clk)
		ctx := context.Background()
		subs := []quota.Subject{user("alice", quota.Limits{TokensPerDay: 10000, Concurrent: 3}), group("physics", quota.Limits{TokensPerMonth: 100000})}
		check := func(day, month, inFlight int) {
			t.Helper()
			a, p := usage(t, q, "user:alice"), usage(t, q, "group:physics")
			if a.TokensToday != day || a.TokensThisMonth != month || a.InFlight != inFlight || p.TokensToday != day || p.TokensThisMonth != month {
				t.Fatalf("alice %+v, physics %+v; want day %d month %d in flight %d", a, p, day, month, inFlight)
			}
		}
		r := mustReserve(t, q, subs, 100)
		check(100, 100, 1)
		if err := r.Settle(ctx, 150); err != nil { // more than estimated
			t.Fatal(err)
		}
		check(150, 150, 0)
		r = mustReserve(t, q, subs, 100)
		if err := r.Settle(ctx, 30); err != nil { // less than estimated
			t.Fatal(err)
		}
		check(180, 180, 0)
		// Idempotent: a second Settle, or a Release after it, changes nothing.
		if err := r.Settle(ctx, 1000); err != nil {
			t.Fatal(err)
		}
		if err := r.Release(ctx); err != nil {
			t.Fatal(err)
		}
		check(180, 180, 0)
		// Release gives the estimate and the slot back, the request still counts.
		r = mustReserve(t, q, subs, 500)
		check(680, 680, 1)
		if err := r.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.Settle(ctx, 500); err != nil {
			t.Fatal(err)
		}
		check(180, 180, 0)
		if u := usage(t, q, "user:alice"); u.RequestsThisMinute != 3 {
			t.Fatalf("released requests must count per minute: %+v", u)
		}
		// Settling runs even when the request's context was canceled.
		r = mustReserve(t, q, subs, 100)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := r.Settle(cctx, 20); err != nil {
			t.Fatal(err)
		}
		check(200, 200, 0)
		// A nil reservation is a no-op.
		var nilRes *quota.Reservation
		if nilRes.Settle(ctx, 1) != nil || nilRes.Release(ctx) != nil {
			t.Fatal("nil reservation")
		}
	})
}

func TestSettleAfterRollover(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		clk := newClock(time.Date(2026, 3, 14, 23, 59, 30, 0, time.UTC))
		q := newQuota(t, st, clk)
		ctx := context.Background()
		alice := []quota.Subject{user("alice", quota.Limits{TokensPerDay: 1000})}
		r := mustReserve(t, q, alice, 400)
		clk.Set(time.Date(2026, 3, 15, 0, 0, 5, 0, time.UTC))
		r2 := mustReserve(t, q, alice, 300)
		if err := r.Settle(ctx, 900); err != nil {
			t.Fatal(err)
		}
		// The new day is not charged for yesterday's request; the month is.
		if u := usage(t, q, "user:alice"); u.TokensToday != 300 || u.TokensThisMonth != 1200 {
			t.Fatalf("usage: %+v", u)
		}
		r2.Settle(ctx, 100)
		if u := usage(t, q, "user:alice"); u.TokensToday != 100 || u.TokensThisMonth != 1000 {
			t.Fatalf("usage: %+v", u)
		}
	})
}

func TestTooLarge(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		q := newQuota(t, st, newClock(t0))
		_, err := q.Reserve(context.Background(), []quota.Subject{user("alice", quota.Limits{TokensPerDay: 1000})}, 4096)
		var qe *core.Error
		if !errors.As(err, &qe) || qe.Kind != core.KindQuota || !qe.RetryAt.IsZero() ||
			!strings.Contains(qe.Message, "more than the whole tokens per day budget of 1,000 for user alice") {
			t.Fatalf("got %v", err)
		}
		if _, err := q.Reserve(context.Background(), []quota.Subject{{Key: " "}}, 1); core.ErrorKind(err) != core.KindInvalid {
			t.Fatalf("empty key: %v", err)
		}
	})
}

func TestLeaseExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		clk := newClock(t0)
		q := newQuota(t, st, clk, quota.Options{Lease: time.Minute, CleanupEvery: -1})
		ctx := context.Background()
		alice := []quota.Subject{user("alice", quota.Limits{Concurrent: 1, TokensPerDay: 1000})}
		lost := mustReserve(t, q, alice, 100) // its process "dies": never settled
		if _, err := q.Reserve(ctx, alice, 100); core.ErrorKind(err) != core.KindQuota {
			t.Fatalf("the slot is held: %v", err)
		}
		clk.Add(59 * time.Second)
		if _, err := q.Reserve(ctx, alice, 100); core.ErrorKind(err) != core.KindQuota {
			t.Fatalf("the lease has not expired yet: %v", err)
		}
		clk.Add(time.Second)
		r := mustReserve(t, q, alice, 100)
		if u := usage(t, q, "user:alice"); u.InFlight != 1 || u.TokensToday != 200 {
			t.Fatalf("usage: %+v", u) // the lost estimate stays counted
		}
		// A late settlement of the lost reservation corrects its tokens but
		// does not free the slot of the new one.
		if err := lost.Settle(ctx, 10); err != nil {
			t.Fatal(err)
		}
		if u := usage(t, q, "user:alice"); u.InFlight != 1 || u.TokensToday != 110 {
			t.Fatalf("usage: %+v", u)
		}
		r.Settle(ctx, 10)
		if u := usage(t, q, "user:alice"); u.InFlight != 0 || u.TokensToday != 20 {
			t.Fatalf("usage: %+v", u)
		}
	})
}

func count(t *testing.T, st *store.Store, table string) int {
	t.Helper()
	var n int
	if err := st.QueryRow(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCleanup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		clk := newClock(t0)
		q := newQuota(t, st, clk, quota.Options{Lease: time.Minute})
		ctx := context.Background()
		capped := func(name string) []quota.Subject { return []quota.Subject{user(name, quota.Limits{Concurrent: 5})} }
		mustReserve(t, q, capped("alice"), 10) // never settled
		mustReserve(t, q, capped("bob"), 10)   // never settled
		clk.Add(2 * time.Minute)
		mustReserve(t, q, capped("carol"), 10) // runs the periodic clean-up
		if n := count(t, st, "quota_leases"); n != 1 {
			t.Fatalf("%d leases after clean-up, want 1", n)
		}
		clk.Add(30 * time.Second)
		mustReserve(t, q, capped("dave"), 10) // too soon for another clean-up
		clk.Add(2 * time.Minute)
		if n := count(t, st, "quota_leases"); n != 2 {
			t.Fatalf("%d leases, want 2 (clean-up at most once a minute)", n)
		}
		// Next month: every counter row is stale.
		clk.Set(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
		mustReserve(t, q, capped("erin"), 10)
		if n := count(t, st, "quota_usage"); n != 1 {
			t.Fatalf("%d counter rows, want 1 (erin)", n)
		}
		if u := usage(t, q, "user:alice"); u.TokensThisMonth != 0 || u.InFlight != 0 {
			t.Fatalf("usage of a cleaned-up subject: %+v", u)
		}
		if err := q.Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// A replica whose clock lags behind must not reopen a window that another
// replica has already moved past.
func TestLaggingClock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ahead := newQuota(t, st, newClock(time.Date(2026, 3, 15, 0, 0, 1, 0, time.UTC)))
		behind := newQuota(t, st, newClock(time.Date(2026, 3, 14, 23, 59, 59, 0, time.UTC)))
		alice := []quota.Subject{user("alice", quota.Limits{TokensPerDay: 1000, RequestsPerMinute: 2})}
		mustReserve(t, ahead, alice, 600)
		_, err := behind.Reserve(context.Background(), alice, 600)
		wantQuotaError(t, err, time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC), "tokens per day")
		mustReserve(t, behind, alice, 400)
		if u := usage(t, ahead, "user:alice"); u.TokensToday != 1000 || u.RequestsThisMinute != 2 {
			t.Fatalf("usage: %+v", u)
		}
	})
}

// Many requests against one token budget: the budget is never exceeded (so
// a fortiori never by more than one estimate), and what is counted is
// exactly what was settled.
func TestConcurrentTokens(t *testing.T) {
	t.Parallel()
	const (
		limit      = 20000
		estimate   = 500
		goroutines = 50
		attempts   = 8
	)
	each(t, newClock(t0), func(t *testing.T, qs []*quota.Quota) {
		ctx := context.Background()
		var granted, refused atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := range goroutines {
			q := qs[g%len(qs)]
			subs := []quota.Subject{user(fmt.Sprint("u", g), quota.Limits{}), group("physics", quota.Limits{TokensPerDay: limit})}
			wg.Go(func() {
				for range attempts {
					r, err := q.Reserve(ctx, subs, estimate)
					if core.ErrorKind(err) == core.KindQuota {
						refused.Add(1)
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					actual := rand.IntN(estimate + 1)
					if err := r.Settle(ctx, actual); err != nil {
						errs <- err
						return
					}
					granted.Add(int64(actual))
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		u := usage(t, qs[0], "group:physics")
		if int64(u.TokensToday) != granted.Load() {
			t.Fatalf("counted %d tokens, settled %d", u.TokensToday, granted.Load())
		}
		if granted.Load() > limit+estimate || granted.Load() > limit {
			t.Fatalf("granted %d tokens over a budget of %d", granted.Load(), limit)
		}
		if refused.Load() == 0 || granted.Load() < limit/2 {
			t.Fatalf("the test did not reach the limit: granted %d, refused %d", granted.Load(), refused.Load())
		}
		var users int
		for g := range goroutines {
			users += usage(t, qs[0], fmt.Sprint("user:u", g)).TokensToday
		}
		if int64(users) != granted.Load() {
			t.Fatalf("users counted %d tokens, the group %d: not all or nothing", users, granted.Load())
		}
	})
}

func TestConcurrentRequestsPerMinute(t *testing.T) {
	t.Parallel()
	const limit = 37
	each(t, newClock(t0), func(t *testing.T, qs []*quota.Quota) {
		ctx := context.Background()
		var granted atomic.Int64
		var wg sync.WaitGroup
		for g := range 50 {
			q := qs[g%len(qs)]
			subs := []quota.Subject{user(fmt.Sprint("u", g), quota.Limits{RequestsPerMinute: 1000}), group("physics", quota.Limits{RequestsPerMinute: limit})}
			wg.Go(func() {
				for range 2 {
					r, err := q.Reserve(ctx, subs, 10)
					if err != nil {
						if core.ErrorKind(err) != core.KindQuota {
							t.Error(err)
						}
						continue
					}
					granted.Add(1)
					if err := r.Settle(ctx, 5); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if granted.Load() != limit {
			t.Fatalf("granted %d requests in one minute, limit %d", granted.Load(), limit)
		}
		if u := usage(t, qs[0], "group:physics"); u.RequestsThisMinute != limit {
			t.Fatalf("usage: %+v", u)
		}
		var users int
		for g := range 50 {
			users += usage(t, qs[0], fmt.Sprint("user:u", g)).RequestsThisMinute
		}
		if users != limit {
			t.Fatalf("users counted %d requests, want %d", users, limit)
		}
	})
}

func TestConcurrencyCapExact(t *testing.T) {
	t.Parallel()
	const limit = 5
	each(t, newClock(t0), func(t *testing.T, qs []*quota.Quota) {
		ctx := context.Background()
		alice := []quota.Subject{user("alice", quota.Limits{Concurrent: limit})}
		// Everyone asks at once and nobody finishes: exactly the cap gets in.
		var mu sync.Mutex
		var held []*quota.Reservation
		var wg sync.WaitGroup
		for g := range 50 {
			wg.Go(func() {
				r, err := qs[g%len(qs)].Reserve(ctx, alice, 10)
				if err != nil {
					if core.ErrorKind(err) != core.KindQuota {
						t.Error(err)
					}
					return
				}
				mu.Lock()
				held = append(held, r)
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(held) != limit {
			t.Fatalf("%d requests in flight, cap %d", len(held), limit)
		}
		for _, r := range held {
			if err := r.Settle(ctx, 1); err != nil {
				t.Fatal(err)
			}
		}
		// Churn: requests come and go; never more than the cap at once.
		var live, peak, served atomic.Int64
		for g := range 20 {
			wg.Go(func() {
				for range 10 {
					r, err := qs[g%len(qs)].Reserve(ctx, alice, 10)
					if err != nil {
						if core.ErrorKind(err) != core.KindQuota {
							t.Error(err)
						}
						continue
					}
					n := live.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					served.Add(1)
					// The request's work: holding the slot makes requests overlap.
					time.Sleep(time.Millisecond)
					live.Add(-1) // before Settle frees the slot
					if err := r.Settle(ctx, 1); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if peak.Load() > limit || served.Load() < limit {
			t.Fatalf("peak %d in flight (cap %d), %d served", peak.Load(), limit, served.Load())
		}
		if u := usage(t, qs[0], "user:alice"); u.InFlight != 0 {
			t.Fatalf("slots leaked: %+v", u)
		}
	})
}

// BenchmarkReserveSettle measures one reservation and its settlement for a
// user (with a concurrency cap) and a shared group, from parallel callers:
// GOMAXPROCS of them, one (c1: lone requests), or 16 (c16: timon serve's
// benchmark); settled with Settle, or with SettleAsync (async: the engine's
// request path, flushed by Close at the end). It reports the pairs per
// second, the process's CPU time per pair, and the median and 99th
// percentile latency of one Reserve + Settle (or SettleAsync).
func BenchmarkReserveSettle(b *testing.B) {
	for _, backend := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}} {
		for _, mode := range []struct {
			callers int
			async   bool
		}{{0, false}, {1, false}, {16, false}, {1, true}, {16, true}} {
			callers := mode.callers
			name := backend.name
			if callers > 0 {
				name += fmt.Sprintf("/c%d", callers)
			}
			if mode.async {
				name += "/async"
			}
			b.Run(name, func(b *testing.B) {
				q, err := quota.New(context.Background(), backend.open(b))
				if err != nil {
					b.Fatal(err)
				}
				if callers > 0 {
					b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				}
				ctx := context.Background()
				var next atomic.Int64
				var mu sync.Mutex
				var lat []time.Duration
				cpu0 := cpuTime()
				b.ResetTimer()
				caller := func(more func() bool) {
					subs := []quota.Subject{
						user(fmt.Sprint("u", next.Add(1)), quota.Limits{RequestsPerMinute: 1 << 30, TokensPerDay: 1 << 40, Concurrent: 4}),
						group("physics", quota.Limits{TokensPerDay: 1 << 40, TokensPerMonth: 1 << 50}),
					}
					var mine []time.Duration
					defer func() {
						mu.Lock()
						lat = append(lat, mine...)
						mu.Unlock()
					}()
					for more() {
						start := time.Now()
						r, err := q.Reserve(ctx, subs, 1000)
						if err != nil {
							b.Error(err)
							return
						}
						if mode.async {
							r.SettleAsync(400)
						} else if err := r.Settle(ctx, 400); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(start))
					}
				}
				if callers == 1 {
					n := 0
					caller(func() bool { n++; return n <= b.N })
				} else {
					b.RunParallel(func(pb *testing.PB) { caller(pb.Next) })
				}
				if err := q.Close(); err != nil { // the settlements still queued
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reservations/s")
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
				if batches, ops := q.BatchStats(); batches > 0 {
					b.ReportMetric(float64(ops)/float64(batches), "ops/batch")
				}
				if len(lat) > 0 {
					slices.Sort(lat)
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
				}
			})
		}
	}
}

// Fail closed: when the store fails, nothing is admitted.
func TestStoreFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		q := newQuota(t, st, newClock(t0))
		alice := []quota.Subject{user("alice", quota.Limits{TokensPerDay: 1000})}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if r, err := q.Reserve(ctx, alice, 10); r != nil || core.ErrorKind(err) != core.KindCanceled {
			t.Fatalf("canceled: %v %v", r, err)
		}
		st.Close()
		r, err := q.Reserve(context.Background(), alice, 10)
		if r != nil || core.ErrorKind(err) != core.KindInternal {
			t.Fatalf("closed store: %v %v", r, err)
		}
		if _, err := q.Usage(context.Background(), alice[0]); core.ErrorKind(err) != core.KindInternal {
			t.Fatalf("closed store: %v", err)
		}
	})
}

// blockWriter makes the next quota batch wait until release is called: it
// holds the quota lock (store.Driver.LockQuota) in a transaction of its
// own, which on SQLite holds the write lock.
func blockWriter(t *testing.T, st *store.Store) (release func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := st.DB().BeginTx(ctx, nil) // on SQLite BEGIN IMMEDIATE
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Driver().LockQuota(ctx, tx); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	return func() { tx.Rollback() }
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// async runs f in a goroutine; its error arrives on the channel.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// Reservations refused inside a busy batch roll back alone: the others of
// the batch, before and after them, are committed.
func TestBatchRefusal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		q := newQuota(t, st, newClock(t0))
		ctx := context.Background()
		physics := group("physics", quota.Limits{TokensPerDay: 1000})
		capped := func(name string) []quota.Subject {
			return []quota.Subject{user(name, quota.Limits{Concurrent: 1}), physics}
		}
		e := mustReserve(t, q, capped("e"), 100)

		release := blockWriter(t, st)
		b0, o0 := q.BatchStats()
		var (
			mu  sync.Mutex
			res = map[string]*quota.Reservation{}
		)
		start := func(name string, est int) <-chan error {
			return async(func() error {
				r, err := q.Reserve(ctx, capped(name), est)
				if err == nil {
					mu.Lock()
					res[name] = r
					mu.Unlock()
				}
				return err
			})
		}
		// a's batch waits for the lock; the others queue behind it, in
		// this order, and make one batch.
		errA := start("a", 100)
		waitFor(t, "a's batch", func() bool { b, _ := q.BatchStats(); return b == b0+1 })
		errE := async(func() error { return e.Settle(ctx, 50) })
		waitFor(t, "e's settlement to queue", func() bool { return q.Queued() == 1 })
		var errs []<-chan error
		for i, r := range []struct {
			name string
			est  int
		}{
			{"b", 300}, // 150 (a 100, e 50) + 300: admitted
			{"c", 800}, // 450 + 800: refused by the group, after c's own row was counted
			{"d", 550}, // 450 + 550: exactly full, admitted
			{"b", 0},   // b's slot is taken by its reservation of this batch
		} {
			errs = append(errs, start(r.name, r.est))
			waitFor(t, "reservations to queue", func() bool { return q.Queued() == i+2 })
		}
		release()
		for _, ch := range []<-chan error{errA, errE, errs[0], errs[2]} {
			if err := <-ch; err != nil {
				t.Fatal(err)
			}
		}
		wantQuotaError(t, <-errs[1], time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC),
			"tokens per day for group physics", "450 of 1,000", "needs up to 800")
		wantQuotaError(t, <-errs[3], t0.Add(quota.DefaultBusyRetry), "concurrent requests for user b", "1 of 1 already in flight")
		if b, o := q.BatchStats(); b != b0+2 || o != o0+6 {
			t.Fatalf("%d batches of %d ops, want 2 of 6", b-b0, o-o0)
		}

		if u := usage(t, q, "group:physics"); u.TokensToday != 1000 || u.RequestsThisMinute != 4 {
			t.Fatalf("physics: %+v", u)
		}
		if u := usage(t, q, "user:c"); u.RequestsThisMinute != 0 || u.TokensToday != 0 || u.InFlight != 0 {
			t.Fatalf("c was charged for a refused request: %+v", u)
		}
		for name, want := range map[string][3]int{"a": {1, 100, 1}, "b": {1, 300, 1}, "d": {1, 550, 1}, "e": {1, 50, 0}} {
			u := usage(t, q, "user:"+name)
			if got := [3]int{u.RequestsThisMinute, u.TokensToday, u.InFlight}; got != want {
				t.Fatalf("%s: requests, tokens, in flight %v, want %v", name, got, want)
			}
		}
		// Settling the batch's reservations frees everything.
		for _, name := range []string{"a", "b", "d"} {
			if err := res[name].Settle(ctx, 0); err != nil {
				t.Fatal(err)
			}
		}
		if u := usage(t, q, "group:physics"); u.TokensToday != 50 || count(t, st, "quota_leases") != 0 {
			t.Fatalf("physics after settling: %+v", u)
		}
	})
}

// A caller that goes away does not hold up or break the batch: queued, its
// reservation never runs; already running, it is voided after the commit.
// Either way nothing stays counted.
func TestBatchCanceledWaiter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		q := newQuota(t, st, newClock(t0))
		ctx := context.Background()
		subs := func(name string) []quota.Subject {
			return []quota.Subject{user(name, quota.Limits{Concurrent: 1, RequestsPerMinute: 10}), group("physics", quota.Limits{TokensPerDay: 1000})}
		}
		release := blockWriter(t, st)
		defer func() {
			if release != nil {
				release()
			}
		}()
		b0, _ := q.BatchStats()

		// running: its batch waits for the lock.
		runningCtx, cancelRunning := context.WithCancel(ctx)
		errRunning := async(func() error { _, err := q.Reserve(runningCtx, subs("running"), 100); return err })
		waitFor(t, "the first batch", func() bool { b, _ := q.BatchStats(); return b == b0+1 })
		// queued: waits for the next batch, with stays.
		queuedCtx, cancelQueued := context.WithCancel(ctx)
		errQueued := async(func() error { _, err := q.Reserve(queuedCtx, subs("queued"), 100); return err })
		waitFor(t, "queued", func() bool { return q.Queued() == 1 })
		var stays *quota.Reservation
		errStays := async(func() (err error) { stays, err = q.Reserve(ctx, subs("stays"), 100); return err })
		waitFor(t, "stays", func() bool { return q.Queued() == 2 })

		// Both canceled callers return at once, while the store is blocked.
		for _, c := range []struct {
			cancel func()
			err    <-chan error
		}{{cancelQueued, errQueued}, {cancelRunning, errRunning}} {
			c.cancel()
			select {
			case err := <-c.err:
				if core.ErrorKind(err) != core.KindCanceled {
					t.Fatalf("got %v, want a canceled error", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a canceled caller waits for the batch")
			}
		}
		release()
		release = nil
		if err := <-errStays; err != nil {
			t.Fatal(err)
		}
		if !q.Idle(10 * time.Second) {
			t.Fatal("the writer did not finish")
		}
		for _, name := range []string{"running", "queued"} {
			if u := usage(t, q, "user:"+name); u.RequestsThisMinute != 0 || u.TokensToday != 0 || u.InFlight != 0 {
				t.Fatalf("%s was counted: %+v", name, u)
			}
		}
		if u := usage(t, q, "user:stays"); u.RequestsThisMinute != 1 || u.TokensToday != 100 || u.InFlight != 1 {
			t.Fatalf("stays: %+v", u)
		}
		if u := usage(t, q, "group:physics"); u.RequestsThisMinute != 1 || u.TokensToday != 100 {
			t.Fatalf("physics: %+v", u)
		}
		if err := stays.Settle(ctx, 10); err != nil {
			t.Fatal(err)
		}
		if u := usage(t, q, "group:physics"); u.TokensToday != 10 || count(t, st, "quota_leases") != 0 {
			t.Fatalf("physics: %+v", u)
		}
	})
}

// Subjects without any limit cost no database work at all.
func TestUnlimited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		q := newQuota(t, st, newClock(t0))
		ctx := context.Background()
		subs := []quota.Subject{user("alice", quota.Limits{}), group("physics", quota.Limits{})}
		for range 3 {
			r := mustReserve(t, q, subs, 100)
			if r.ID() == "" || r.Estimate() != 100 {
				t.Fatalf("reservation %q of %d", r.ID(), r.Estimate())
			}
			if err := r.Settle(ctx, 50); err != nil {
				t.Fatal(err)
			}
		}
		if n := count(t, st, "quota_usage"); n != 0 {
			t.Fatalf("%d counter rows for unlimited subjects", n)
		}
		if b, _ := q.BatchStats(); b != 0 {
			t.Fatalf("%d batches for unlimited subjects", b)
		}
		st.Close()
		r, err := q.Reserve(ctx, subs, 100)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Release(ctx); err != nil {
			t.Fatal(err)
		}
		// One limited subject among them: the store is needed.
		if _, err := q.Reserve(ctx, append(subs, user("bob", quota.Limits{Concurrent: 1})), 100); core.ErrorKind(err) != core.KindInternal {
			t.Fatalf("closed store: %v", err)
		}
	})
}

// stored reads a subject's tokens today and leases straight from the
// tables, without flushing the Quota's queued settlements as Usage does.
func stored(t *testing.T, st *store.Store, key string) (tokens, leases int) {
	t.Helper()
	ctx := context.Background()
	err := st.QueryRow(ctx, `SELECT day_tokens FROM quota_usage WHERE subject = ?`, key).Scan(&tokens)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.QueryRow(ctx, `SELECT COUNT(*) FROM quota_leases WHERE subject = ?`, key).Scan(&leases); err != nil {
		t.Fatal(err)
	}
	return tokens, leases
}

// SettleAsync returns at once; Close commits what is queued, and settles
// synchronously from then on.
func TestSettleAsync(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		q := newQuota(t, st, newClock(t0), quota.Options{SettleDelay: time.Hour})
		ctx := context.Background()
		alice := []quota.Subject{user("alice", quota.Limits{TokensPerDay: 1000, Concurrent: 1})}
		r := mustReserve(t, q, alice, 100)
		r.SettleAsync(30)
		if tokens, leases := stored(t, st, "user:alice"); tokens != 100 || leases != 1 || q.Queued() != 1 {
			t.Fatalf("settled before any commit: %d tokens, %d leases, %d queued", tokens, leases, q.Queued())
		}
		// Only the first settlement counts.
		r.SettleAsync(999)
		if err := r.Settle(ctx, 999); err != nil {
			t.Fatal(err)
		}
		if err := r.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		if tokens, leases := stored(t, st, "user:alice"); tokens != 30 || leases != 0 || q.Queued() != 0 {
			t.Fatalf("after Close: %d tokens, %d leases, %d queued", tokens, leases, q.Queued())
		}
		// After Close, SettleAsync settles before it returns.
		r = mustReserve(t, q, alice, 100)
		r.SettleAsync(20)
		if tokens, leases := stored(t, st, "user:alice"); tokens != 50 || leases != 0 {
			t.Fatalf("after Close: %d tokens, %d leases", tokens, leases)
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		var nilRes *quota.Reservation
		nilRes.SettleAsync(1)
	})
}

// Queued settlements share a commit: with each other, and with the next
// reservation, which they run before, so that the slot they free is free
// for it. Another Quota (replica) sees the slot taken until they commit.
func TestSettleAsyncBatched(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		clk := newClock(t0)
		q := newQuota(t, st, clk, quota.Options{SettleDelay: time.Hour})
		replica := newQuota(t, st, clk)
		ctx := context.Background()
		physics := group("physics", quota.Limits{TokensPerDay: 10000})
		capped := func(name string) []quota.Subject {
			return []quota.Subject{user(name, quota.Limits{Concurrent: 1}), physics}
		}
		var rs []*quota.Reservation
		for _, name := range []string{"a", "b", "c", "d"} {
			rs = append(rs, mustReserve(t, q, capped(name), 100))
		}
		b0, o0 := q.BatchStats()
		for _, r := range rs[:3] {
			r.SettleAsync(10)
		}
		if err := q.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if b, o := q.BatchStats(); b != b0+1 || o != o0+3 {
			t.Fatalf("%d batches of %d ops, want 1 of 3", b-b0, o-o0)
		}
		if u := usage(t, q, "group:physics"); u.TokensToday != 130 || count(t, st, "quota_leases") != 1 {
			t.Fatalf("physics after Flush: %+v", u)
		}

		// d's settlement waits for the next reservation; d's slot is then
		// free for it, in the same transaction.
		rs[3].SettleAsync(10)
		if _, err := replica.Reserve(ctx, capped("d"), 100); core.ErrorKind(err) != core.KindQuota {
			t.Fatalf("another replica got d's slot before the settlement committed: %v", err)
		}
		b0, o0 = q.BatchStats()
		again := mustReserve(t, q, capped("d"), 100)
		if b, o := q.BatchStats(); b != b0+1 || o != o0+2 {
			t.Fatalf("%d batches of %d ops, want 1 of 2", b-b0, o-o0)
		}
		if tokens, leases := stored(t, st, "user:d"); tokens != 110 || leases != 1 {
			t.Fatalf("d: %d tokens, %d leases", tokens, leases)
		}
		again.SettleAsync(0)
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		if u := usage(t, replica, "group:physics"); u.TokensToday != 40 || count(t, st, "quota_leases") != 0 {
			t.Fatalf("physics after Close: %+v", u)
		}
	})
}

// Without a reservation to share its commit, a settlement commits by
// itself once Options.SettleDelay has passed.
func TestSettleAsyncDelay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		for _, delay := range []time.Duration{-1, 20 * time.Millisecond} {
			q := newQuota(t, st, newClock(t0), quota.Options{SettleDelay: delay})
			alice := []quota.Subject{user("alice", quota.Limits{TokensPerDay: 1000, Concurrent: 1})}
			start := time.Now()
			mustReserve(t, q, alice, 100).SettleAsync(0)
			waitFor(t, "the settlement", func() bool { _, leases := stored(t, st, "user:alice"); return leases == 0 })
			if delay > 0 && time.Since(start) < delay {
				t.Fatalf("committed after %v, before the delay of %v", time.Since(start), delay)
			}
			if !q.Idle(10 * time.Second) {
				t.Fatal("the writer did not stop")
			}
		}
	})
}

// A settlement that cannot be committed is reported by the next Flush (and
// only it); the estimate stays counted and the lease expires.
func TestSettleAsyncFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		q := newQuota(t, st, newClock(t0), quota.Options{SettleDelay: time.Hour})
		r := mustReserve(t, q, []quota.Subject{user("alice", quota.Limits{Concurrent: 1})}, 100)
		r.SettleAsync(10)
		st.Close()
		if err := q.Flush(context.Background()); core.ErrorKind(err) != core.KindInternal || !strings.Contains(err.Error(), "1 quota settlements failed") {
			t.Fatalf("got %v", err)
		}
		if err := q.Close(); err != nil {
			t.Fatalf("reported twice: %v", err)
		}
	})
}

// Requests that settle asynchronously never hold more slots than the cap
// (a slot is freed when its settlement commits), and what is counted in
// the end is exactly what was settled.
func TestConcurrentSettleAsync(t *testing.T) {
	t.Parallel()
	const limit = 5
	each(t, newClock(t0), func(t *testing.T, qs []*quota.Quota) {
		ctx := context.Background()
		alice := []quota.Subject{user("alice", quota.Limits{Concurrent: limit, TokensPerDay: 1 << 30})}
		var live, peak, served, settled atomic.Int64
		var wg sync.WaitGroup
		for g := range 20 {
			wg.Go(func() {
				for range 10 {
					r, err := qs[g%len(qs)].Reserve(ctx, alice, 10)
					if err != nil {
						if core.ErrorKind(err) != core.KindQuota {
							t.Error(err)
						}
						continue
					}
					n := live.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					served.Add(1)
					// The request's work: holding the slot makes requests overlap.
					time.Sleep(time.Millisecond)
					live.Add(-1) // before the settlement frees the slot
					actual := rand.IntN(11)
					settled.Add(int64(actual))
					r.SettleAsync(actual)
				}
			})
		}
		wg.Wait()
		for _, q := range qs {
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if peak.Load() > limit || served.Load() < limit {
			t.Fatalf("peak %d in flight (cap %d), %d served", peak.Load(), limit, served.Load())
		}
		if u := usage(t, qs[0], "user:alice"); u.InFlight != 0 || int64(u.TokensToday) != settled.Load() || int64(u.RequestsThisMinute) != served.Load() {
			t.Fatalf("usage %+v; settled %d tokens in %d requests", u, settled.Load(), served.Load())
		}
	})
}

// A reservation whose clock lags goes to the windows already open, and its
// settlement corrects them there.
func TestLaggingClockSettle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ahead := newQuota(t, st, newClock(time.Date(2026, 3, 15, 0, 0, 1, 0, time.UTC)))
		behind := newQuota(t, st, newClock(time.Date(2026, 3, 14, 23, 59, 59, 0, time.UTC)))
		alice := []quota.Subject{user("alice", quota.Limits{TokensPerDay: 1000, Concurrent: 2})}
		mustReserve(t, ahead, alice, 600)
		r := mustReserve(t, behind, alice, 400)
		if err := r.Settle(context.Background(), 100); err != nil {
			t.Fatal(err)
		}
		if u := usage(t, ahead, "user:alice"); u.TokensToday != 700 || u.InFlight != 1 {
			t.Fatalf("usage: %+v", u)
		}
	})
}

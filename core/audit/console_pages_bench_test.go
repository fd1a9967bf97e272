package audit_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/config"
	"timon.dev/timon/core/identity"
	"timon.dev/timon/core/quota"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
	"timon.dev/timon/webhooks/console"
)

// BenchmarkConsolePages times the console's pages, server side, on the
// journal of BenchmarkConsole (a million entries, TIMON_BENCH_ENTRIES), on
// SQLite and PostgreSQL: each page handler answers a signed-in person's
// GET (the session checked as for any page), p50 and p99 in milliseconds,
// printed in a table. The target is under 50 ms p99; nothing is asserted
// on times.
func BenchmarkConsolePages(b *testing.B) {
	n := audit.ConsoleEntries()
	stores := []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}}
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			st := s.open(b)
			ctx := context.Background()
			now := time.Now().UTC()
			start := time.Now()
			audit.SeedConsole(b, st, n, now)
			b.Logf("%s: %d entries seeded in %s", s.name, n, time.Since(start).Round(time.Second))
			j, err := audit.Open(ctx, st, audit.Options{SigningKey: audit.BenchSigningKey(), ContentKey: audit.BenchContentKey,
				HashKey: audit.BenchHashKey, CheckpointEvery: 1000, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			keys := &audit.KeySet{}
			if err := keys.Add(audit.TrustedKey{Public: audit.BenchPublicKey(), Source: "bench"}); err != nil {
				b.Fatal(err)
			}
			b.Setenv("TIMON_BENCH_OIDC_SECRET", "s3cret")
			cfg := &console.Config{Issuer: "http://127.0.0.1:9", ClientID: "timon", ClientSecretEnv: "TIMON_BENCH_OIDC_SECRET", PublicURL: "http://127.0.0.1:9",
				Groups: map[string][]string{"admins": {"admin"}}, DefaultGroup: "staff", AdminGroups: []string{"admin"}}
			var ch config.Check
			cfg.Check(&ch)
			if p := ch.Problems(); len(p) > 0 {
				b.Fatal(p)
			}
			id, err := identity.New(ctx, st, identity.Options{Groups: cfg.Mapping()})
			if err != nil {
				b.Fatal(err)
			}
			q, err := quota.New(ctx, st)
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			rd := &console.Reads{Store: st, Journal: j, ContentKey: audit.BenchContentKey, HashKeys: [][]byte{audit.BenchHashKey}, Keys: keys,
				Quota: q, Subjects: func(p core.Principal) []quota.Subject {
					return []quota.Subject{{Key: "user:" + p.UserID, Limits: quota.Limits{TokensPerDay: 200000, TokensPerMonth: 2000000}}}
				},
				Estimator: audit.NewEstimator(map[string]config.ModelEstimate{"mistral-small": {PricePer1kTokens: config.InOut{Input: 0.0001, Output: 0.0003}, Currency: "EUR", WhPer1kTokens: config.InOut{Input: 0.02, Output: 0.3}}})}
			con, err := console.New(console.Options{Config: cfg, Identity: id, Store: st, Logger: slog.New(slog.DiscardHandler),
				Mine: console.MineSections(rd), Admin: console.AdminSections(rd)})
			if err != nil {
				b.Fatal(err)
			}
			session := func(user string, groups ...string) string {
				p, err := id.SignIn(ctx, identity.Claims{Issuer: cfg.Issuer, Subject: "s-" + user, UserID: user, Groups: groups})
				if err != nil {
					b.Fatal(err)
				}
				ses, err := id.StartSession(ctx, p.ID)
				if err != nil {
					b.Fatal(err)
				}
				return ses.Secret()
			}
			// People of the seeded journal (user%05d), each with a session.
			people := make([]string, 64)
			users := make([]string, len(people))
			for i := range people {
				users[i] = fmt.Sprintf("user%05d", (i*7919)%5000)
				people[i] = session(users[i])
			}
			admin := session("admin@bench", "admins")
			// A request whose entry kept its content, for the detail page.
			recent, err := audit.List(ctx, st, audit.Filter{Since: now.Add(-time.Hour), Limit: 1})
			if err != nil || len(recent) == 0 {
				b.Fatalf("no recent entry: %v", err)
			}
			get := func(secret, path string) {
				req := httptest.NewRequest("GET", path, nil)
				req.AddCookie(&http.Cookie{Name: "timon_session", Value: secret})
				rec := httptest.NewRecorder()
				con.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `role="alert">`) && !strings.Contains(path, "show=") {
					b.Fatalf("%s: %d\n%s", path, rec.Code, rec.Body.String())
				}
			}
			pages := []struct {
				name string
				get  func(i int)
			}{
				{"mine", func(i int) { get(people[i%len(people)], "/console/") }},
				{"mine-older", func(i int) { get(people[i%len(people)], "/console/?before="+fmt.Sprint(n/2)) }},
				{"admin/usage-30d", func(int) { get(admin, "/console/admin/usage") }},
				{"admin/usage-90d", func(int) { get(admin, "/console/admin/usage?days=90") }},
				{"admin/top", func(int) { get(admin, "/console/admin/top") }},
				{"admin/top-cost", func(int) { get(admin, "/console/admin/top?order=cost") }},
				{"admin/governance-30d", func(int) { get(admin, "/console/admin/governance") }},
				{"admin/providers-30d", func(int) { get(admin, "/console/admin/providers") }},
				{"admin/costs-90d", func(int) { get(admin, "/console/admin/costs?days=90") }},
				{"admin/journal-24h", func(int) { get(admin, "/console/admin/journal") }},
				{"admin/journal-user", func(i int) { get(admin, "/console/admin/journal?user="+users[i%len(users)]) }},
				{"admin/journal-request", func(int) { get(admin, "/console/admin/journal?request_id="+recent[0].RequestID) }},
				{"admin/journal-detail", func(int) { get(admin, "/console/admin/journal?show="+recent[0].RequestID) }},
			}
			var table []string
			for _, p := range pages {
				b.Run(p.name, func(b *testing.B) {
					times := make([]time.Duration, 0, b.N)
					for i := range b.N {
						t0 := time.Now()
						p.get(i)
						times = append(times, time.Since(t0))
					}
					slices.Sort(times)
					p50, p99 := times[len(times)/2], times[min(len(times)-1, len(times)*99/100)]
					b.ReportMetric(float64(p50.Microseconds())/1e3, "p50-ms")
					b.ReportMetric(float64(p99.Microseconds())/1e3, "p99-ms")
					line := fmt.Sprintf("%-8s %-24s p50 %7.2f ms  p99 %7.2f ms  (%d pages)", s.name, p.name,
						float64(p50.Microseconds())/1e3, float64(p99.Microseconds())/1e3, len(times))
					if i := slices.IndexFunc(table, func(l string) bool { return strings.HasPrefix(l, fmt.Sprintf("%-8s %-24s ", s.name, p.name)) }); i >= 0 {
						table[i] = line // the last run, with the largest b.N
					} else {
						table = append(table, line)
					}
				})
			}
			fmt.Printf("\nconsole pages on %s, %d entries (server time, signed in):\n%s\n", s.name, n, strings.Join(table, "\n"))
		})
	}
}

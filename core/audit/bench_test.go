package audit

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"timon.dev/timon/core/config"

	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

// benchStores opens the stores benchmarks run on.
var benchStores = []struct {
	name string
	open func(testing.TB) *store.Store
}{
	{"sqlite", storetest.SQLite},
	{"postgres", storetest.Postgres},
}

// BenchmarkAppend measures acknowledged appends per second with one and
// with 16 concurrent writers (group commit batches the latter). cpu-µs is
// the process's CPU time per append: on a shared machine, it tells the
// journal's cost from the wait for a core.
func BenchmarkAppend(b *testing.B) {
	for _, s := range benchStores {
		for _, writers := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/writers=%d", s.name, writers), func(b *testing.B) {
				st := s.open(b)
				j := openJournal(b, st, Options{SigningKey: testKey()})
				ctx := context.Background()
				var n atomic.Int64
				b.ResetTimer()
				cpu0 := cpuTime()
				start := time.Now()
				if writers == 1 {
					for i := range b.N {
						if err := j.Append(ctx, benchEntry(i), nil); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					procs := runtime.GOMAXPROCS(0)
					b.SetParallelism((writers + procs - 1) / procs)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := j.Append(ctx, benchEntry(int(n.Add(1))), nil); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				el := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/el.Seconds(), "appends/s")
				b.ReportMetric(float64(cpuTime()-cpu0)/1e3/float64(b.N), "cpu-µs/append")
				j.Close()
			})
		}
	}
}

// BenchmarkVerify measures entries verified per second on a journal of
// 200,000 entries with a checkpoint every 1000.
func BenchmarkVerify(b *testing.B) {
	const entries = 200_000
	for _, s := range benchStores {
		b.Run(s.name, func(b *testing.B) {
			st := s.open(b)
			bulkFill(b, st, entries, testKey(), 1000)
			ctx := context.Background()
			pub := testPub()
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now()
			for range b.N {
				r, err := Verify(ctx, st, pub)
				if err != nil || !r.OK || r.Entries != entries {
					b.Fatalf("verify: %v %v", r, err)
				}
			}
			el := time.Since(start)
			b.ReportMetric(float64(entries)*float64(b.N)/el.Seconds(), "entries/s")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(entries)/float64(b.N), "cpu-ns/entry")
		})
	}
}

// benchEntry is a realistic entry: stamped now, by one of 1000 users.
func benchEntry(i int) *Entry {
	e := sample(i)
	e.Time = time.Time{}
	e.UserID = fmt.Sprintf("user%03d", (i*7919)%1000)
	return e
}

// consoleEntries is the size of the journal BenchmarkConsole reads:
// TIMON_BENCH_ENTRIES overrides the million.
func consoleEntries() int {
	if s := os.Getenv("TIMON_BENCH_ENTRIES"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 1_000_000
}

// consoleUsers is the number of people of BenchmarkConsole's journal:
// TIMON_BENCH_USERS overrides the 5000.
var consoleUsers = func() int {
	if n, err := strconv.Atoi(os.Getenv("TIMON_BENCH_USERS")); err == nil && n > 0 {
		return n
	}
	return 5000
}()

// consoleEntry is entry i of n spread over the 90 days up to now:
// consoleUsers people in 40 groups, four integrations, three models on two providers,
// redactions, moderation findings, every outcome, and one in ten with
// its content kept.
func consoleEntry(i, n int, now time.Time) (*Entry, *Content) {
	h := uint64(i) * 0x9E3779B97F4A7C15
	pick := func(k int) int { h = h*6364136223846793005 + 1442695040888963407; return int(h>>33) % k }
	e := &Entry{
		Time:        now.Add(-90 * 24 * time.Hour).Add(time.Duration(float64(i) / float64(n) * float64(90*24*time.Hour))),
		UserID:      fmt.Sprintf("user%05d", pick(consoleUsers)),
		Groups:      []string{fmt.Sprintf("group%02d", pick(40)), "staff"},
		Integration: []string{"lsp", "api", "mattermost", "gitlab"}[pick(4)],
		Task:        []string{"complete", "ask", "review", "rewrite"}[pick(4)],
		Rule:        fmt.Sprintf("rule-%d", pick(6)),
		Decision:    DecisionAllow,
		Outcome:     OutcomeOK,
		Provider:    "local",
		Model:       []string{"mistral-small", "codestral", "mistral-large"}[pick(3)],
		TokensIn:    200 + pick(4000),
		TokensOut:   20 + pick(800),
		LatencyMS:   int64(80 + pick(6000)),
	}
	if e.Model == "mistral-large" {
		e.Provider = "cloud"
	}
	switch o := pick(100); {
	case o < 3:
		e.Outcome, e.Decision = OutcomeDenied, DecisionDeny
	case o < 5:
		e.Outcome = OutcomeQuotaExceeded
	case o < 7:
		e.Outcome = OutcomeProviderError
	case o < 8:
		e.Outcome = OutcomeBlocked
	}
	if pick(3) == 0 {
		e.Redactions = map[string]int{[]string{"email", "person", "iban", "api_key"}[pick(4)]: 1 + pick(3)}
	}
	if pick(20) == 0 {
		e.Moderation = []string{"in:health=warn", "out:selfharm=block", "in:violence_and_threats=log"}[pick(3)]
	}
	if pick(10) == 0 {
		e.ContentLevel = LevelFull
		return e, &Content{Sent: "Rewrite this for [PERSON_1]: the meeting moves to Thursday.", Returned: "Dear [PERSON_1], …"}
	}
	e.SentHash, e.ReturnedHash = HashContent(e.UserID), HashContent(e.Task)
	return e, nil
}

// seedConsole appends n entries through the writer's batches (the
// roll-ups with them), checkpoints every 1000.
func seedConsole(b *testing.B, st *store.Store, n int, now time.Time) {
	b.Helper()
	j, err := Open(context.Background(), st, Options{SigningKey: testKey(), ContentKey: testContentKey, HashKey: testHashKey, CheckpointEvery: 1000})
	if err != nil {
		b.Fatal(err)
	}
	j.Close() // its writer's work is done here, in this goroutine
	j = &Journal{st: st, opt: j.opt, log: slog.New(slog.DiscardHandler), aead: j.aead, kid: j.kid, hkid: j.hkid}
	defer j.dropConn()
	batch := make([]*pending, 0, maxBatch)
	commits := 0
	for i := 1; i <= n; i++ {
		e, c := consoleEntry(i, n, now)
		p, err := j.prepare(e, c)
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, p)
		if len(batch) == maxBatch || i == n {
			if err := j.commit(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
			// As the journal's WAL checkpoints would (SQLite).
			if commits++; commits%walCheckpointEvery == 0 {
				if err := st.Driver().WALCheckpoint(context.Background(), 0); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	if err := j.checkpointTail(); err != nil {
		b.Fatal(err)
	}
	if st.Dialect() == store.SQLite {
		if _, err := st.Exec(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := st.Exec(context.Background(), `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkConsole times every read of the console's pages on a journal
// of a million entries (TIMON_BENCH_ENTRIES), on SQLite and PostgreSQL:
// p50 and p99 in milliseconds per read, the target being under 50 ms p99.
func BenchmarkConsole(b *testing.B) {
	n := consoleEntries()
	for _, s := range benchStores {
		b.Run(s.name, func(b *testing.B) {
			st := s.open(b)
			now := time.Now().UTC()
			start := time.Now()
			seedConsole(b, st, n, now)
			b.Logf("%s: %d entries seeded in %s", s.name, n, time.Since(start).Round(time.Second))
			ctx := context.Background()
			keys := &KeySet{}
			keys.Add(TrustedKey{KeyID: KeyID(testPub()), Public: testPub()})
			month := now.AddDate(0, 0, -30)
			x := NewEstimator(map[string]config.ModelEstimate{
				"mistral-small": {PricePer1kTokens: config.InOut{Input: 0.0001, Output: 0.0003}, Currency: "EUR", WhPer1kTokens: config.InOut{Input: 0.02, Output: 0.3}},
			})
			user := func(i int) string { return fmt.Sprintf("user%05d", (i*7919)%consoleUsers) }
			reads := []struct {
				name string
				read func(i int) error
			}{
				{"person/usage", func(i int) error { _, err := UsageOf(ctx, st, user(i), now, x); return err }},
				{"person/requests", func(i int) error {
					_, err := RequestsOf(ctx, st, user(i), RequestsQuery{Limit: 20, ContentKey: testContentKey, HashKeys: [][]byte{testHashKey}}, x)
					return err
				}},
				{"person/requests-page2", func(i int) error {
					rs, err := RequestsOf(ctx, st, user(i), RequestsQuery{Limit: 20}, x)
					if err == nil && len(rs) > 0 {
						_, err = RequestsOf(ctx, st, user(i), RequestsQuery{Limit: 20, BeforeSeq: rs[len(rs)-1].Seq}, x)
					}
					return err
				}},
				{"admin/by-day-30d", func(int) error { _, err := UsageByDay(ctx, st, month, time.Time{}, x); return err }},
				{"admin/by-day-90d", func(int) error { _, err := UsageByDay(ctx, st, now.AddDate(0, 0, -90), time.Time{}, x); return err }},
				{"admin/by-group-30d", func(int) error { _, err := UsageBy(ctx, st, ByGroup, month, time.Time{}, x); return err }},
				{"admin/by-integration-30d", func(int) error { _, err := UsageBy(ctx, st, ByIntegration, month, time.Time{}, x); return err }},
				{"admin/by-model-30d", func(int) error { _, err := UsageBy(ctx, st, ByModel, month, time.Time{}, x); return err }},
				{"admin/top-consumers", func(int) error { _, err := TopConsumers(ctx, st, now, 20, ByTokens, x); return err }},
				{"admin/top-refused", func(int) error { _, err := TopConsumers(ctx, st, now, 20, ByQuotaRefusals, x); return err }},
				{"admin/quota-refusals-30d", func(int) error { _, err := QuotaRefusals(ctx, st, month, time.Time{}); return err }},
				{"admin/denials-by-rule-30d", func(int) error { _, err := DenialsByRule(ctx, st, month, time.Time{}); return err }},
				{"admin/redactions-30d", func(int) error { _, err := RedactionsByType(ctx, st, month, time.Time{}); return err }},
				{"admin/moderation-30d", func(int) error { _, err := ModerationFindings(ctx, st, month, time.Time{}); return err }},
				{"admin/models-health-30d", func(int) error { _, err := ModelsHealth(ctx, st, month, time.Time{}); return err }},
				{"admin/journal-summary", func(int) error { _, err := Summarize(ctx, st, keys); return err }},
				{"admin/journal-list-user", func(i int) error { _, err := List(ctx, st, Filter{UserID: user(i), Limit: 50}); return err }},
				{"admin/journal-list-last-hour", func(int) error {
					_, err := List(ctx, st, Filter{Since: now.Add(-time.Hour), Limit: 50})
					return err
				}},
			}
			var table []string
			for _, r := range reads {
				b.Run(r.name, func(b *testing.B) {
					times := make([]time.Duration, 0, b.N)
					for i := range b.N {
						t0 := time.Now()
						if err := r.read(i); err != nil {
							b.Fatal(err)
						}
						times = append(times, time.Since(t0))
					}
					slices.Sort(times)
					p50, p99 := times[len(times)/2], times[min(len(times)-1, len(times)*99/100)]
					b.ReportMetric(float64(p50.Microseconds())/1e3, "p50-ms")
					b.ReportMetric(float64(p99.Microseconds())/1e3, "p99-ms")
					if len(times) >= 100 {
						table = append(table, fmt.Sprintf("%-8s %-30s p50 %7.2f ms  p99 %7.2f ms  (%d reads)", s.name, r.name,
							float64(p50.Microseconds())/1e3, float64(p99.Microseconds())/1e3, len(times)))
					}
				})
			}
			fmt.Printf("\nconsole reads on %s, %d entries:\n%s\n", s.name, n, strings.Join(dedupLast(table), "\n"))
		})
	}
}

// dedupLast keeps, of the lines of each read, the last (the benchmark
// framework runs each several times, growing b.N).
func dedupLast(lines []string) []string {
	seen := map[string]int{}
	var out []string
	for _, l := range lines {
		k := strings.Join(strings.Fields(l)[:2], " ")
		if i, ok := seen[k]; ok {
			out[i] = l
			continue
		}
		seen[k] = len(out)
		out = append(out, l)
	}
	return out
}

package audit

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/config"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

// TestRequestsOfOnePerson: a person's requests are theirs only, newest
// first, paged; the content the journal kept is shown them as the model
// received it; a user id that looks like another's, or like SQL, matches
// nothing else.
func TestRequestsOfOnePerson(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		j := openJournal(t, st, Options{ContentKey: testContentKey, HashKey: testHashKey})
		users := []string{"alice", "bob", "alice ", "Alice", "' OR '1'='1", `alice"`, ""}
		for i := range 70 {
			u := users[i%len(users)]
			e := &Entry{UserID: u, Integration: "lsp", Task: "complete", Model: "small", Provider: "p",
				Decision: DecisionAllow, Outcome: OutcomeOK, TokensIn: 1000, TokensOut: 500, Redactions: map[string]int{"email": 1},
				ContentLevel: LevelFull}
			c := &Content{Sent: "prompt of " + u + " with [EMAIL_1]", Returned: "answer"}
			if i%3 == 0 {
				e.ContentLevel, c = LevelHashes, nil
			}
			if err := j.Append(ctx, e, c); err != nil {
				t.Fatal(err)
			}
		}
		x := NewEstimator(map[string]config.ModelEstimate{"small": {
			PricePer1kTokens: config.InOut{Input: 0.002, Output: 0.006}, Currency: "EUR", WhPer1kTokens: config.InOut{Input: 0.1, Output: 1}}})
		for _, u := range users[:len(users)-1] {
			var all []Request
			q := RequestsQuery{Limit: 4, ContentKey: testContentKey, HashKeys: [][]byte{testHashKey}}
			for {
				page, err := RequestsOf(ctx, st, u, q, x)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				all = append(all, page...)
				q.BeforeSeq = page[len(page)-1].Seq
			}
			if len(all) != 10 {
				t.Fatalf("%q has %d requests, want 10", u, len(all))
			}
			for i, r := range all {
				if i > 0 && r.Seq >= all[i-1].Seq {
					t.Fatalf("%q: not newest first", u)
				}
				if r.Redactions["email"] != 1 || r.Estimate.Cost["EUR"] != 0.005 || r.Estimate.Wh != 0.6 {
					t.Errorf("%q: request %+v", u, r)
				}
				switch r.ContentLevel {
				case LevelFull:
					if r.Content == nil || r.Content.Sent != "prompt of "+u+" with [EMAIL_1]" || r.ContentNote != noteRedacted {
						t.Errorf("%q: content %+v (%s)", u, r.Content, r.ContentNote)
					}
				default:
					if r.Content != nil || !strings.Contains(r.ContentNote, "not kept") {
						t.Errorf("%q: content %+v (%s) of an entry with level %s", u, r.Content, r.ContentNote, r.ContentLevel)
					}
				}
			}
			// Without the key, no content, and a note why.
			page, err := RequestsOf(ctx, st, u, RequestsQuery{Limit: 100}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page {
				if r.Content != nil || (r.ContentLevel == LevelFull && r.ContentNote != noteNoKey) {
					t.Errorf("%q without the key: %+v", u, r)
				}
			}
			p, err := UsageOf(ctx, st, u, time.Now(), x)
			if err != nil {
				t.Fatal(err)
			}
			if p.Today.Requests != 10 || p.Month.TokensIn != 10_000 || p.ByIntegration["lsp"].Requests != 10 || p.Month.Redactions != 10 ||
				p.Month.Estimate.Cost["EUR"] != 0.05 || math.Abs(p.Month.Estimate.Wh-6) > 1e-9 {
				t.Errorf("%q: usage %+v", u, p)
			}
		}
		top, err := TopConsumers(ctx, st, time.Now(), 3, ByTokens, x)
		if err != nil || len(top) != 3 {
			t.Fatalf("top consumers: %+v %v", top, err)
		}
		for _, c := range top {
			if c.TokensIn != 10_000 || c.Estimate.Cost["EUR"] != 0.05 || math.Abs(c.Estimate.Wh-6) > 1e-9 {
				t.Errorf("top consumer %+v", c)
			}
		}
		if _, err := RequestsOf(ctx, st, "", RequestsQuery{}, nil); err == nil {
			t.Error("the requests of no user were read")
		}
		if _, err := UsageOf(ctx, st, "", time.Now(), nil); err == nil {
			t.Error("the usage of no user was read")
		}
		if rs, err := RequestsOf(ctx, st, "mallory", RequestsQuery{}, nil); err != nil || len(rs) != 0 {
			t.Errorf("an unknown user has requests: %v %v", rs, err)
		}
	})
}

// TestReadsUseTheirIndexes: a person's requests are read through the
// index on their user id, top consumers from the end of the index on
// tokens (or on quota refusals), not by scanning.
func TestReadsUseTheirIndexes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		openJournal(t, st, Options{}).Close()
		conn, err := st.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		explain := `EXPLAIN QUERY PLAN `
		if st.Dialect() == store.Postgres {
			explain = `EXPLAIN `
			// The planner prefers a scan (and a sort) of an empty table:
			// say it may not.
			for _, set := range []string{`SET enable_seqscan = off`, `SET enable_bitmapscan = off`} {
				if _, err := conn.ExecContext(ctx, set); err != nil {
					t.Fatal(err)
				}
			}
		}
		for q, index := range map[string]string{
			`SELECT e.seq FROM audit_entries e WHERE ` + jsonField(st, "user_id") + ` = 'alice' ORDER BY e.seq DESC LIMIT 20`:         "audit_entries_user",
			`SELECT user_id FROM audit_usage_monthly WHERE month_us = 1 ORDER BY tokens DESC LIMIT 20`:                                "audit_usage_monthly_tokens",
			`SELECT user_id FROM audit_usage_monthly WHERE month_us = 1 AND quota_refusals > 0 ORDER BY quota_refusals DESC LIMIT 20`: "audit_usage_monthly_refused",
		} {
			rows, err := conn.QueryContext(ctx, explain+q)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			var plan []string
			for rows.Next() {
				v := make([]any, len(cols))
				p := make([]any, len(cols))
				for i := range v {
					p[i] = &v[i]
				}
				rows.Scan(p...)
				for _, x := range v {
					switch x := x.(type) {
					case string:
						plan = append(plan, x)
					case []byte:
						plan = append(plan, string(x))
					}
				}
			}
			rows.Close()
			if s := strings.Join(plan, "\n"); !strings.Contains(s, index) || strings.Contains(s, "TEMP B-TREE") || strings.Contains(s, "Sort") {
				t.Errorf("%s: plan without %s, or sorting:\n%s", q, index, s)
			}
		}
	})
}

// TestEstimates: cost by currency and energy from per-1k-token figures,
// models without figures counted as not estimated.
func TestEstimates(t *testing.T) {
	x := NewEstimator(map[string]config.ModelEstimate{
		"small": {PricePer1kTokens: config.InOut{Input: 0.0002, Output: 0.0006}, Currency: "EUR",
			WhPer1kTokens: config.InOut{Input: 0.05, Output: 0.5}},
		"large": {PricePer1kTokens: config.InOut{Output: 0.01}, Currency: "USD"},
		"free":  {},
	})
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	e := x.Of("small", 1500, 500)
	if !near(e.Cost["EUR"], 0.0006) || !near(e.Wh, 0.325) || e.Unpriced != 0 || e.Unmetered != 0 {
		t.Errorf("small: %+v", e)
	}
	l := x.Of("large", 1000, 2000)
	if !near(l.Cost["USD"], 0.02) || l.Wh != 0 || l.Unmetered != 3000 || l.Unpriced != 0 {
		t.Errorf("large: %+v", l)
	}
	for _, m := range []string{"free", "unknown", ""} {
		if n := x.Of(m, 10, 20); n.Cost != nil || n.Wh != 0 || n.Unpriced != 30 || n.Unmetered != 30 {
			t.Errorf("%q: %+v", m, n)
		}
	}
	e.Add(l)
	e.Add(x.Of("small", 1000, 0))
	if !near(e.Cost["EUR"], 0.0008) || !near(e.Cost["USD"], 0.02) || !near(e.Wh, 0.375) || e.Unmetered != 3000 {
		t.Errorf("sum: %+v", e)
	}
	var none *Estimator
	if n := none.Of("small", 1, 1); n.Unpriced != 2 || n.Cost != nil {
		t.Errorf("no estimator: %+v", n)
	}
}

// TestPercentile: the quantiles of a histogram, within their bucket.
func TestPercentile(t *testing.T) {
	hist := make([]int64, latencyBuckets)
	if percentile(hist, 0.5) != 0 {
		t.Error("empty histogram")
	}
	hist[latencyBucket(250)] = 10 // 200–300 ms
	hist[latencyBucket(4000)] = 10
	if p := percentile(hist, 0.5); p < 200 || p > 300 {
		t.Errorf("p50 %d", p)
	}
	if p := percentile(hist, 0.95); p < 3000 || p > 5000 {
		t.Errorf("p95 %d", p)
	}
	hist[latencyBuckets-1] = 1000
	if p := percentile(hist, 0.95); p != 60_000 {
		t.Errorf("p95 over a minute: %d", p)
	}
}

// TestSummarize: the journal's size and latest checkpoint, checked
// against the trusted keys and its entry.
func TestSummarize(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		keys := &KeySet{}
		if err := keys.Add(TrustedKey{KeyID: KeyID(testPub()), Public: testPub()}); err != nil {
			t.Fatal(err)
		}
		openJournal(t, st, Options{}).Close()
		s, err := Summarize(ctx, st, keys)
		if err != nil || s.Entries != 0 || s.Checkpoint != nil || s.CheckpointOK {
			t.Fatalf("empty journal: %+v %v", s, err)
		}
		j := openJournal(t, st, Options{SigningKey: testKey(), CheckpointEvery: 5})
		fill(t, j, 12)
		s, err = Summarize(ctx, st, keys)
		if err != nil || s.Entries != 12 || s.Checkpoint == nil || s.Checkpoint.Seq != 12 || !s.CheckpointOK ||
			s.SinceCheckpoint != 0 || !strings.Contains(s.PublicKey, "PUBLIC KEY") {
			t.Fatalf("summary: %+v %v", s, err)
		}
		if s, _ := Summarize(ctx, st, &KeySet{}); s.CheckpointOK || s.CheckpointProblem == "" {
			t.Errorf("no trusted key: %+v", s)
		}
		if _, err := st.Exec(ctx, `UPDATE audit_entries SET hash = ? WHERE seq = 12`, strings.Repeat("0", 64)); err != nil {
			t.Fatal(err)
		}
		if s, _ := Summarize(ctx, st, keys); s.CheckpointOK || !strings.Contains(s.CheckpointProblem, "altered") {
			t.Errorf("altered entry: %+v", s)
		}
	})
}

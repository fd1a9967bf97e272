package audit

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

// randomEntry is an entry with random fields over two months, five users,
// groups with repeats or none, moderation findings with repeats, and every
// outcome.
func randomEntry(r *rand.Rand) *Entry {
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	day := time.Date(2025, 3, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(4)) // 30 and 31 March, 1 and 2 April
	e := &Entry{
		Time:        day.Add(time.Duration(r.Int64N(int64(24 * time.Hour)))),
		UserID:      pick("alice", "bob", "carol", "dave", "é\"'"),
		Integration: pick("lsp", "mattermost", "gitlab", "api"),
		Task:        pick("complete", "ask", "review"),
		Rule:        pick("", "r1", "r2"),
		Decision:    DecisionAllow,
		Outcome:     Outcomes[r.IntN(len(Outcomes))],
		TokensIn:    r.IntN(5000),
		TokensOut:   r.IntN(2000),
		LatencyMS:   r.Int64N(90_000),
	}
	if r.IntN(4) > 0 {
		e.Provider = pick("p1", "p2")
		e.Model = pick("small", "large", "code")
	}
	switch r.IntN(4) {
	case 0:
	case 1:
		e.Groups = []string{pick("physics", "chemistry")}
	default:
		e.Groups = []string{pick("physics", "chemistry", "staff"), pick("physics", "staff"), "physics"}
	}
	if r.IntN(2) == 0 {
		e.Redactions = map[string]int{pick("email", "iban", "api_key"): r.IntN(4), pick("email", "person"): 1 + r.IntN(3)}
	}
	if r.IntN(3) == 0 {
		f := []string{"in:health=warn", "out:selfharm=block", "in:error=allow", "untrusted:jailbreaking=warn"}
		e.Moderation = strings.Join([]string{f[r.IntN(4)], f[r.IntN(4)], f[r.IntN(4)]}, ";")
	}
	if e.Outcome == OutcomeDenied {
		e.Decision = DecisionDeny
	}
	return e
}

// expected adds up entries directly, the way each read of usage.go
// promises to, independently of the roll-ups.
type expected struct {
	byUserMonth  map[string]Totals // user|month
	byUserDay    map[string]Totals // user|day
	byUserInteg  map[string]Totals // user|month|integration
	denialsRule  map[string]int64
	modelReqs    map[string][3]int64 // provider|model: requests, ok, provider errors
	modelLatency map[string][]int64  // provider|model: latencies of answered requests
}

func expect(es []Entry) *expected {
	x := &expected{byUserMonth: map[string]Totals{}, byUserDay: map[string]Totals{}, byUserInteg: map[string]Totals{},
		denialsRule: map[string]int64{}, modelReqs: map[string][3]int64{}, modelLatency: map[string][]int64{}}
	add := func(m map[string]Totals, k string, e *Entry) {
		u := m[k]
		u.Requests++
		u.TokensIn += int64(e.TokensIn)
		u.TokensOut += int64(e.TokensOut)
		if e.Outcome == OutcomeDenied {
			u.Denials++
		}
		if e.Outcome == OutcomeQuotaExceeded {
			u.QuotaRefusals++
		}
		for _, n := range e.Redactions {
			u.Redactions += int64(n)
		}
		m[k] = u
	}
	for i := range es {
		e := &es[i]
		month, day := e.Time.Format("2006-01"), e.Time.Format(time.DateOnly)
		add(x.byUserMonth, e.UserID+"|"+month, e)
		add(x.byUserDay, e.UserID+"|"+day, e)
		add(x.byUserInteg, e.UserID+"|"+month+"|"+e.Integration, e)
		if e.Outcome == OutcomeDenied {
			x.denialsRule[e.Rule]++
		}
		if e.Model != "" {
			k := e.Provider + "|" + e.Model
			c := x.modelReqs[k]
			c[0]++
			switch e.Outcome {
			case OutcomeOK:
				c[1]++
				x.modelLatency[k] = append(x.modelLatency[k], e.LatencyMS)
			case OutcomeProviderError:
				c[2]++
			}
			x.modelReqs[k] = c
		}
	}
	return x
}

func counted(t *testing.T, a, b map[string]int64, what string) {
	t.Helper()
	if !maps.Equal(a, b) {
		t.Errorf("%s: roll-ups %v, entries %v", what, a, b)
	}
}

func countMap(cs []Count) map[string]int64 {
	m := map[string]int64{}
	for _, c := range cs {
		m[c.Key] = c.N
	}
	return m
}

// checkRollups compares every read of the roll-ups with a scan of the
// entries: StatsFor's, and expect's.
func checkRollups(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	var es []Entry
	if err := each(ctx, st, Filter{}, scan{noPrev: true}, func(e *Entry) error { es = append(es, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	s, err := StatsFor(ctx, st, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	x := expect(es)
	var none time.Time

	same := func(what string, u Totals, c *Counts) {
		t.Helper()
		if c == nil {
			c = &Counts{}
		}
		if u.Requests != c.Requests || u.TokensIn != c.TokensIn || u.TokensOut != c.TokensOut {
			t.Errorf("%s: roll-ups %d requests %d/%d tokens, entries %d %d/%d", what, u.Requests, u.TokensIn, u.TokensOut,
				c.Requests, c.TokensIn, c.TokensOut)
		}
	}
	days, err := UsageByDay(ctx, st, none, none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != len(s.ByDay) {
		t.Errorf("%d days in the roll-ups, %d in the entries", len(days), len(s.ByDay))
	}
	var total Totals
	for _, d := range days {
		c := s.ByDay[d.Day.Format(time.DateOnly)]
		same("day "+d.Day.Format(time.DateOnly), d.Totals, c)
		if c != nil && (d.Denials != c.Denials || d.QuotaRefusals != c.Outcomes[OutcomeQuotaExceeded]) {
			t.Errorf("day %s: %d denials %d refusals, entries %+v", d.Day, d.Denials, d.QuotaRefusals, c)
		}
		total.add(&d.Totals)
	}
	same("total", total, &s.Total)
	// One day of them, through the period's bounds.
	first := days[1].Day
	one, err := UsageByDay(ctx, st, first, first.AddDate(0, 0, 1), nil)
	if err != nil || len(one) != 1 || one[0].Day != first {
		t.Fatalf("one day: %+v %v", one, err)
	}
	for _, dim := range []Dimension{ByIntegration, ByGroup, ByOutcome, ByModel, ByTask, ByProvider} {
		ks, err := UsageBy(ctx, st, dim, none, none, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, k := range ks {
			got[k.Key] = k.Requests
			switch dim {
			case ByIntegration:
				same("integration "+k.Key, k.Totals, s.ByIntegration[k.Key])
			case ByGroup:
				same("group "+k.Key, k.Totals, s.ByGroup[k.Key])
			}
		}
		want := map[string]int64{}
		switch dim {
		case ByOutcome:
			want = s.Total.Outcomes
		case ByIntegration:
			for k, c := range s.ByIntegration {
				want[k] = c.Requests
			}
		case ByGroup:
			for k, c := range s.ByGroup {
				want[k] = c.Requests
			}
		case ByModel:
			for i := range es {
				want[es[i].Model]++
			}
		case ByTask:
			for i := range es {
				want[es[i].Task]++
			}
		case ByProvider:
			for i := range es {
				want[es[i].Provider]++
			}
		}
		counted(t, got, want, "requests by "+string(dim))
	}
	reds, err := RedactionsByType(ctx, st, none, none)
	if err != nil {
		t.Fatal(err)
	}
	wantReds := maps.Clone(s.Total.Redactions)
	maps.DeleteFunc(wantReds, func(_ string, n int64) bool { return n == 0 })
	counted(t, countMap(reds), wantReds, "redactions by type")
	fs, err := ModerationFindings(ctx, st, none, none)
	if err != nil {
		t.Fatal(err)
	}
	gotF := map[string]int64{}
	for _, f := range fs {
		gotF[f.Direction+":"+f.Category+"="+f.Action] = f.N
	}
	counted(t, gotF, s.Total.Moderation, "moderation findings")
	dr, err := DenialsByRule(ctx, st, none, none)
	if err != nil {
		t.Fatal(err)
	}
	counted(t, countMap(dr), x.denialsRule, "denials by rule")
	ref, err := QuotaRefusals(ctx, st, none, none)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Total != s.Total.Outcomes[OutcomeQuotaExceeded] {
		t.Errorf("quota refusals %d, entries %d", ref.Total, s.Total.Outcomes[OutcomeQuotaExceeded])
	}

	// People: their month, their day, their integrations; top consumers.
	for k, want := range x.byUserMonth {
		user, month, _ := strings.Cut(k, "|")
		m, _ := time.Parse("2006-01", month)
		p, err := UsageOf(ctx, st, user, m.AddDate(0, 0, 1), nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.Month.Requests != want.Requests || p.Month.TokensIn != want.TokensIn || p.Month.TokensOut != want.TokensOut ||
			p.Month.Denials != want.Denials || p.Month.QuotaRefusals != want.QuotaRefusals || p.Month.Redactions != want.Redactions {
			t.Errorf("%s in %s: roll-ups %+v, entries %+v", user, month, p.Month, want)
		}
		if d := x.byUserDay[user+"|"+m.AddDate(0, 0, 1).Format(time.DateOnly)]; p.Today.Requests != d.Requests || p.Today.TokensIn != d.TokensIn {
			t.Errorf("%s on the 2nd of %s: roll-ups %+v, entries %+v", user, month, p.Today, d)
		}
		for integ, u := range p.ByIntegration {
			if w := x.byUserInteg[user+"|"+month+"|"+integ]; u.Requests != w.Requests || u.TokensOut != w.TokensOut {
				t.Errorf("%s in %s on %s: roll-ups %+v, entries %+v", user, month, integ, u, w)
			}
		}
		for _, order := range []string{ByTokens, ByQuotaRefusals} {
			top, err := TopConsumers(ctx, st, m, 100, order, nil)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(top, func(c Consumer) bool { return c.UserID == user })
			if order == ByQuotaRefusals && want.QuotaRefusals == 0 {
				if i >= 0 {
					t.Errorf("%s, never refused in %s, among the most refused", user, month)
				}
				continue
			}
			if i < 0 || top[i].Requests != want.Requests || top[i].TokensIn+top[i].TokensOut != want.TokensIn+want.TokensOut {
				t.Errorf("top consumers by %s of %s: %+v, %s used %+v", order, month, top, user, want)
			}
		}
	}

	hs, err := ModelsHealth(ctx, st, none, none)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != len(x.modelReqs) {
		t.Errorf("%d models in the roll-ups, %d in the entries", len(hs), len(x.modelReqs))
	}
	for _, h := range hs {
		k := h.Provider + "|" + h.Model
		if w := x.modelReqs[k]; h.Requests != w[0] || h.Answered != w[1] || h.ProviderErrors != w[2] {
			t.Errorf("%s: roll-ups %+v, entries %v", k, h, w)
		}
		// The estimated median falls in the bucket of the true one.
		lat := slices.Sorted(slices.Values(x.modelLatency[k]))
		if len(lat) > 0 {
			med := lat[(len(lat)-1)/2]
			if b := latencyBucket(h.P50MS); b != latencyBucket(med) && b != latencyBucket(lat[len(lat)/2]) {
				t.Errorf("%s: p50 %d ms, the median of the entries %d ms", k, h.P50MS, med)
			}
		}
	}
}

// TestRollupsMatchTheEntries: after random writes by concurrent writers,
// several journals at once (as replicas), and retention, every read of the
// roll-ups equals a scan of the entries.
func TestRollupsMatchTheEntries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		opt := Options{ContentKey: testContentKey, HashKey: testHashKey, SigningKey: testKey()}
		j1, j2 := openJournal(t, st, opt), openJournal(t, st, opt)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 17))
				j := j1
				if w%2 == 1 {
					j = j2
				}
				for range 60 {
					e := randomEntry(r)
					var c *Content
					if r.IntN(3) == 0 {
						e.ContentLevel = LevelFull
						c = &Content{Sent: "sent", Returned: "returned"}
					}
					if err := j.Append(ctx, e, c); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := j1.Close(); err != nil {
			t.Fatal(err)
		}
		if err := j2.Close(); err != nil {
			t.Fatal(err)
		}
		checkRollups(t, st)
		n, err := ApplyRetention(ctx, st, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
		if err != nil || n == 0 {
			t.Fatalf("retention deleted %d contents (%v)", n, err)
		}
		// Retention deletes content, never entries: the counts stand.
		checkRollups(t, st)
	})
}

// dumpRollups returns every row of every roll-up, sorted.
func dumpRollups(t *testing.T, st *store.Store) []string {
	t.Helper()
	var out []string
	for _, tbl := range []*store.CountTable{dailyTable, usersTable, monthlyTable, groupsTable, countsTable} {
		cols := append(slices.Clone(tbl.Keys), tbl.Counts...)
		rows, err := st.Query(context.Background(), `SELECT `+strings.Join(cols, ", ")+` FROM `+tbl.Name)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			v := make([]any, len(cols))
			p := make([]any, len(cols))
			for i := range v {
				p[i] = &v[i]
			}
			if err := rows.Scan(p...); err != nil {
				t.Fatal(err)
			}
			s := tbl.Name
			for _, x := range v {
				if b, ok := x.([]byte); ok {
					x = string(b)
				}
				s += fmt.Sprintf("|%v", x)
			}
			out = append(out, s)
		}
		rows.Close()
	}
	slices.Sort(out)
	return out
}

// TestRollupsBackfilled: a journal written before migration 002 gets its
// roll-ups when it opens, in chunks, equal to those a journal keeps as it
// appends.
func TestRollupsBackfilled(t *testing.T) {
	defer func(n int64) { backfillChunk = n }(backfillChunk)
	backfillChunk = 37
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		// The journal as it was: migration 001 only.
		only001 := fstest.MapFS{}
		err := fs.WalkDir(migrations, ".", func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.Contains(p, "001_") {
				b, _ := fs.ReadFile(migrations, p)
				only001[p] = &fstest.MapFile{Data: b}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Migrate(ctx, "audit", only001); err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		var rows []store.JournalRow
		var es []*Entry
		for i := 1; i <= 300; i++ {
			n, err := normalize(randomEntry(r), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			row, err := encode(&n)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, store.JournalRow{Seq: int64(i), TimeUS: row.timeUS, Data: row.data, Hash: strings.Repeat("0", 64)})
			es = append(es, &n)
		}
		if err := st.Tx(ctx, func(tx *store.Tx) error { return st.Driver().AppendEntries(ctx, tx, rows) }); err != nil {
			t.Fatal(err)
		}
		// Upgraded: two processes open it at once, then one appends.
		var wg sync.WaitGroup
		js := make([]*Journal, 2)
		for i := range js {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j, err := Open(ctx, st, Options{})
				if err != nil {
					t.Error(err)
					return
				}
				js[i] = j
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		extra := randomEntry(r)
		if err := js[0].Append(ctx, extra, nil); err != nil {
			t.Fatal(err)
		}
		for _, j := range js {
			j.Close()
		}
		got := dumpRollups(t, st)

		// The same entries through a journal that kept its roll-ups.
		st2 := storetest.SQLite(t)
		j := openJournal(t, st2, Options{})
		for _, e := range append(es, extra) {
			e.Seq, e.Hash, e.PrevHash = 0, "", ""
			if err := j.Append(ctx, e, nil); err != nil {
				t.Fatal(err)
			}
		}
		j.Close()
		if want := dumpRollups(t, st2); !slices.Equal(got, want) {
			t.Fatalf("backfilled roll-ups differ from those kept on append:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		checkRollups(t, st)
	})
}

package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"timon.dev/timon/core/store"
)

// The usage roll-ups: counters kept beside the entries, added to in the
// transaction that appends the entries they count (Journal.commit), so
// that the pages read aggregates, never entries. Migration 002 creates
// them; see docs/design/audit.md. Every entry counts, whatever its
// integration (an administrator's reading counts as a request of
// integration "audit" with no tokens), as StatsFor counts them.

// latencyBounds are the upper bounds, in milliseconds, of the latency
// histogram's buckets (lat_00…lat_15 of audit_usage_daily); the last
// bucket holds everything from 60 s up.
var latencyBounds = [...]int64{100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10_000, 15_000, 30_000, 60_000}

const latencyBuckets = len(latencyBounds) + 1

func latencyBucket(ms int64) int {
	for i, b := range latencyBounds {
		if ms < b {
			return i
		}
	}
	return len(latencyBounds)
}

// Kinds of audit_usage_counts rows.
const (
	countRedaction = "redaction"  // name: redaction type; n: redactions
	countFinding   = "moderation" // name: a moderation finding, e.g. "in:health=warn"; n: requests
	countDenial    = "denial"     // name: the policy rule that denied; n: requests
	countOutcome   = "outcome"    // name: the outcome; n: requests, with their tokens
	countTask      = "task"       // name: the task; n: requests, with their tokens
)

var (
	dailyTable = &store.CountTable{Name: "audit_usage_daily",
		Keys: []string{"day_us", "integration", "provider", "model"},
		Counts: append([]string{"requests", "tokens_in", "tokens_out", "denials", "quota_refusals", "answered", "provider_errors",
			"latency_ms"}, latencyColumns()...)}
	usersTable = &store.CountTable{Name: "audit_usage_users",
		Keys:   []string{"user_id", "day_us", "integration", "model"},
		Counts: []string{"requests", "tokens_in", "tokens_out", "denials", "quota_refusals", "redactions"}}
	monthlyTable = &store.CountTable{Name: "audit_usage_monthly",
		Keys:   []string{"month_us", "user_id"},
		Counts: []string{"requests", "tokens", "tokens_in", "tokens_out", "denials", "quota_refusals"}}
	groupsTable = &store.CountTable{Name: "audit_usage_groups",
		Keys:   []string{"day_us", "grp", "model"},
		Counts: []string{"requests", "tokens_in", "tokens_out"}}
	countsTable = &store.CountTable{Name: "audit_usage_counts",
		Keys:   []string{"day_us", "kind", "name"},
		Counts: []string{"n", "tokens_in", "tokens_out"}}
)

func latencyColumns() []string {
	cols := make([]string, latencyBuckets)
	for i := range cols {
		cols[i] = fmt.Sprintf("lat_%02d", i)
	}
	return cols
}

type (
	dailyKey struct {
		day                          int64
		integration, provider, model string
	}
	userKey struct {
		user               string
		day                int64
		integration, model string
	}
	monthKey struct {
		month int64
		user  string
	}
	groupKey struct {
		day          int64
		group, model string
	}
	countKey struct {
		day        int64
		kind, name string
	}
)

// rollup adds up a batch of entries into the rows of each roll-up table.
type rollup struct {
	daily   map[dailyKey][]int64
	users   map[userKey][]int64
	monthly map[monthKey][]int64
	groups  map[groupKey][]int64
	counts  map[countKey][]int64
}

func newRollup() *rollup {
	return &rollup{daily: map[dailyKey][]int64{}, users: map[userKey][]int64{}, monthly: map[monthKey][]int64{},
		groups: map[groupKey][]int64{}, counts: map[countKey][]int64{}}
}

func counter[K comparable](m map[K][]int64, k K, n int) []int64 {
	c := m[k]
	if c == nil {
		c = make([]int64, n)
		m[k] = c
	}
	return c
}

func dayStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// add counts one entry.
func (r *rollup) add(e *Entry) {
	day, month := dayStart(e.Time).UnixMicro(), monthStart(e.Time).UnixMicro()
	in, out := int64(e.TokensIn), int64(e.TokensOut)
	var denied, refused, answered, failed, redactions int64
	switch e.Outcome {
	case OutcomeDenied:
		denied = 1
	case OutcomeQuotaExceeded:
		refused = 1
	case OutcomeOK:
		answered = 1
	case OutcomeProviderError:
		failed = 1
	}
	for _, n := range e.Redactions {
		redactions += int64(n)
	}

	// Latencies are the answered requests': a refusal's says nothing of
	// the model.
	d := counter(r.daily, dailyKey{day, e.Integration, e.Provider, e.Model}, len(dailyTable.Counts))
	d[0]++
	d[1] += in
	d[2] += out
	d[3] += denied
	d[4] += refused
	d[5] += answered
	d[6] += failed
	if answered == 1 {
		d[7] += e.LatencyMS
		d[8+latencyBucket(e.LatencyMS)]++
	}
	for _, k := range [...]countKey{{day, countOutcome, e.Outcome}, {day, countTask, e.Task}} {
		c := counter(r.counts, k, len(countsTable.Counts))
		c[0]++
		c[1] += in
		c[2] += out
	}

	u := counter(r.users, userKey{e.UserID, day, e.Integration, e.Model}, len(usersTable.Counts))
	u[0]++
	u[1] += in
	u[2] += out
	u[3] += denied
	u[4] += refused
	u[5] += redactions

	m := counter(r.monthly, monthKey{month, e.UserID}, len(monthlyTable.Counts))
	m[0]++
	m[1] += in + out
	m[2] += in
	m[3] += out
	m[4] += denied
	m[5] += refused

	// Once in each of the user's groups, as StatsFor counts them; under
	// "" without any.
	addGroup := func(g string) {
		c := counter(r.groups, groupKey{day, g, e.Model}, len(groupsTable.Counts))
		c[0]++
		c[1] += in
		c[2] += out
	}
	if len(e.Groups) == 0 {
		addGroup("")
	}
	for i, g := range e.Groups {
		if !slices.Contains(e.Groups[:i], g) {
			addGroup(g)
		}
	}

	for k, n := range e.Redactions {
		if n > 0 {
			counter(r.counts, countKey{day, countRedaction, k}, len(countsTable.Counts))[0] += int64(n)
		}
	}
	if e.Moderation != "" {
		findings := strings.Split(e.Moderation, ";")
		for i, f := range findings {
			if f != "" && !slices.Contains(findings[:i], f) {
				counter(r.counts, countKey{day, countFinding, f}, len(countsTable.Counts))[0]++
			}
		}
	}
	if e.Outcome == OutcomeDenied {
		counter(r.counts, countKey{day, countDenial, e.Rule}, len(countsTable.Counts))[0]++
	}
}

// write adds the roll-up's rows to the tables, in tx.
func (r *rollup) write(ctx context.Context, d store.Driver, tx store.Execer) error {
	rows := make([]store.CountRow, 0, len(r.daily))
	for k, c := range r.daily {
		rows = append(rows, store.CountRow{Keys: []any{k.day, k.integration, k.provider, k.model}, Counts: c})
	}
	if err := d.AddCounts(ctx, tx, dailyTable, rows); err != nil {
		return fmt.Errorf("adding to the daily usage: %w", err)
	}
	rows = rows[:0]
	for k, c := range r.users {
		rows = append(rows, store.CountRow{Keys: []any{k.user, k.day, k.integration, k.model}, Counts: c})
	}
	if err := d.AddCounts(ctx, tx, usersTable, rows); err != nil {
		return fmt.Errorf("adding to the users' usage: %w", err)
	}
	rows = rows[:0]
	for k, c := range r.monthly {
		rows = append(rows, store.CountRow{Keys: []any{k.month, k.user}, Counts: c})
	}
	if err := d.AddCounts(ctx, tx, monthlyTable, rows); err != nil {
		return fmt.Errorf("adding to the monthly usage: %w", err)
	}
	rows = rows[:0]
	for k, c := range r.groups {
		rows = append(rows, store.CountRow{Keys: []any{k.day, k.group, k.model}, Counts: c})
	}
	if err := d.AddCounts(ctx, tx, groupsTable, rows); err != nil {
		return fmt.Errorf("adding to the groups' usage: %w", err)
	}
	rows = rows[:0]
	for k, c := range r.counts {
		rows = append(rows, store.CountRow{Keys: []any{k.day, k.kind, k.name}, Counts: c})
	}
	if err := d.AddCounts(ctx, tx, countsTable, rows); err != nil {
		return fmt.Errorf("adding to the usage counts: %w", err)
	}
	return nil
}

// backfillChunk is the number of entries one backfill transaction adds to
// the roll-ups.
var backfillChunk int64 = 20_000

// backfill adds the entries journaled before migration 002 to the
// roll-ups, in chunks, each in a transaction holding the append lock so
// that processes opening at once share the work without counting twice.
func backfill(ctx context.Context, st *store.Store) error {
	for {
		more, err := backfillStep(ctx, st)
		if err != nil {
			return fmt.Errorf("adding the journal's entries to the usage roll-ups: %w", err)
		}
		if !more {
			return nil
		}
	}
}

func backfillStep(ctx context.Context, st *store.Store) (more bool, err error) {
	var upto, done int64
	err = st.QueryRow(ctx, `SELECT upto_seq, done_seq FROM audit_usage_backfill WHERE id = 1`).Scan(&upto, &done)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && done >= upto) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	err = st.Tx(ctx, func(tx *store.Tx) error {
		if err := st.Driver().LockJournal(ctx, tx); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT upto_seq, done_seq FROM audit_usage_backfill WHERE id = 1`).Scan(&upto, &done); err != nil {
			return err
		}
		if done >= upto {
			return nil
		}
		to := min(upto, done+backfillChunk)
		rows, err := tx.Query(ctx, `SELECT seq, time_us, data FROM audit_entries WHERE seq > ? AND seq <= ? ORDER BY seq`, done, to)
		if err != nil {
			return err
		}
		r := newRollup()
		var (
			seq, us int64
			data    []byte
		)
		for rows.Next() {
			if err := rows.Scan(&seq, &us, &data); err != nil {
				rows.Close()
				return err
			}
			e, err := decode(seq, us, data, "", "")
			if err != nil {
				rows.Close()
				return err
			}
			r.add(&e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if err := r.write(ctx, st.Driver(), tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE audit_usage_backfill SET done_seq = ? WHERE id = 1`, to); err != nil {
			return err
		}
		more = to < upto
		return nil
	})
	return more, err
}

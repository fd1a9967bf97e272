// Package quota enforces budgets and rate limits per user and per group —
// requests per minute, tokens per day and per month, and requests in flight —
// reserved before a call to a model and settled with the provider's reported
// usage. Counters live in the shared store, so that several timon serve
// replicas on one PostgreSQL database enforce one limit, not one per replica.
//
// The design (its trade-offs and why) is in docs/design/quota.md.
package quota

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/metrics"
	"timon.dev/timon/core/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Limits is one budget. Zero means unlimited.
type Limits struct {
	RequestsPerMinute int `json:"requests_per_minute,omitempty"`
	TokensPerDay      int `json:"tokens_per_day,omitempty"`
	TokensPerMonth    int `json:"tokens_per_month,omitempty"`
	// Concurrent caps the requests in flight (meaningful for users, but
	// applied to any subject that sets it).
	Concurrent int `json:"concurrent,omitempty"`
}

// Subject is who a budget belongs to, with its limits.
type Subject struct {
	// Key names the subject: "user:alice", "group:physics".
	Key    string
	Limits Limits
}

// Options tune a Quota; zero values take the defaults.
type Options struct {
	// Lease is how long a concurrency slot is held by a reservation that is
	// never settled (its process died); default 10 minutes.
	Lease time.Duration
	// CleanupEvery is the least time between two automatic clean-ups in one
	// process; default 1 minute, negative disables them (see Cleanup).
	CleanupEvery time.Duration
	// BusyRetry is the RetryAt offset given when a concurrency cap refuses a
	// request (a slot frees when a request in flight finishes, which cannot
	// be known in advance); default 5 seconds.
	BusyRetry time.Duration
	// SettleDelay is how long a settlement queued by SettleAsync may wait
	// for a reservation (or a Settle, Release or Flush) to share its
	// transaction when nothing else is queued; default 2 ms, negative for
	// no wait (each settlement then commits at once, alone if need be).
	SettleDelay time.Duration
}

// Defaults.
const (
	DefaultLease        = 10 * time.Minute
	DefaultCleanupEvery = time.Minute
	DefaultBusyRetry    = 5 * time.Second
	DefaultSettleDelay  = 2 * time.Millisecond
)

// settleTimeout bounds the wait of Settle and Release for a batch, which
// they wait for even when the request's context is canceled, and a batch on
// PostgreSQL (on SQLite the busy timeout bounds the wait for the lock).
const settleTimeout = 10 * time.Second

// Quota enforces budgets over a store. It is safe for concurrent use. Its
// writer goroutine runs only while work is queued; Close (or Flush) waits
// until the settlements queued by SettleAsync are committed, and must be
// called before the store is closed.
type Quota struct {
	st          *store.Store
	opts        Options
	now         atomic.Pointer[func() time.Time]
	nextCleanup atomic.Int64 // Unix microseconds
	batch       batcher
}

// New migrates the quota tables and returns a Quota. At most one Options may
// be given.
func New(ctx context.Context, st *store.Store, opts ...Options) (*Quota, error) {
	if len(opts) > 1 {
		return nil, errors.New("quota.New: at most one Options")
	}
	var o Options
	if len(opts) == 1 {
		o = opts[0]
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.CleanupEvery == 0 {
		o.CleanupEvery = DefaultCleanupEvery
	}
	if o.BusyRetry <= 0 {
		o.BusyRetry = DefaultBusyRetry
	}
	if o.SettleDelay == 0 {
		o.SettleDelay = DefaultSettleDelay
	}
	if err := st.Migrate(ctx, "quota", migrations); err != nil {
		return nil, err
	}
	q := &Quota{st: st, opts: o}
	q.batch.wake = make(chan struct{}, 1)
	q.SetClock(time.Now)
	// Prepared now where the driver prepares them, so that a broken
	// statement fails here.
	for _, query := range append(append(upsertSQL[:], upsertFastSQL[:]...), selectUsageSQL, countLeasesSQL, insertLeaseIfFreeSQL, adjustSQL, deleteLeaseSQL) {
		if _, _, err := st.Hot(ctx, query); err != nil {
			return nil, fmt.Errorf("preparing quota statements: %w", err)
		}
	}
	return q, nil
}

// The request path's statements besides the upserts.
const (
	selectUsageSQL = `SELECT minute_start, minute_requests, day_start, day_tokens, month_start, month_tokens FROM quota_usage WHERE subject = ?`
	countLeasesSQL = `SELECT COUNT(*) FROM quota_leases WHERE subject = ? AND expires_at > ?`
	// insertLeaseIfFreeSQL leases a slot if fewer than the cap are live.
	insertLeaseIfFreeSQL = `INSERT INTO quota_leases (subject, expires_at, id)
SELECT CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT)
WHERE (SELECT COUNT(*) FROM quota_leases WHERE subject = ? AND expires_at > ?) < ?`
	deleteLeaseSQL = `DELETE FROM quota_leases WHERE subject = ? AND expires_at = ? AND id = ?`
	// adjustSQL adds deltas to the windows a reservation went to, if they
	// are still the current ones: tokens when it is settled, tokens and
	// requests when it is voided.
	adjustSQL = `UPDATE quota_usage SET
	minute_requests = CASE WHEN minute_start <> ? THEN minute_requests WHEN minute_requests + ? < 0 THEN 0 ELSE minute_requests + ? END,
	day_tokens = CASE WHEN day_start <> ? THEN day_tokens WHEN day_tokens + ? < 0 THEN 0 ELSE day_tokens + ? END,
	month_tokens = CASE WHEN month_start <> ? THEN month_tokens WHEN month_tokens + ? < 0 THEN 0 ELSE month_tokens + ? END
WHERE subject = ? AND (day_start = ? OR month_start = ?)`
)

// SetClock replaces the clock (for tests).
func (q *Quota) SetClock(now func() time.Time) { q.now.Store(&now) }

func (q *Quota) clock() time.Time { return (*q.now.Load())().UTC() }

// windows are the calendar windows containing one instant, in Unix µs.
type windows struct {
	minute, day, month int64
}

func windowsAt(t time.Time) windows {
	t = t.UTC()
	return windows{
		minute: t.Truncate(time.Minute).UnixMicro(),
		day:    time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).UnixMicro(),
		month:  time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC).UnixMicro(),
	}
}

func minuteEnd(start int64) time.Time { return store.Time(start).Add(time.Minute) }
func dayEnd(start int64) time.Time    { return store.Time(start).AddDate(0, 0, 1) }
func monthEnd(start int64) time.Time  { return store.Time(start).AddDate(0, 1, 0) }

// Reservation is a request admitted by Reserve, to be settled (or released)
// exactly once; further calls are no-ops. Its methods are safe for
// concurrent use and on a nil Reservation.
type Reservation struct {
	q        *Quota
	id       string
	estimate int64
	subjects []reserved // in the order of normalize (descending key)
	leased   bool
	// leaseExpires is when its leases expire (Unix µs): with the subject
	// and the id, their primary key.
	leaseExpires int64

	mu   sync.Mutex
	done bool
}

// reserved is one subject of a reservation: the windows it went to.
type reserved struct {
	key                string
	minute, day, month int64
	counted            bool // its request and estimate are counted
	leased             bool // holds a concurrency lease
}

// ID identifies the reservation (and its leases).
func (r *Reservation) ID() string {
	if r == nil {
		return ""
	}
	return r.id
}

// Estimate is the number of tokens reserved.
func (r *Reservation) Estimate() int {
	if r == nil {
		return 0
	}
	return int(r.estimate)
}

// Reserve admits one request for every subject at once, counting it and
// reserving estimateTokens (prompt + max tokens), or refuses it with a
// *core.Error of kind core.KindQuota and counts nothing. Subjects with the
// same key are merged, keeping the stricter limit of each kind. A store
// failure is a core.KindInternal error: fail closed.
//
// When no subject has any limit (all Limits are zero), nothing is read or
// written: the reservation's Settle and Release are no-ops, and Usage does
// not count such requests (the journal does).
//
// If ctx ends before the reservation is committed, Reserve returns its
// error and nothing stays counted (a reservation committed in the meantime
// is voided right after).
func (q *Quota) Reserve(ctx context.Context, subjects []Subject, estimateTokens int) (*Reservation, error) {
	subs, err := normalize(subjects)
	if err != nil {
		return nil, err
	}
	est := int64(max(estimateTokens, 0))
	now := q.clock()
	if err := tooLarge(subs, est); err != nil {
		metrics.QuotaRefusals.WithLabelValues("whole budget").Inc()
		return nil, err
	}
	r := &Reservation{q: q, id: newID(), estimate: est}
	if !slices.ContainsFunc(subs, func(s Subject) bool { return s.Limits.limited() }) {
		r.done = true
		return r, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, storeError(err, "the quota could not be checked")
	}
	o := newOp(opReserve, r)
	o.subs, o.w, o.now = subs, windowsAt(now), now
	q.enqueue(o)
	if err := o.wait(ctx); err != nil {
		return nil, storeError(err, "the quota could not be checked")
	}
	if o.err != nil {
		return nil, storeError(o.err, "the quota could not be checked")
	}
	if len(o.refusals) > 0 {
		return nil, refusalError(o.refusals)
	}
	q.maybeCleanup(ctx, now)
	return r, nil
}

// limited reports whether l sets any limit.
func (l Limits) limited() bool {
	return l.RequestsPerMinute > 0 || l.TokensPerDay > 0 || l.TokensPerMonth > 0 || l.Concurrent > 0
}

// upsertSQL[mask] is the reservation upsert whose WHERE checks the limits
// set in mask (1 requests/minute, 2 tokens/day, 4 tokens/month), returning
// the windows the request went to. Every window moves only forward: a
// stored window later than the caller's (a replica whose clock lags) is the
// current one. upsertFastSQL[mask] is the same upsert, admitted only if no
// stored window is later than the caller's — the windows it went to are
// then the caller's — without RETURNING, which costs SQLite a temporary
// table: reserveOne tries it first, and upsertSQL when it is refused.
var upsertSQL, upsertFastSQL = func() (qs, fast [8]string) {
	const head = `INSERT INTO quota_usage AS u (subject, minute_start, minute_requests, day_start, day_tokens, month_start, month_tokens)
VALUES (?, ?, 1, ?, ?, ?, ?)
ON CONFLICT (subject) DO UPDATE SET
	minute_requests = CASE WHEN u.minute_start >= excluded.minute_start THEN u.minute_requests + 1 ELSE 1 END,
	minute_start = CASE WHEN u.minute_start >= excluded.minute_start THEN u.minute_start ELSE excluded.minute_start END,
	day_tokens = CASE WHEN u.day_start >= excluded.day_start THEN u.day_tokens + excluded.day_tokens ELSE excluded.day_tokens END,
	day_start = CASE WHEN u.day_start >= excluded.day_start THEN u.day_start ELSE excluded.day_start END,
	month_tokens = CASE WHEN u.month_start >= excluded.month_start THEN u.month_tokens + excluded.month_tokens ELSE excluded.month_tokens END,
	month_start = CASE WHEN u.month_start >= excluded.month_start THEN u.month_start ELSE excluded.month_start END`
	conds := []string{
		`(CASE WHEN u.minute_start >= excluded.minute_start THEN u.minute_requests ELSE 0 END) < ?`,
		`(CASE WHEN u.day_start >= excluded.day_start THEN u.day_tokens ELSE 0 END) + excluded.day_tokens <= ?`,
		`(CASE WHEN u.month_start >= excluded.month_start THEN u.month_tokens ELSE 0 END) + excluded.month_tokens <= ?`,
	}
	const notLater = `u.minute_start <= excluded.minute_start AND u.day_start <= excluded.day_start AND u.month_start <= excluded.month_start`
	for mask := range qs {
		var where []string
		for i, c := range conds {
			if mask&(1<<i) != 0 {
				where = append(where, c)
			}
		}
		s := head
		if len(where) > 0 {
			s += "\nWHERE " + strings.Join(where, " AND ")
		}
		qs[mask] = s + "\nRETURNING minute_start, day_start, month_start"
		fast[mask] = head + "\nWHERE " + strings.Join(append(where, notLater), " AND ")
	}
	return qs, fast
}()

// reserveOne counts the request against one subject inside the batch's
// transaction. A refused subject returns its refusals (the reservation is
// then rolled back by the caller).
func (b *batchTx) reserveOne(s Subject, est int64, w windows, now time.Time, id string, expires int64) (reserved, []*refusal, error) {
	q := b.q
	res := reserved{key: s.Key}
	l := s.Limits
	mask, args := 0, []any{s.Key, w.minute, w.day, est, w.month, est}
	for i, lim := range []int{l.RequestsPerMinute, l.TokensPerDay, l.TokensPerMonth} {
		if lim > 0 {
			mask |= 1 << i
			args = append(args, int64(lim))
		}
	}
	var refusals []*refusal
	for attempt := 0; ; attempt++ {
		var err error
		if attempt == 0 {
			var n int64
			if n, err = b.execN(upsertFastSQL[mask], args...); err == nil && n == 0 {
				err = sql.ErrNoRows
			}
			res.minute, res.day, res.month = w.minute, w.day, w.month
		} else {
			err = b.queryRow(upsertSQL[mask], args...).Scan(&res.minute, &res.day, &res.month)
		}
		if err == nil {
			res.counted = true
			break
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return res, nil, fmt.Errorf("reserving for %s: %w", s.Key, err)
		}
		row, err := readRow(b.queryRow(selectUsageSQL, s.Key), s.Key)
		if err != nil {
			return res, nil, err
		}
		refusals = row.refusals(s, est, w)
		if len(refusals) > 0 {
			break
		}
		// A stored window is later than ours (the fast upsert refuses
		// it), or the counters fell between the refusal and the read (a
		// settlement on another connection): try again.
		if attempt == 3 {
			refusals = []*refusal{{budget: "quota", key: s.Key, busy: true, retryAt: now.Add(q.opts.BusyRetry),
				detail: "the counters kept changing while checking; retry"}}
			break
		}
	}
	if l.Concurrent > 0 {
		// The subject's row is now locked by this transaction and the
		// batch holds the quota lock (PostgreSQL), or the whole database
		// is locked (SQLite): the count cannot race. An admitted request
		// counts and leases in one statement; a refused one counts only,
		// for the message.
		if len(refusals) == 0 {
			n, err := b.execN(insertLeaseIfFreeSQL, s.Key, expires, id, s.Key, store.Micros(now), int64(l.Concurrent))
			if err != nil {
				return res, nil, fmt.Errorf("leasing a slot for %s: %w", s.Key, err)
			}
			if n == 1 {
				res.leased = true
				return res, nil, nil
			}
		}
		var n int64
		if err := b.queryRow(countLeasesSQL, s.Key, store.Micros(now)).Scan(&n); err != nil {
			return res, nil, fmt.Errorf("counting requests in flight for %s: %w", s.Key, err)
		}
		detail := fmt.Sprintf("%d of %d already in flight; retry when one finishes", n, l.Concurrent)
		if n < int64(l.Concurrent) { // only if the lease was refused: cannot happen
			detail = "the requests in flight kept changing while checking; retry"
		}
		if n >= int64(l.Concurrent) || len(refusals) == 0 {
			refusals = append(refusals, &refusal{
				budget: "concurrent requests", key: s.Key, busy: true,
				retryAt: now.Add(q.opts.BusyRetry), detail: detail,
			})
		}
	}
	return res, refusals, nil
}

// usageRow is a subject's stored counters.
type usageRow struct {
	minute, minuteRequests int64
	day, dayTokens         int64
	month, monthTokens     int64
}

func readRow(row *sql.Row, key string) (usageRow, error) {
	var u usageRow
	err := row.Scan(&u.minute, &u.minuteRequests, &u.day, &u.dayTokens, &u.month, &u.monthTokens)
	if errors.Is(err, sql.ErrNoRows) {
		return usageRow{}, nil
	}
	if err != nil {
		return u, fmt.Errorf("reading the usage of %s: %w", key, err)
	}
	return u, nil
}

// current returns the row's counters as of windows w: the current window of
// each kind (the later of the stored one and w's) and its count.
func (u usageRow) current(w windows) (cur windows, requests, dayTokens, monthTokens int64) {
	cur = w
	if u.minute >= w.minute {
		cur.minute, requests = u.minute, u.minuteRequests
	}
	if u.day >= w.day {
		cur.day, dayTokens = u.day, u.dayTokens
	}
	if u.month >= w.month {
		cur.month, monthTokens = u.month, u.monthTokens
	}
	return cur, requests, dayTokens, monthTokens
}

// refusals lists the limits of s that one more request of est tokens would
// exceed.
func (u usageRow) refusals(s Subject, est int64, w windows) []*refusal {
	cur, requests, dayTokens, monthTokens := u.current(w)
	l := s.Limits
	var out []*refusal
	if l.RequestsPerMinute > 0 && requests+1 > int64(l.RequestsPerMinute) {
		out = append(out, &refusal{budget: "requests per minute", key: s.Key, retryAt: minuteEnd(cur.minute),
			detail: fmt.Sprintf("%s of %s requests used", num(requests), num(int64(l.RequestsPerMinute)))})
	}
	if l.TokensPerDay > 0 && dayTokens+est > int64(l.TokensPerDay) {
		out = append(out, &refusal{budget: "tokens per day", key: s.Key, retryAt: dayEnd(cur.day),
			detail: fmt.Sprintf("%s of %s tokens used, this request needs up to %s", num(dayTokens), num(int64(l.TokensPerDay)), num(est))})
	}
	if l.TokensPerMonth > 0 && monthTokens+est > int64(l.TokensPerMonth) {
		out = append(out, &refusal{budget: "tokens per month", key: s.Key, retryAt: monthEnd(cur.month),
			detail: fmt.Sprintf("%s of %s tokens used, this request needs up to %s", num(monthTokens), num(int64(l.TokensPerMonth)), num(est))})
	}
	return out
}

// refusal is one limit a request would exceed.
type refusal struct {
	budget  string // "tokens per day"
	key     string
	retryAt time.Time
	detail  string
	busy    bool // concurrency: RetryAt is a suggestion, not a reset
}

func (f *refusal) String() string {
	s := fmt.Sprintf("%s for %s (%s)", f.budget, describe(f.key), f.detail)
	if !f.busy {
		s += "; resets at " + f.retryAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	return s
}

// refusalError reports the refusal that lasts longest (retrying before it
// resets is pointless), mentioning the others.
func refusalError(refs []*refusal) *core.Error {
	main := refs[0]
	for _, f := range refs[1:] {
		if f.retryAt.After(main.retryAt) {
			main = f
		}
	}
	msg := "quota exceeded: " + main.String()
	var others []string
	for _, f := range refs {
		if f != main {
			others = append(others, f.budget+" for "+describe(f.key))
		}
	}
	if len(others) > 0 {
		msg += "; also over " + strings.Join(others, ", ")
	}
	metrics.QuotaRefusals.WithLabelValues(main.budget).Inc()
	return &core.Error{Kind: core.KindQuota, Message: msg, RetryAt: main.retryAt}
}

// tooLarge refuses an estimate that exceeds a whole token budget: it could
// never be admitted, so no RetryAt is given.
func tooLarge(subs []Subject, est int64) *core.Error {
	for _, s := range subs {
		for _, b := range []struct {
			name string
			lim  int
		}{{"tokens per day", s.Limits.TokensPerDay}, {"tokens per month", s.Limits.TokensPerMonth}} {
			if b.lim > 0 && est > int64(b.lim) {
				return &core.Error{Kind: core.KindQuota, Message: fmt.Sprintf(
					"quota exceeded: this request needs up to %s tokens, more than the whole %s budget of %s for %s; ask for a shorter answer or send less text",
					num(est), b.name, num(int64(b.lim)), describe(s.Key))}
			}
		}
	}
	return nil
}

// Settle replaces the reservation's estimate with the tokens the provider
// reported (lower or higher) and frees its concurrency slot, and returns
// once that is committed. Only the first call of Settle, SettleAsync or
// Release has an effect. It runs even if ctx is canceled (the caller may
// have gone away mid-answer), bounded by a few seconds.
func (r *Reservation) Settle(ctx context.Context, actualTokens int) error {
	return r.finish(ctx, int64(max(actualTokens, 0)), "settling")
}

// SettleAsync is Settle without the wait: it queues the settlement and
// returns at once. The settlement commits with the next batch — with the
// next reservation of this Quota, at the latest after Options.SettleDelay —
// and the slot it frees is free from then on (a reservation of the same
// Quota queued after it sees it free: settlements run first in a batch).
// Flush and Close wait for queued settlements; Usage reads them. A
// settlement that fails is reported by the next Flush or Close, and leaves
// the estimate counted and the lease to expire (see the package
// documentation). After Close, SettleAsync settles synchronously.
func (r *Reservation) SettleAsync(actualTokens int) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	actual := int64(max(actualTokens, 0))
	if delta := actual - r.estimate; delta != 0 || r.leased {
		o := newAsyncOp(opFinish, r)
		o.delta = delta
		if !r.q.enqueueAsync(o) { // closed: settle now, report at the next Flush
			if err := r.finishLocked(context.Background(), actual, "settling"); err != nil {
				b := &r.q.batch
				b.mu.Lock()
				b.asyncFailed, b.asyncErr = b.asyncFailed+1, err
				b.mu.Unlock()
			}
			return
		}
	}
	r.done = true
}

// Release gives back a reservation whose request failed before the provider
// consumed tokens: its estimate and its concurrency slot are freed; the
// request still counts for requests per minute. Like Settle, it returns
// once that is committed, and only the first call has an effect.
func (r *Reservation) Release(ctx context.Context) error {
	return r.finish(ctx, 0, "releasing")
}

func (r *Reservation) finish(ctx context.Context, actual int64, what string) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.finishLocked(ctx, actual, what)
}

func (r *Reservation) finishLocked(ctx context.Context, actual int64, what string) error {
	if r.done {
		return nil
	}
	delta := actual - r.estimate
	if delta == 0 && !r.leased {
		r.done = true
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	o := newOp(opFinish, r)
	o.delta = delta
	r.q.enqueue(o)
	// Once taken into a batch, the op is waited for whatever the time: the
	// reservation is done exactly when it committed.
	err := o.wait(ctx)
	if err == nil {
		err = o.err
	}
	if err != nil {
		return storeError(err, what+" the quota reservation failed")
	}
	r.done = true
	return nil
}

// Flush waits until every settlement queued by SettleAsync before the call
// is committed (or failed), and reports the settlements that failed since
// the last Flush. It returns early, with ctx's error, if ctx ends.
func (q *Quota) Flush(ctx context.Context) error {
	if err := q.wait(ctx); err != nil {
		return err
	}
	b := &q.batch
	b.mu.Lock()
	n, err := b.asyncFailed, b.asyncErr
	b.asyncFailed, b.asyncErr = 0, nil
	b.mu.Unlock()
	if n > 0 {
		return storeError(fmt.Errorf("%d quota settlements failed (their estimates stay counted, their leases expire): %w", n, err),
			"settling quota reservations failed")
	}
	return nil
}

// wait waits until every async op queued before the call has run.
func (q *Quota) wait(ctx context.Context) error {
	b := &q.batch
	b.mu.Lock()
	pending := b.unsettled > 0
	b.mu.Unlock()
	if !pending {
		return nil
	}
	o := newOp(opFlush, nil)
	q.enqueue(o)
	if err := o.wait(ctx); err != nil {
		return storeError(err, "waiting for quota settlements")
	}
	return nil
}

// Close waits, for a few seconds at most, until every queued settlement is
// committed, reporting those that failed; from then on SettleAsync settles
// synchronously, so that nothing is left queued once the callers are gone.
// Reserve, Settle and Release keep working. Call it before closing the
// store. Further calls wait again.
func (q *Quota) Close() error {
	q.batch.mu.Lock()
	q.batch.closed = true
	q.batch.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	var errs []error
	for {
		err := q.Flush(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		b := &q.batch
		b.mu.Lock()
		pending := b.unsettled > 0 // voids queued in the meantime
		b.mu.Unlock()
		if !pending || ctx.Err() != nil {
			return errors.Join(errs...)
		}
	}
}

// Usage is a subject's consumption in its current windows.
type Usage struct {
	Key                string    `json:"key"`
	RequestsThisMinute int       `json:"requests_this_minute"`
	TokensToday        int       `json:"tokens_today"`
	TokensThisMonth    int       `json:"tokens_this_month"`
	InFlight           int       `json:"in_flight"` // only tracked when Limits.Concurrent > 0
	Limits             Limits    `json:"limits"`
	DayResetsAt        time.Time `json:"day_resets_at"`
	MonthResetsAt      time.Time `json:"month_resets_at"`
}

// Usage reports s's consumption now (reservations in flight count with
// their estimates).
func (q *Quota) Usage(ctx context.Context, s Subject) (*Usage, error) {
	if strings.TrimSpace(s.Key) == "" {
		return nil, core.Errorf(core.KindInvalid, "a quota subject needs a key")
	}
	// Count this process's own settlements.
	if err := q.wait(ctx); err != nil {
		return nil, err
	}
	now := q.clock()
	row, err := readRow(q.st.QueryRow(ctx, selectUsageSQL, s.Key), s.Key)
	if err != nil {
		return nil, storeError(err, "the quota usage could not be read")
	}
	var inFlight int64
	if err := q.st.QueryRow(ctx, countLeasesSQL, s.Key, store.Micros(now)).Scan(&inFlight); err != nil {
		return nil, storeError(err, "the quota usage could not be read")
	}
	cur, requests, dayTokens, monthTokens := row.current(windowsAt(now))
	return &Usage{
		Key:                s.Key,
		RequestsThisMinute: int(requests),
		TokensToday:        int(dayTokens),
		TokensThisMonth:    int(monthTokens),
		InFlight:           int(inFlight),
		Limits:             s.Limits,
		DayResetsAt:        dayEnd(cur.day),
		MonthResetsAt:      monthEnd(cur.month),
	}, nil
}

// Cleanup deletes expired leases and the rows of subjects whose counters all
// belong to windows before the current month (their usage reads as zero
// anyway). Reserve calls it at most once per Options.CleanupEvery.
func (q *Quota) Cleanup(ctx context.Context) error {
	now := q.clock()
	if _, err := q.st.Driver().SweepLeases(ctx, store.Micros(now)); err != nil {
		return fmt.Errorf("deleting expired quota leases: %w", err)
	}
	if _, err := q.st.Driver().SweepUsage(ctx, windowsAt(now).month); err != nil {
		return fmt.Errorf("deleting stale quota counters: %w", err)
	}
	return nil
}

func (q *Quota) maybeCleanup(ctx context.Context, now time.Time) {
	if q.opts.CleanupEvery < 0 {
		return
	}
	next := q.nextCleanup.Load()
	us := store.Micros(now)
	if us < next || !q.nextCleanup.CompareAndSwap(next, store.Micros(now.Add(q.opts.CleanupEvery))) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	_ = q.Cleanup(ctx) // best effort: the next period tries again
}

// storeError reports a failure of the store: internal (the request is
// refused: fail closed), unless the caller went away or ran out of time.
func storeError(err error, msg string) *core.Error {
	kind := core.KindInternal
	switch {
	case errors.Is(err, context.Canceled):
		kind = core.KindCanceled
	case errors.Is(err, context.DeadlineExceeded):
		kind = core.KindTimeout
	}
	return &core.Error{Kind: kind, Message: msg, Err: err}
}

// normalize checks keys, merges duplicates (keeping the stricter limit of
// each kind) and sorts subjects by descending key, the order in which every
// transaction locks their rows.
func normalize(subjects []Subject) ([]Subject, error) {
	out := make([]Subject, 0, len(subjects))
	for _, s := range subjects {
		if strings.TrimSpace(s.Key) == "" {
			return nil, core.Errorf(core.KindInvalid, "a quota subject needs a key")
		}
		if i := slices.IndexFunc(out, func(o Subject) bool { return o.Key == s.Key }); i >= 0 {
			o := &out[i].Limits
			o.RequestsPerMinute = stricter(o.RequestsPerMinute, s.Limits.RequestsPerMinute)
			o.TokensPerDay = stricter(o.TokensPerDay, s.Limits.TokensPerDay)
			o.TokensPerMonth = stricter(o.TokensPerMonth, s.Limits.TokensPerMonth)
			o.Concurrent = stricter(o.Concurrent, s.Limits.Concurrent)
			continue
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Subject) int { return strings.Compare(b.Key, a.Key) })
	return out, nil
}

// stricter of two limits where 0 (or less) means unlimited.
func stricter(a, b int) int {
	switch {
	case a <= 0:
		return max(b, 0)
	case b <= 0:
		return a
	}
	return min(a, b)
}

// describe turns "user:alice" into "user alice" for messages.
func describe(key string) string {
	if kind, name, ok := strings.Cut(key, ":"); ok && kind != "" && name != "" {
		return kind + " " + name
	}
	return key
}

// num formats n with thousands separators.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return "qr_" + hex.EncodeToString(b[:])
}

package quota

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"timon.dev/timon/core/store"
)

// Group commit (see the package documentation): Reserve, Settle and Release
// queue an op and wait for it, SettleAsync queues one and returns; one writer
// goroutine, started when an op is queued and none runs, takes every op
// queued (up to maxBatch), runs them in one transaction, wakes their callers,
// and exits when the queue is empty. While only ops nobody waits for are
// queued (asynchronous settlements, voids), it waits up to
// Options.SettleDelay for an op somebody waits for, to share its commit.

// maxBatch bounds the ops of one transaction, hence how long a batch holds
// its locks (SQLite's write lock, PostgreSQL's quota lock) and how many
// callers one failure sends to the one-by-one retry.
const maxBatch = 64

type opKind uint8

const (
	opReserve opKind = iota
	opFinish         // Settle or Release
	opVoid           // undo a reservation whose caller went away
	opFlush          // no work: done once every op queued before it is
)

// States of an op.
const (
	stQueued    int32 = iota
	stTaken           // in a batch: it runs
	stDone            // its results are set
	stAbandoned       // its caller gave up before it was taken: it never runs
	stOrphaned        // its caller gave up while it ran: a reservation is voided
)

// op is one request to the writer.
type op struct {
	kind   opKind
	async  bool      // nobody waits for it (SettleAsync, voids)
	queued time.Time // async: when it was queued, for Options.SettleDelay
	state  atomic.Int32
	done   chan struct{} // closed when the results are set; nil if async

	r     *Reservation // opReserve: filled by the writer
	subs  []Subject    // opReserve
	w     windows      // opReserve
	now   time.Time    // opReserve
	delta int64        // opFinish: actual - estimate

	// Results.
	refusals []*refusal
	err      error
}

func newOp(kind opKind, r *Reservation) *op {
	return &op{kind: kind, r: r, done: make(chan struct{})}
}

// newAsyncOp returns an op nobody waits for.
func newAsyncOp(kind opKind, r *Reservation) *op {
	return &op{kind: kind, r: r, async: true, queued: time.Now()}
}

// batcher is the queue of a Quota.
type batcher struct {
	mu      sync.Mutex
	queue   []*op
	running bool // a writer goroutine is running
	// waited counts the queued ops somebody waits for; while it is zero
	// the writer may linger (Options.SettleDelay).
	waited int
	// unsettled counts the async ops queued or in the running batch:
	// what Flush waits for.
	unsettled int
	closed    bool          // by Close: no more async ops
	lingering bool          // the writer waits for waited > 0 or its deadline
	wake      chan struct{} // tells a lingering writer that waited > 0
	// Failures of async ops since Flush last reported them.
	asyncFailed int
	asyncErr    error

	batches, ops atomic.Int64 // batches run so far and their ops, for tests
}

// enqueue queues o, starting a writer if none runs.
func (q *Quota) enqueue(o *op) {
	q.batch.mu.Lock()
	q.enqueueLocked(o)
}

// enqueueAsync queues the async op o, unless the Quota is closed.
func (q *Quota) enqueueAsync(o *op) bool {
	q.batch.mu.Lock()
	if q.batch.closed {
		q.batch.mu.Unlock()
		return false
	}
	q.enqueueLocked(o)
	return true
}

// enqueueLocked queues o and unlocks the batcher.
func (q *Quota) enqueueLocked(o *op) {
	b := &q.batch
	b.queue = append(b.queue, o)
	if o.async {
		b.unsettled++
	} else {
		b.waited++
		if b.lingering {
			b.lingering = false
			select {
			case b.wake <- struct{}{}:
			default:
			}
		}
	}
	start := !b.running
	b.running = true
	b.mu.Unlock()
	if start {
		go q.write()
	}
}

// wait waits for o's results. If ctx ends first and o has not run (or, for
// a reservation, is running: it is then voided after its commit), it
// returns ctx's error and o is as if never queued.
func (o *op) wait(ctx context.Context) error {
	select {
	case <-o.done:
		return nil
	case <-ctx.Done():
	}
	if o.state.CompareAndSwap(stQueued, stAbandoned) ||
		(o.kind == opReserve || o.kind == opFlush) && o.state.CompareAndSwap(stTaken, stOrphaned) {
		return ctx.Err()
	}
	<-o.done // taken and not orphanable, or already done: wait for the commit
	return nil
}

// write is the writer goroutine.
func (q *Quota) write() {
	b := &q.batch
	batch := make([]*op, 0, maxBatch)
	var timer *time.Timer
	for {
		b.mu.Lock()
		n := min(len(b.queue), maxBatch)
		if n == 0 {
			b.running = false
			if cap(b.queue) > 4*maxBatch {
				b.queue = nil
			}
			b.mu.Unlock()
			return
		}
		if b.waited == 0 && q.opts.SettleDelay > 0 {
			// Only ops nobody waits for: give a reservation (or Flush)
			// the time to come and share their commit.
			if d := time.Until(b.queue[0].queued.Add(q.opts.SettleDelay)); d > 0 {
				b.lingering = true
				b.mu.Unlock()
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				select {
				case <-timer.C:
				case <-b.wake:
					timer.Stop()
				}
				b.mu.Lock()
				b.lingering = false
				b.mu.Unlock()
				continue
			}
		}
		batch = append(batch[:0], b.queue[:n]...)
		rest := copy(b.queue, b.queue[n:])
		clear(b.queue[rest:])
		b.queue = b.queue[:rest]
		for _, o := range batch {
			if !o.async {
				b.waited--
			}
		}
		b.mu.Unlock()
		q.run(batch)
		q.settled(batch)
		clear(batch)
		// Let the callers just woken queue their next ops (a Settle follows
		// a Reserve) before taking the next batch: with few cores, batches
		// are then several times larger. A yield, not a timer: with nothing
		// else runnable it returns at once.
		runtime.Gosched()
	}
}

// settled accounts for the async ops of a batch that has run, then wakes
// its flushes: every op queued before them has run, and Flush finds the
// failures among them accounted for.
func (q *Quota) settled(batch []*op) {
	b := &q.batch
	b.mu.Lock()
	for _, o := range batch {
		if !o.async {
			continue
		}
		b.unsettled--
		if o.err != nil {
			b.asyncFailed++
			b.asyncErr = o.err
		}
	}
	b.mu.Unlock()
	for _, o := range batch {
		if o.kind == opFlush && o.state.Load() != stAbandoned {
			o.state.CompareAndSwap(stTaken, stDone)
			close(o.done)
		}
	}
}

// run commits one batch and hands its results out.
func (q *Quota) run(batch []*op) {
	ops := make([]*op, 0, len(batch))
	for _, o := range batch {
		if o.state.CompareAndSwap(stQueued, stTaken) && o.kind != opFlush {
			ops = append(ops, o)
		}
	}
	if len(ops) == 0 {
		return
	}
	q.batch.batches.Add(1)
	q.batch.ops.Add(int64(len(ops)))
	ctx, cancel := q.st.Driver().BatchContext(settleTimeout)
	atCommit, err := q.commit(ctx, ops)
	cancel()
	if err != nil && len(ops) > 1 && !atCommit {
		// Whatever broke the batch fails alone. (Not if the commit itself
		// failed: the batch may be committed, and running it again could
		// settle twice.)
		ctx, cancel := q.st.Driver().BatchContext(settleTimeout)
		for _, o := range ops {
			_, o.err = q.commit(ctx, []*op{o})
		}
		cancel()
	} else {
		for _, o := range ops {
			o.err = err
		}
	}
	for _, o := range ops {
		admitted := o.kind == opReserve && o.err == nil && len(o.refusals) == 0
		if !o.state.CompareAndSwap(stTaken, stDone) && admitted {
			// Its caller went away during the batch: give everything back,
			// the request included, in the next batch. Should that fail,
			// the lease expires and the estimate stays counted (fail safe).
			q.enqueue(newAsyncOp(opVoid, o.r))
		}
		if o.done != nil {
			close(o.done)
		}
	}
}

// errNothingToCommit rolls back a batch whose reservations were all refused.
var errNothingToCommit = errors.New("nothing to commit")

// commit runs ops in one transaction: first the settlements, releases and
// voids (so that the capacity they free is there for the reservations of
// the same batch; any order of concurrent requests is a valid one), then
// the reservations in queue order. A refused reservation alone in its batch
// rolls the transaction back; in a batch with other ops, what it counted
// before being refused is taken back by compensating statements (cheaper
// than a savepoint per reservation, and only refusals pay for them).
// atCommit reports an error of the commit itself.
func (q *Quota) commit(ctx context.Context, ops []*op) (atCommit bool, err error) {
	var finishes []*op
	for _, o := range ops {
		if o.kind != opReserve {
			finishes = append(finishes, o)
		}
	}
	ran := false
	err = q.st.Tx(ctx, func(tx *store.Tx) error {
		b := batchTx{ctx: ctx, tx: tx, q: q}
		if err := q.st.Driver().LockQuota(ctx, &b); err != nil {
			return fmt.Errorf("taking the quota lock: %w", err)
		}
		wrote := len(finishes) > 0
		if wrote {
			if err := b.finish(finishes); err != nil {
				return err
			}
		}
		for _, o := range ops {
			if o.kind != opReserve {
				continue
			}
			if err := b.reserve(o); err != nil {
				return err
			}
			if len(o.refusals) == 0 {
				wrote = true
			} else if len(ops) > 1 {
				if err := b.undo(o.r); err != nil {
					return err
				}
			}
		}
		if !wrote {
			return errNothingToCommit
		}
		ran = true
		return nil
	})
	if errors.Is(err, errNothingToCommit) {
		return false, nil
	}
	return err != nil && ran, err
}

// batchTx runs the request path's statements in a batch's transaction,
// prepared where the driver prepares them (store.Store.Hot). It is the
// store.Execer of the driver's quota operations.
type batchTx struct {
	ctx   context.Context
	tx    *store.Tx
	q     *Quota
	stmts map[string]*sql.Stmt // the transaction's handles of prepared statements
}

// stmt returns the transaction's handle of query's prepared statement, or
// nil and query's text in the dialect's placeholders.
func (b *batchTx) stmt(query string) (*sql.Stmt, string, error) {
	if s := b.stmts[query]; s != nil {
		return s, "", nil
	}
	ps, text, err := b.q.st.Hot(b.ctx, query)
	if ps == nil || err != nil {
		return nil, text, err
	}
	if b.stmts == nil {
		b.stmts = make(map[string]*sql.Stmt, 8)
	}
	s := b.tx.StmtContext(b.ctx, ps)
	b.stmts[query] = s
	return s, "", nil
}

func (b *batchTx) queryRow(query string, args ...any) *sql.Row {
	s, text, err := b.stmt(query)
	switch {
	case s != nil:
		return s.QueryRowContext(b.ctx, args...)
	case err != nil: // could not prepare: run it unprepared
		return b.tx.QueryRow(b.ctx, query, args...)
	}
	return b.tx.QueryRowContext(b.ctx, text, args...)
}

// ExecContext runs a statement written with ? placeholders (or the
// dialect's own).
func (b *batchTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, text, err := b.stmt(query)
	switch {
	case err != nil:
		return nil, err
	case s != nil:
		return s.ExecContext(ctx, args...)
	}
	return b.tx.ExecContext(ctx, text, args...)
}

func (b *batchTx) exec(query string, args ...any) error {
	_, err := b.ExecContext(b.ctx, query, args...)
	return err
}

// execN runs a statement and returns the number of rows it changed.
func (b *batchTx) execN(query string, args ...any) (int64, error) {
	return store.Affected(b.ExecContext(b.ctx, query, args...))
}

// reserve counts a reservation against each of its subjects; the caller
// rolls back if it is refused.
func (b *batchTx) reserve(o *op) error {
	r := o.r
	o.refusals, r.subjects, r.leased = nil, r.subjects[:0], false
	r.leaseExpires = store.Micros(o.now.Add(b.q.opts.Lease))
	for _, s := range o.subs {
		res, refs, err := b.reserveOne(s, r.estimate, o.w, o.now, r.id, r.leaseExpires)
		if err != nil {
			return err
		}
		o.refusals = append(o.refusals, refs...)
		r.subjects = append(r.subjects, res)
		r.leased = r.leased || res.leased
	}
	return nil
}

// undo takes back what a refused reservation counted before it was
// refused: its request and estimate where they were counted, its leases.
func (b *batchTx) undo(r *Reservation) error {
	var leases []store.Lease
	for _, s := range r.subjects {
		if s.leased {
			leases = append(leases, store.Lease{Subject: s.key, ExpiresAt: r.leaseExpires, ID: r.id})
		}
		if s.counted {
			err := b.exec(adjustSQL, s.minute, -1, -1, s.day, -r.estimate, -r.estimate, s.month, -r.estimate, -r.estimate, s.key, s.day, s.month)
			if err != nil {
				return fmt.Errorf("taking back a refused reservation: %w", err)
			}
		}
	}
	r.leased = false
	return b.deleteLeases(leases)
}

// finish settles, releases and voids reservations: one statement deletes
// their leases, one per subject and windows adjusts the counters (a group
// shared by all is updated once per batch).
func (b *batchTx) finish(ops []*op) error {
	type windowsOf struct {
		key                string
		minute, day, month int64
	}
	type deltas struct{ requests, tokens int64 }
	var leases []store.Lease
	adjust := make(map[windowsOf]*deltas)
	var order []windowsOf
	for _, o := range ops {
		r := o.r
		if r.leased {
			for _, s := range r.subjects {
				if s.leased {
					leases = append(leases, store.Lease{Subject: s.key, ExpiresAt: r.leaseExpires, ID: r.id})
				}
			}
		}
		requests, tokens := int64(0), o.delta
		if o.kind == opVoid {
			requests, tokens = -1, -r.estimate
		}
		if requests == 0 && tokens == 0 {
			continue
		}
		for _, s := range r.subjects {
			k := windowsOf{s.key, s.minute, s.day, s.month}
			d := adjust[k]
			if d == nil {
				d = &deltas{}
				adjust[k] = d
				order = append(order, k)
			}
			d.requests += requests
			d.tokens += tokens
		}
	}
	// The leases first (no other transaction waits for them).
	if err := b.deleteLeases(leases); err != nil {
		return err
	}
	slices.SortFunc(order, func(a, b windowsOf) int { return cmp.Compare(b.key, a.key) })
	for _, k := range order {
		d := adjust[k]
		if d.requests == 0 && d.tokens == 0 {
			continue
		}
		// Only the windows the reservations went to are adjusted; if they
		// rolled over, there is nothing left to correct.
		err := b.exec(adjustSQL, k.minute, d.requests, d.requests, k.day, d.tokens, d.tokens, k.month, d.tokens, d.tokens, k.key, k.day, k.month)
		if err != nil {
			return err
		}
	}
	return nil
}

// deleteLeases deletes leases in one statement.
func (b *batchTx) deleteLeases(leases []store.Lease) error {
	switch len(leases) {
	case 0:
		return nil
	case 1:
		l := leases[0]
		return b.exec(deleteLeaseSQL, l.Subject, l.ExpiresAt, l.ID)
	}
	return b.q.st.Driver().DeleteLeases(b.ctx, b, leases)
}

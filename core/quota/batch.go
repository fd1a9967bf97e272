package quota

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"timon.dev/timon/core/store"
)

// Group commit (see the package documentation): Reserve, Settle and Release
// queue an op and wait for it; one writer goroutine, started when an op is
// queued and none runs, takes every op queued (up to maxBatch), runs them in
// one transaction, wakes their callers, and exits when the queue is empty.

// maxBatch bounds the ops of one transaction. On PostgreSQL it also keeps a
// batch within the 64 subtransactions a backend caches (each reservation of
// a batch is one): beyond, every snapshot of the server gets slower.
const maxBatch = 64

// lockClass and the schema name's hash are the PostgreSQL advisory lock
// every quota batch takes first (see the package documentation): one lock
// per schema, so that deployments sharing a database do not contend. The
// statement has no arguments, so that pgx sends it without preparing it.
var (
	lockClass = func() int32 {
		h := fnv.New32a()
		h.Write([]byte("timon-quota"))
		return int32(h.Sum32())
	}()
	lockSQL = fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d, hashtext(COALESCE(current_schema(), '')))`, lockClass)
)

const (
	savepointSQL         = `SAVEPOINT quota_reservation`
	rollbackSavepointSQL = `ROLLBACK TO SAVEPOINT quota_reservation`
	releaseSavepointSQL  = `RELEASE SAVEPOINT quota_reservation`
	// The leases of several reservations, by id.
	deleteLeasesPostgresSQL = `DELETE FROM quota_leases WHERE id = ANY(?)`
	deleteLeasesSQLiteSQL   = `DELETE FROM quota_leases WHERE id IN (SELECT value FROM json_each(?))`
)

type opKind uint8

const (
	opReserve opKind = iota
	opFinish         // Settle or Release
	opVoid           // undo a reservation whose caller went away
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
	kind  opKind
	state atomic.Int32
	done  chan struct{} // closed when the results are set

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

// batcher is the queue of a Quota.
type batcher struct {
	mu      sync.Mutex
	queue   []*op
	running bool // a writer goroutine is running

	batches, ops atomic.Int64 // batches run so far and their ops, for tests
}

// enqueue queues o, starting a writer if none runs.
func (q *Quota) enqueue(o *op) {
	b := &q.batch
	b.mu.Lock()
	b.queue = append(b.queue, o)
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
		o.kind == opReserve && o.state.CompareAndSwap(stTaken, stOrphaned) {
		return ctx.Err()
	}
	<-o.done // taken and not orphanable, or already done: wait for the commit
	return nil
}

// write is the writer goroutine.
func (q *Quota) write() {
	b := &q.batch
	batch := make([]*op, 0, maxBatch)
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
		batch = append(batch[:0], b.queue[:n]...)
		rest := copy(b.queue, b.queue[n:])
		clear(b.queue[rest:])
		b.queue = b.queue[:rest]
		b.mu.Unlock()
		q.run(batch)
		clear(batch)
		// Let the callers just woken queue their next ops (a Settle follows
		// a Reserve) before taking the next batch: with few cores, batches
		// are then several times larger. A yield, not a timer: with nothing
		// else runnable it returns at once.
		runtime.Gosched()
	}
}

// run commits one batch and hands its results out.
func (q *Quota) run(batch []*op) {
	ops := batch[:0]
	for _, o := range batch {
		if o.state.CompareAndSwap(stQueued, stTaken) {
			ops = append(ops, o)
		}
	}
	if len(ops) == 0 {
		return
	}
	q.batch.batches.Add(1)
	q.batch.ops.Add(int64(len(ops)))
	ctx, cancel := q.batchContext()
	atCommit, err := q.commit(ctx, ops)
	cancel()
	if err != nil && len(ops) > 1 && !atCommit {
		// Whatever broke the batch fails alone. (Not if the commit itself
		// failed: the batch may be committed, and running it again could
		// settle twice.)
		ctx, cancel := q.batchContext()
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
			q.enqueue(newOp(opVoid, o.r))
		}
		close(o.done)
	}
}

// batchContext bounds a batch. On SQLite, where the busy timeout bounds the
// wait for the write lock, it is not cancelable: a cancelable context costs
// the driver a goroutine per statement, to interrupt it.
func (q *Quota) batchContext() (context.Context, context.CancelFunc) {
	if q.st.Dialect() == store.SQLite {
		return context.Background(), func() {}
	}
	return context.WithTimeout(context.Background(), settleTimeout)
}

// errNothingToCommit rolls back a batch whose reservations were all refused.
var errNothingToCommit = errors.New("nothing to commit")

// commit runs ops in one transaction: first the settlements, releases and
// voids (so that the capacity they free is there for the reservations of
// the same batch; any order of concurrent requests is a valid one), then
// the reservations in queue order. With several ops, each reservation runs
// within a savepoint, rolled back if it is refused; the last one is
// released by the commit. atCommit reports an error of the commit itself.
func (q *Quota) commit(ctx context.Context, ops []*op) (atCommit bool, err error) {
	var finishes []*op
	for _, o := range ops {
		if o.kind != opReserve {
			finishes = append(finishes, o)
		}
	}
	savepoints := len(ops) > 1
	ran := false
	err = q.st.Tx(ctx, func(tx *store.Tx) error {
		b := batchTx{ctx: ctx, tx: tx, q: q}
		if q.st.Dialect() == store.Postgres {
			if err := b.exec(lockSQL); err != nil {
				return fmt.Errorf("taking the quota lock: %w", err)
			}
		}
		wrote := len(finishes) > 0
		if wrote {
			if err := b.finish(finishes); err != nil {
				return err
			}
		}
		open := false // a savepoint is open
		for _, o := range ops {
			if o.kind != opReserve {
				continue
			}
			if savepoints {
				if err := b.savepoint(open); err != nil {
					return err
				}
				open = true
			}
			if err := b.reserve(o); err != nil {
				return err
			}
			if len(o.refusals) == 0 {
				wrote = true
			} else if savepoints {
				if err := b.exec(rollbackSavepointSQL); err != nil {
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
// prepared when they can be.
type batchTx struct {
	ctx   context.Context
	tx    *store.Tx
	q     *Quota
	stmts map[string]*sql.Stmt // the transaction's handles of q.prepared
}

func (b *batchTx) stmt(query string) *sql.Stmt {
	ps := b.q.prepared[query]
	if ps == nil {
		return nil
	}
	if s := b.stmts[query]; s != nil {
		return s
	}
	if b.stmts == nil {
		b.stmts = make(map[string]*sql.Stmt, 8)
	}
	s := b.tx.StmtContext(b.ctx, ps)
	b.stmts[query] = s
	return s
}

func (b *batchTx) queryRow(query string, args ...any) *sql.Row {
	if s := b.stmt(query); s != nil {
		return s.QueryRowContext(b.ctx, args...)
	}
	return b.tx.QueryRowContext(b.ctx, b.q.rebind(query), args...)
}

func (b *batchTx) exec(query string, args ...any) error {
	var err error
	if s := b.stmt(query); s != nil {
		_, err = s.ExecContext(b.ctx, args...)
	} else {
		_, err = b.tx.ExecContext(b.ctx, b.q.rebind(query), args...)
	}
	return err
}

// execN runs a statement and returns the number of rows it changed.
func (b *batchTx) execN(query string, args ...any) (int64, error) {
	var res sql.Result
	var err error
	if s := b.stmt(query); s != nil {
		res, err = s.ExecContext(b.ctx, args...)
	} else {
		res, err = b.tx.ExecContext(b.ctx, b.q.rebind(query), args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// reserve counts a reservation against each of its subjects; the caller
// rolls back if it is refused.
func (b *batchTx) reserve(o *op) error {
	r := o.r
	o.refusals, r.subjects, r.leased = nil, r.subjects[:0], false
	for _, s := range o.subs {
		res, refs, err := b.reserveOne(s, r.estimate, o.w, o.now, r.id)
		if err != nil {
			return err
		}
		o.refusals = append(o.refusals, refs...)
		r.subjects = append(r.subjects, res)
		r.leased = r.leased || res.leased
	}
	return nil
}

// savepoint opens the savepoint of a reservation, releasing the previous
// reservation's if one is open; on PostgreSQL in one round trip (without
// arguments, pgx sends both statements as one simple query).
func (b *batchTx) savepoint(open bool) error {
	switch {
	case !open:
		return b.exec(savepointSQL)
	case b.q.st.Dialect() == store.Postgres:
		return b.exec(releaseSavepointSQL + "; " + savepointSQL)
	}
	if err := b.exec(releaseSavepointSQL); err != nil {
		return err
	}
	return b.exec(savepointSQL)
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
	var ids []string
	adjust := make(map[windowsOf]*deltas)
	var order []windowsOf
	for _, o := range ops {
		r := o.r
		if r.leased {
			ids = append(ids, r.id)
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
	switch {
	case len(ids) == 1:
		if err := b.exec(deleteLeaseSQL, ids[0]); err != nil {
			return err
		}
	case len(ids) > 1 && b.q.st.Dialect() == store.Postgres:
		if err := b.exec(deleteLeasesPostgresSQL, ids); err != nil {
			return err
		}
	case len(ids) > 1:
		list, err := json.Marshal(ids)
		if err != nil {
			return err
		}
		if err := b.exec(deleteLeasesSQLiteSQL, string(list)); err != nil {
			return err
		}
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

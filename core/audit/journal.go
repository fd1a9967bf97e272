package audit

import (
	"context"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"timon.dev/timon/core/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("journal closed")

// Options configures a Journal. The zero value journals without checkpoints
// and refuses full content.
type Options struct {
	// SigningKey signs checkpoints. Nil: no checkpoints (Verify then checks
	// the chain only).
	SigningKey ed25519.PrivateKey
	// ContentKey is the 32-byte XChaCha20-Poly1305 key that encrypts the
	// content of entries whose level is "full". Nil: such entries are
	// refused.
	ContentKey []byte
	// CheckpointEvery is the number of entries a journal appends between
	// two checkpoints; 0 means 1000.
	CheckpointEvery int
	// CheckpointInterval is the longest time a journal that appended leaves
	// its last entry without a checkpoint; 0 means one minute. Close also
	// writes a checkpoint.
	CheckpointInterval time.Duration
	// FullSync, on SQLite, makes the journal's connection commit with
	// synchronous=FULL: an acknowledged entry then survives a power loss,
	// not only a crash of the process, at the price of one fsync per batch.
	// PostgreSQL follows the server's synchronous_commit.
	FullSync bool
	// Logger receives batch failures and checkpoints (never entry fields
	// beyond seq numbers). Nil discards.
	Logger *slog.Logger
}

const (
	maxBatch      = 512               // entries per transaction
	insertChunk   = 128               // rows per INSERT statement
	commitTimeout = 30 * time.Second  // a stuck database fails the batch
	queueLen      = maxBatch * 4      // Append blocks when the writer lags this much
	entryColumns  = "seq, time_us, request_id, user_id, data, hash"
	entryColCount = 6
)

// appendLockKey is the PostgreSQL advisory lock every batch transaction
// takes, so that writers of several processes append one after the other.
var appendLockKey = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("timon-audit-append"))
	return int64(h.Sum64())
}()

// Journal appends entries. It is safe for concurrent use; one goroutine per
// Journal writes, batching the Appends that wait into one transaction.
type Journal struct {
	st   *store.Store
	opt  Options
	log  *slog.Logger
	aead cipher.AEAD
	kid  string // ContentKeyID of the content key

	mu     sync.RWMutex // guards closed and sends on reqs
	closed bool
	reqs   chan *pending
	done   chan struct{}

	closeOnce sync.Once
	closeErr  error

	// Owned by the writer goroutine.
	conn         *sql.Conn
	restore      []string // statements that reset the connection's settings
	sinceCP      int    // entries appended since this journal's last checkpoint
	insertSQL    map[int]string
	args         []any
	buf          []byte
	finishErr    error
	lastCPFailed bool
}

type pending struct {
	entry  Entry // normalized; Seq, PrevHash, Hash filled by the writer
	row    row
	sealed []byte // nil: no content row
	done   chan error
}

// Open migrates the journal's tables (component "audit") and starts its
// writer. Close it to flush and write a final checkpoint.
func Open(ctx context.Context, st *store.Store, opt Options) (*Journal, error) {
	if opt.SigningKey != nil && len(opt.SigningKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("opening journal: signing key must be an Ed25519 private key")
	}
	if opt.CheckpointEvery <= 0 {
		opt.CheckpointEvery = 1000
	}
	if opt.CheckpointInterval <= 0 {
		opt.CheckpointInterval = time.Minute
	}
	j := &Journal{
		st:        st,
		opt:       opt,
		log:       opt.Logger,
		reqs:      make(chan *pending, queueLen),
		done:      make(chan struct{}),
		insertSQL: map[int]string{},
	}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	j.log = j.log.With("component", "audit")
	if opt.ContentKey != nil {
		aead, err := newAEAD(opt.ContentKey)
		if err != nil {
			return nil, fmt.Errorf("opening journal: %w", err)
		}
		j.aead, j.kid = aead, ContentKeyID(opt.ContentKey)
	}
	if err := st.Migrate(ctx, "audit", migrations); err != nil {
		return nil, fmt.Errorf("opening journal: %w", err)
	}
	go j.run()
	return j, nil
}

// Append journals e and returns once it is committed: on SQLite in the WAL
// (it survives a crash of the process; with Options.FullSync a power loss
// too), on PostgreSQL as the server commits. It fills e with what was
// stored: Seq, Time, RequestID (generated when empty), PrevHash and Hash.
// c is stored, encrypted, only when e.ContentLevel is "full".
//
// An error means the request must fail closed. If ctx ends first, Append
// returns its error although the entry may still be committed.
func (j *Journal) Append(ctx context.Context, e *Entry, c *Content) error {
	if e == nil {
		return errors.New("journaling: nil entry")
	}
	n, err := normalize(e, time.Now())
	if err != nil {
		return err
	}
	p := &pending{done: make(chan error, 1)}
	if n.ContentLevel == LevelFull {
		if j.aead == nil {
			return fmt.Errorf("journaling request %s: content level full needs a content key", n.RequestID)
		}
		if c != nil && (c.Sent != "" || c.Returned != "") {
			if err := fillHash(&n.SentHash, c.Sent); err != nil {
				return fmt.Errorf("journaling request %s: sent %w", n.RequestID, err)
			}
			if err := fillHash(&n.ReturnedHash, c.Returned); err != nil {
				return fmt.Errorf("journaling request %s: returned %w", n.RequestID, err)
			}
			if p.sealed, err = seal(j.aead, &n, c); err != nil {
				return fmt.Errorf("journaling request %s: sealing content: %w", n.RequestID, err)
			}
		}
	}
	if p.row, err = encode(&n); err != nil {
		return err
	}
	p.entry = n

	j.mu.RLock()
	if j.closed {
		j.mu.RUnlock()
		return fmt.Errorf("journaling request %s: %w", n.RequestID, ErrClosed)
	}
	select {
	case j.reqs <- p:
		j.mu.RUnlock()
	case <-ctx.Done():
		j.mu.RUnlock()
		return fmt.Errorf("journaling request %s: %w", n.RequestID, ctx.Err())
	}
	select {
	case err := <-p.done:
		if err != nil {
			return fmt.Errorf("journaling request %s: %w", n.RequestID, err)
		}
		*e = p.entry
		return nil
	case <-ctx.Done():
		return fmt.Errorf("journaling request %s: %w (the entry may still be committed)", n.RequestID, ctx.Err())
	}
}

func fillHash(h *string, content string) error {
	sum := HashContent(content)
	switch *h {
	case "":
		*h = sum
	case sum:
	default:
		return errors.New("content hash does not match the content")
	}
	return nil
}

// Close stops accepting entries, commits those waiting, writes a final
// checkpoint (with a signing key) and releases the writer's connection. It
// does not close the store.
func (j *Journal) Close() error {
	j.closeOnce.Do(func() {
		j.mu.Lock()
		j.closed = true
		close(j.reqs)
		j.mu.Unlock()
		<-j.done
		j.closeErr = j.finishErr
	})
	return j.closeErr
}

// Ping reports whether the journal can take entries: it is open, the
// database answers and the last entry's hash can be chained on.
func (j *Journal) Ping(ctx context.Context) error {
	j.mu.RLock()
	closed := j.closed
	j.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	var h string
	err := j.st.QueryRow(ctx, `SELECT hash FROM audit_entries ORDER BY seq DESC LIMIT 1`).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	var b [32]byte
	if !decodeHash(&b, h) {
		return errors.New("journal: the last entry's hash is malformed: run timon audit verify")
	}
	return nil
}

// run is the writer goroutine.
func (j *Journal) run() {
	defer close(j.done)
	var tick <-chan time.Time
	if j.opt.SigningKey != nil {
		t := time.NewTicker(j.opt.CheckpointInterval)
		defer t.Stop()
		tick = t.C
	}
	batch := make([]*pending, 0, maxBatch)
	for {
		select {
		case p, ok := <-j.reqs:
			if !ok {
				j.finish()
				return
			}
			batch = append(batch[:0], p)
			open := true
			// Let the callers this goroutine just acknowledged, or woke,
			// enqueue their next entries first: batches grow with the load
			// at the cost of one yield.
			runtime.Gosched()
		drain:
			for len(batch) < maxBatch {
				select {
				case p, ok := <-j.reqs:
					if !ok {
						open = false
						break drain
					}
					batch = append(batch, p)
				default:
					break drain
				}
			}
			j.write(batch)
			clear(batch)
			if !open {
				j.finish()
				return
			}
		case <-tick:
			if j.sinceCP > 0 || j.lastCPFailed {
				j.checkpointTail()
			}
		}
	}
}

var DebugBatches, DebugEntries atomic.Int64

func (j *Journal) write(batch []*pending) {
	DebugBatches.Add(1)
	DebugEntries.Add(int64(len(batch)))
	err := j.commit(batch)
	if err != nil {
		j.log.Error("journal batch failed", "entries", len(batch), "err", err)
		j.dropConn()
	}
	for _, p := range batch {
		p.done <- err
	}
}

func (j *Journal) finish() {
	if j.opt.SigningKey != nil {
		j.finishErr = j.checkpointTail()
	}
	j.dropConn()
}

// execer is what sql.Tx, sql.Conn and sql.DB have in common.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// writerConn returns the connection the writer keeps across batches, so
// that a busy pool never delays the journal and its settings apply: on
// SQLite, statement journals in memory (a multi-row INSERT keeps one; in a
// file it costs system calls) and FullSync.
func (j *Journal) writerConn(ctx context.Context) (*sql.Conn, error) {
	if j.conn != nil {
		return j.conn, nil
	}
	c, err := j.st.DB().Conn(ctx)
	if err != nil {
		return nil, err
	}
	if j.st.Dialect() == store.SQLite {
		set := map[string]string{"temp_store": "MEMORY"}
		if j.opt.FullSync {
			set["synchronous"] = "FULL"
		}
		for name, val := range set {
			var prev string
			if err := c.QueryRowContext(ctx, `PRAGMA `+name).Scan(&prev); err != nil {
				c.Close()
				return nil, err
			}
			if _, err := c.ExecContext(ctx, `PRAGMA `+name+` = `+val); err != nil {
				c.Close()
				return nil, err
			}
			j.restore = append(j.restore, `PRAGMA `+name+` = `+prev)
		}
	}
	j.conn = c
	return c, nil
}

// dropConn gives the writer's connection back to the pool as it found it.
func (j *Journal) dropConn() {
	if j.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	for _, q := range j.restore {
		j.conn.ExecContext(ctx, q)
	}
	cancel()
	j.restore = nil
	j.conn.Close()
	j.conn = nil
}

// begin opens a batch transaction on the writer's connection, holding the
// append lock: PostgreSQL's advisory lock, SQLite's write lock (the store
// begins transactions IMMEDIATE). It returns the last entry's seq and hash.
func (j *Journal) begin(ctx context.Context) (*sql.Tx, int64, [32]byte, error) {
	var prev [32]byte
	conn, err := j.writerConn(ctx)
	if err != nil {
		return nil, 0, prev, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, prev, err
	}
	if j.st.Dialect() == store.Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, appendLockKey); err != nil {
			tx.Rollback()
			return nil, 0, prev, fmt.Errorf("taking the append lock: %w", err)
		}
	}
	var (
		seq int64
		h   string
	)
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1`).Scan(&seq, &h)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return tx, 0, genesis, nil
	case err != nil:
		tx.Rollback()
		return nil, 0, prev, fmt.Errorf("reading the last entry: %w", err)
	}
	if !decodeHash(&prev, h) {
		tx.Rollback()
		return nil, 0, prev, fmt.Errorf("the hash of entry %d is malformed: the journal was altered, run timon audit verify", seq)
	}
	return tx, seq, prev, nil
}

// commit writes one batch in one transaction.
func (j *Journal) commit(batch []*pending) error {
	ctx, cancel := j.batchContext()
	defer cancel()
	tx, last, prev, err := j.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for i, p := range batch {
		seq := last + 1 + int64(i)
		p.row.seq = seq
		j.buf = canonical(j.buf[:0], &prev, seq, p.row.timeUS, p.row.requestID, p.row.userID, p.row.data)
		h := sha256.Sum256(j.buf)
		p.entry.Seq = seq
		p.entry.PrevHash = hex.EncodeToString(prev[:])
		p.entry.Hash = hex.EncodeToString(h[:])
		prev = h
	}
	for start := 0; start < len(batch); start += insertChunk {
		chunk := batch[start:min(start+insertChunk, len(batch))]
		args := j.args[:0]
		for _, p := range chunk {
			args = append(args, p.row.seq, p.row.timeUS, p.row.requestID, p.row.userID, p.row.data, p.entry.Hash)
		}
		j.args = args
		if _, err := tx.ExecContext(ctx, j.insertEntries(len(chunk)), args...); err != nil {
			return fmt.Errorf("inserting entries: %w", err)
		}
	}
	clear(j.args)
	for _, p := range batch {
		if p.sealed == nil {
			continue
		}
		_, err := tx.ExecContext(ctx, j.st.Rebind(`INSERT INTO audit_content (seq, time_us, key_id, sealed) VALUES (?, ?, ?, ?)`),
			p.row.seq, p.row.timeUS, j.kid, p.sealed)
		if err != nil {
			return fmt.Errorf("inserting content: %w", err)
		}
	}
	tail := batch[len(batch)-1].entry
	checkpoint := j.opt.SigningKey != nil && j.sinceCP+len(batch) >= j.opt.CheckpointEvery
	if checkpoint {
		if err := insertCheckpoint(ctx, tx, j.st, signCheckpoint(j.opt.SigningKey, tail.Seq, tail.Hash, time.Now())); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing entries: %w", err)
	}
	if checkpoint {
		j.sinceCP = 0
		j.log.Debug("checkpoint", "seq", tail.Seq)
	} else {
		j.sinceCP += len(batch)
	}
	return nil
}

// batchContext bounds a batch on PostgreSQL, where the network can hang.
// SQLite bounds lock waits with its busy timeout; a deadline there would
// cost a watcher goroutine per statement.
func (j *Journal) batchContext() (context.Context, context.CancelFunc) {
	if j.st.Dialect() == store.SQLite {
		return context.Background(), func() {}
	}
	return context.WithTimeout(context.Background(), commitTimeout)
}

func (j *Journal) insertEntries(n int) string {
	if q, ok := j.insertSQL[n]; ok {
		return q
	}
	var b strings.Builder
	b.WriteString("INSERT INTO audit_entries (" + entryColumns + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?, ?, ?, ?, ?, ?)")
	}
	q := j.st.Rebind(b.String())
	j.insertSQL[n] = q
	return q
}

// checkpointTail signs the last entry if no checkpoint names it yet.
func (j *Journal) checkpointTail() error {
	err := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		defer cancel()
		tx, last, prev, err := j.begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var cp int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints`).Scan(&cp); err != nil {
			return fmt.Errorf("reading the last checkpoint: %w", err)
		}
		if last <= cp {
			return nil
		}
		if err := insertCheckpoint(ctx, tx, j.st, signCheckpoint(j.opt.SigningKey, last, hex.EncodeToString(prev[:]), time.Now())); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("committing checkpoint: %w", err)
		}
		j.log.Debug("checkpoint", "seq", last)
		return nil
	}()
	if err != nil {
		j.log.Error("journal checkpoint failed", "err", err)
		j.dropConn()
		j.lastCPFailed = true
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	j.sinceCP, j.lastCPFailed = 0, false
	return nil
}

package audit

import (
	"context"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hmac"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"timon.dev/timon/core/metrics"
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
	// HashKey is the key (at least 32 bytes) of the HMAC-SHA-256 that
	// entries record of what was sent and returned (Journal.HashContent),
	// so that a reader of the journal cannot test a guess. Every process
	// appending to one journal (replicas on PostgreSQL) should share it:
	// content checks need the key an entry names. Nil: unkeyed SHA-256,
	// for compatibility; timon always gives one.
	HashKey []byte
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
	maxBatch      = 512                    // entries per transaction
	commitTimeout = 30 * time.Second       // a stuck database fails the batch
	queueLen      = maxBatch * 4           // Append blocks when the writer lags this much
	lingerMax     = 200 * time.Microsecond // longest wait for entries being prepared
)

// Journal appends entries. It is safe for concurrent use; one goroutine per
// Journal writes, batching the Appends that wait into one transaction.
type Journal struct {
	st   *store.Store
	opt  Options
	log  *slog.Logger
	aead cipher.AEAD
	kid  string // ContentKeyID of the content key
	hkid string // HashKeyID of the hash key; "" without one

	preparing atomic.Int64 // Appends validating, encoding, sealing: about to enqueue

	mu     sync.RWMutex // guards closed and sends on reqs
	closed bool
	reqs   chan *pending
	done   chan struct{}

	closeOnce sync.Once
	closeErr  error

	// Owned by the writer goroutine.
	w            writerConn
	sinceCP      int // entries appended since this journal's last checkpoint
	buf          []byte
	finishErr    error
	lastCPFailed bool
	rows         []store.JournalRow // reused by commit
	walKick      chan struct{}      // asks walCheckpoints for a WAL checkpoint
	walDone      chan struct{}
	walCommits   int
	// walKicks counts the checkpoints asked for, walRuns those done: tests
	// wait for them to match.
	walKicks, walRuns atomic.Int64
}

type pending struct {
	entry  Entry // normalized; Seq, PrevHash, Hash filled by the writer
	row    row
	sealed []byte // nil: no content row
	done   chan error
	queued time.Time
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
		st:   st,
		opt:  opt,
		log:  opt.Logger,
		reqs: make(chan *pending, queueLen),
		done: make(chan struct{}),
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
	if opt.HashKey != nil {
		if len(opt.HashKey) < 32 {
			return nil, fmt.Errorf("opening journal: the content-hash key must have at least 32 bytes, got %d", len(opt.HashKey))
		}
		j.hkid = HashKeyID(opt.HashKey)
	}
	if err := st.Migrate(ctx, "audit", migrations); err != nil {
		return nil, fmt.Errorf("opening journal: %w", err)
	}
	if err := backfill(ctx, st); err != nil {
		return nil, fmt.Errorf("opening journal: %w", err)
	}
	j.walKick, j.walDone = make(chan struct{}, 1), make(chan struct{})
	go j.walCheckpoints(j.walKick, j.walDone)
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
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("journaling request %s: %w", e.RequestID, err)
	}
	j.preparing.Add(1)
	p, err := j.prepare(e, c)
	if err != nil {
		j.preparing.Add(-1)
		return err
	}
	rid := p.entry.RequestID

	j.mu.RLock()
	if j.closed {
		j.mu.RUnlock()
		j.preparing.Add(-1)
		return fmt.Errorf("journaling request %s: %w", rid, ErrClosed)
	}
	select {
	case j.reqs <- p:
		j.mu.RUnlock()
		j.preparing.Add(-1)
	case <-ctx.Done():
		j.mu.RUnlock()
		j.preparing.Add(-1)
		return fmt.Errorf("journaling request %s: %w", rid, ctx.Err())
	}
	select {
	case err := <-p.done:
		if err != nil {
			return fmt.Errorf("journaling request %s: %w", rid, err)
		}
		*e = p.entry
		return nil
	case <-ctx.Done():
		return fmt.Errorf("journaling request %s: %w (the entry may still be committed)", rid, ctx.Err())
	}
}

// prepare validates and encodes an entry and seals its content: the work
// done in the caller's goroutine.
func (j *Journal) prepare(e *Entry, c *Content) (*pending, error) {
	n, err := normalize(e, time.Now())
	if err != nil {
		return nil, err
	}
	p := &pending{done: make(chan error, 1), queued: time.Now()}
	// The hashes are this journal's (Journal.HashContent): the entry says
	// under which key, so that content checks recompute them.
	if n.HashKey != "" && n.HashKey != j.hkid {
		return nil, fmt.Errorf("journaling request %s: the entry's hashes are under hash key %q, the journal's is %q", n.RequestID, n.HashKey, j.hkid)
	}
	n.HashKey = ""
	if n.ContentLevel == LevelFull {
		if j.aead == nil {
			return nil, fmt.Errorf("journaling request %s: content level full needs a content key", n.RequestID)
		}
		if c != nil && (c.Sent != "" || c.Returned != "") {
			if err := j.fillHash(&n.SentHash, c.Sent); err != nil {
				return nil, fmt.Errorf("journaling request %s: sent %w", n.RequestID, err)
			}
			if err := j.fillHash(&n.ReturnedHash, c.Returned); err != nil {
				return nil, fmt.Errorf("journaling request %s: returned %w", n.RequestID, err)
			}
			if p.sealed, err = seal(j.aead, &n, c); err != nil {
				return nil, fmt.Errorf("journaling request %s: sealing content: %w", n.RequestID, err)
			}
		}
	}
	if n.SentHash != "" || n.ReturnedHash != "" {
		n.HashKey = j.hkid
	}
	if p.row, err = encode(&n); err != nil {
		return nil, err
	}
	p.entry = n
	return p, nil
}

// HashContent returns the hash an entry of this journal records for content
// s: the HMAC-SHA-256 under Options.HashKey, or without one the plain
// SHA-256; "" for empty content.
func (j *Journal) HashContent(s string) string {
	if j.hkid == "" {
		return HashContent(s)
	}
	return KeyedHash(j.opt.HashKey, s)
}

func (j *Journal) fillHash(h *string, content string) error {
	sum := j.HashContent(content)
	switch {
	case *h == "":
		*h = sum
	case !hmac.Equal([]byte(*h), []byte(sum)):
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
			// Group commit: take every entry waiting, and those being
			// prepared right now (they arrive within microseconds), so
			// that concurrent requests share a commit. A lone caller
			// never waits.
			deadline, yielded := time.Now().Add(lingerMax), false
		drain:
			for len(batch) < maxBatch {
				select {
				case p, ok := <-j.reqs:
					if !ok {
						open = false
						break drain
					}
					batch = append(batch, p)
					continue
				default:
				}
				if j.preparing.Load() == 0 {
					if yielded {
						break
					}
					// Callers just acknowledged may be about to append
					// again: let them run once.
					yielded = true
				} else if time.Now().After(deadline) {
					break
				}
				runtime.Gosched()
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

func (j *Journal) write(batch []*pending) {
	err := j.commit(batch)
	metrics.JournalLag.Set(time.Since(batch[0].queued).Seconds())
	if err != nil {
		j.log.Error("journal batch failed", "entries", len(batch), "err", err)
		j.dropConn()
	} else {
		j.kickWAL(false)
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
	j.kickWAL(true)
	close(j.walKick)
	<-j.walDone
}

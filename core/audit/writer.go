package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"timon.dev/timon/core/store"
)

// writerConn is the connection a Journal's writer keeps across batches, so
// that a busy pool never delays the journal, its settings apply, and its
// statements are prepared once: the writer talks to the driver connection
// directly (sql.Conn.Raw), as database/sql would prepare them again in
// every transaction.
type writerConn struct {
	conn    *sql.Conn
	release func()                 // restores the connection's settings and gives it back
	stmts   map[string]driver.Stmt // prepared on conn's driver connection
	args    []driver.NamedValue    // reused argument buffer
}

// connect takes the writer's connection (store.Driver.WriterConn).
func (j *Journal) connect(ctx context.Context) (*sql.Conn, error) {
	if j.w.conn != nil {
		return j.w.conn, nil
	}
	c, release, err := j.st.Driver().WriterConn(ctx, j.opt.FullSync)
	if err != nil {
		return nil, err
	}
	j.w.conn, j.w.release, j.w.stmts = c, release, map[string]driver.Stmt{}
	return c, nil
}

// dropConn closes the writer's statements and gives its connection back to
// the pool as it found it (database/sql discards it if it is broken).
func (j *Journal) dropConn() {
	if j.w.conn == nil {
		return
	}
	j.w.conn.Raw(func(any) error {
		for _, s := range j.w.stmts {
			s.Close()
		}
		return nil
	})
	j.w.release()
	j.w = writerConn{}
}

// wtx is a batch transaction on the writer's driver connection.
type wtx struct {
	ctx context.Context
	j   *Journal
	dc  driver.Conn
}

func (t *wtx) stmt(query string) (driver.Stmt, error) {
	if s, ok := t.j.w.stmts[query]; ok {
		return s, nil
	}
	p, ok := t.dc.(driver.ConnPrepareContext)
	if !ok {
		return nil, errors.New("the database driver cannot prepare statements with a context")
	}
	s, err := p.PrepareContext(t.ctx, query)
	if err != nil {
		return nil, err
	}
	t.j.w.stmts[query] = s
	return s, nil
}

func (t *wtx) named(args []any) []driver.NamedValue {
	nv := t.j.w.args[:0]
	for i, a := range args {
		nv = append(nv, driver.NamedValue{Ordinal: i + 1, Value: a})
	}
	t.j.w.args = nv
	return nv
}

// ExecContext runs a statement written with ? placeholders (or the
// dialect's own): the store.Execer the driver's journal operations use.
func (t *wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := t.stmt(t.j.st.Rebind(query))
	if err != nil {
		return nil, err
	}
	defer clear(t.j.w.args)
	if se, ok := s.(driver.StmtExecContext); ok {
		return se.ExecContext(ctx, t.named(args))
	}
	return nil, errors.New("driver statement without ExecContext")
}

func (t *wtx) exec(query string, args ...any) error {
	_, err := t.ExecContext(t.ctx, query, args...)
	return err
}

// queryRow runs a one-row query written with ? placeholders into dest;
// false when there is no row.
func (t *wtx) queryRow(query string, dest []driver.Value, args ...any) (bool, error) {
	s, err := t.stmt(t.j.st.Rebind(query))
	if err != nil {
		return false, err
	}
	sq, ok := s.(driver.StmtQueryContext)
	if !ok {
		return false, errors.New("driver statement without QueryContext")
	}
	rows, err := sq.QueryContext(t.ctx, t.named(args))
	clear(t.j.w.args)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	switch err := rows.Next(dest); {
	case err == io.EOF:
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// inTx runs fn in a transaction on the writer's connection, holding the
// append lock (store.Driver.LockJournal), and passes it the last entry's
// seq and hash. fn's work is committed if it returns nil.
func (j *Journal) inTx(fn func(t *wtx, last int64, prev [32]byte) error) error {
	ctx, cancel := j.st.Driver().BatchContext(commitTimeout)
	defer cancel()
	conn, err := j.connect(ctx)
	if err != nil {
		return err
	}
	return conn.Raw(func(dc any) error {
		t := &wtx{ctx: ctx, j: j, dc: dc.(driver.Conn)}
		b, ok := t.dc.(driver.ConnBeginTx)
		if !ok {
			return errors.New("the database driver cannot begin transactions with a context")
		}
		tx, err := b.BeginTx(ctx, driver.TxOptions{})
		if err != nil {
			return fmt.Errorf("beginning transaction: %w", err)
		}
		done := false
		defer func() {
			if !done {
				tx.Rollback()
			}
		}()
		if err := j.st.Driver().LockJournal(ctx, t); err != nil {
			return fmt.Errorf("taking the append lock: %w", err)
		}
		var (
			last int64
			prev = genesis
			row  = make([]driver.Value, 2)
		)
		found, err := t.queryRow(`SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1`, row)
		if err != nil {
			return fmt.Errorf("reading the last entry: %w", err)
		}
		if found {
			var ok bool
			if last, ok = row[0].(int64); !ok {
				return fmt.Errorf("reading the last entry: seq is %T", row[0])
			}
			if !decodeHash(&prev, asString(row[1])) {
				return fmt.Errorf("the hash of entry %d is malformed: the journal was altered, run timon audit verify", last)
			}
		}
		if err := fn(t, last, prev); err != nil {
			return err
		}
		done = true
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("committing: %w", err)
		}
		return nil
	})
}

func asString(v driver.Value) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

// commit writes one batch in one transaction: seqs following the last
// entry, the chain, content, and a checkpoint when one is due.
func (j *Journal) commit(batch []*pending) error {
	checkpoint := j.opt.SigningKey != nil && j.sinceCP+len(batch) >= j.opt.CheckpointEvery
	err := j.inTx(func(t *wtx, last int64, prev [32]byte) error {
		for i, p := range batch {
			seq := last + 1 + int64(i)
			p.row.seq = seq
			j.buf = canonical(j.buf[:0], &prev, seq, p.row.timeUS, p.row.data)
			h := sha256.Sum256(j.buf)
			p.entry.Seq = seq
			p.entry.PrevHash = hex.EncodeToString(prev[:])
			p.entry.Hash = hex.EncodeToString(h[:])
			prev = h
		}
		rows := j.rows[:0]
		for _, p := range batch {
			rows = append(rows, store.JournalRow{Seq: p.row.seq, TimeUS: p.row.timeUS, Data: p.row.data, Hash: p.entry.Hash})
		}
		j.rows = rows
		defer clear(rows)
		if err := j.st.Driver().AppendEntries(t.ctx, t, rows); err != nil {
			return fmt.Errorf("inserting entries: %w", err)
		}
		r := newRollup()
		for _, p := range batch {
			r.add(&p.entry)
		}
		if err := r.write(t.ctx, j.st.Driver(), t); err != nil {
			return err
		}
		for _, p := range batch {
			if p.sealed == nil {
				continue
			}
			if err := t.exec(`INSERT INTO audit_content (seq, time_us, key_id, sealed) VALUES (?, ?, ?, ?)`,
				p.row.seq, p.row.timeUS, j.kid, p.sealed); err != nil {
				return fmt.Errorf("inserting content: %w", err)
			}
		}
		if checkpoint {
			tail := batch[len(batch)-1].entry
			return insertCheckpoint(t, signCheckpoint(j.opt.SigningKey, tail.Seq, tail.Hash, time.Now()))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if checkpoint {
		j.sinceCP = 0
		j.log.Debug("checkpoint", "seq", batch[len(batch)-1].entry.Seq)
	} else {
		j.sinceCP += len(batch)
	}
	return nil
}

func insertCheckpoint(t *wtx, c Checkpoint) error {
	err := t.exec(`INSERT INTO audit_checkpoints (seq, hash, time_us, key_id, signature) VALUES (?, ?, ?, ?, ?)`,
		c.Seq, c.Hash, c.Time.UnixMicro(), c.KeyID, c.Signature)
	if err != nil {
		return fmt.Errorf("writing checkpoint at %d: %w", c.Seq, err)
	}
	return nil
}

// checkpointTail signs the last entry if no checkpoint names it yet.
func (j *Journal) checkpointTail() error {
	err := j.inTx(func(t *wtx, last int64, prev [32]byte) error {
		row := make([]driver.Value, 1)
		if _, err := t.queryRow(`SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints`, row); err != nil {
			return fmt.Errorf("reading the last checkpoint: %w", err)
		}
		if cp, _ := row[0].(int64); last <= cp {
			return nil
		}
		return insertCheckpoint(t, signCheckpoint(j.opt.SigningKey, last, hex.EncodeToString(prev[:]), time.Now()))
	})
	if err != nil {
		j.log.Error("journal checkpoint failed", "err", err)
		j.dropConn()
		j.lastCPFailed = true
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	j.sinceCP, j.lastCPFailed = 0, false
	return nil
}

// walCheckpointEvery is the number of commits after which the writer asks
// for a WAL checkpoint.
const walCheckpointEvery = 32

// walRestartPages is the WAL size, in pages, from which a checkpoint makes
// the WAL start over (SQLite's own default checkpoints every 1000 pages).
var walRestartPages = 4096

// walCheckpoints runs the store's WAL checkpoints (store.Driver.WALCheckpoint;
// SQLite's) beside the writer, each time it is kicked. A checkpoint copies
// the WAL into the database file and syncs both. Run by the writer's
// connection after a commit, as SQLite does by default every 1000 pages, it
// stalls every Append waiting for the next batch; so the writer's
// connection does not checkpoint, and this goroutine does that work
// alongside the writer, making the WAL start over once it holds
// walRestartPages.
func (j *Journal) walCheckpoints(kick <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for range kick {
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		err := j.st.Driver().WALCheckpoint(ctx, walRestartPages)
		cancel()
		if err != nil {
			j.log.Warn("WAL checkpoint failed", "err", err)
		}
		j.walRuns.Add(1)
	}
}

// kickWAL counts a commit and asks for a WAL checkpoint when due.
func (j *Journal) kickWAL(force bool) {
	j.walCommits++
	if j.walCommits < walCheckpointEvery && !force {
		return
	}
	j.walCommits = 0
	select {
	case j.walKick <- struct{}{}:
		j.walKicks.Add(1)
	default: // one is already pending
	}
}

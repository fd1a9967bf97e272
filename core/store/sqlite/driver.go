package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"timon.dev/timon/core/store"
)

// driver is SQLite's store.Driver. Write transactions take the write lock at
// BEGIN (_txlock=immediate), which serialises them: the locks other
// databases need are nothing here.
type driver struct {
	db   *sql.DB
	dsn  string
	path string
}

var _ store.Driver = (*driver)(nil)

func (*driver) Dialect() store.Dialect { return store.SQLite }

func (*driver) BatchContext(time.Duration) (context.Context, context.CancelFunc) {
	return context.Background(), func() {}
}

func (*driver) PrepareHot() bool { return true }

func (*driver) LockMigrations(context.Context, store.Execer, string) error { return nil }

// JobClient gives the job queue its own single-connection pool on the same
// file: River runs internal operations in parallel, which SQLite answers
// with SQLITE_BUSY unless they share one connection.
func (d *driver) JobClient(ctx context.Context, cfg *river.Config) (store.JobClient, func() error, error) {
	jdb, err := sql.Open("sqlite", d.dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("opening SQLite file %s: %w", d.path, err)
	}
	jdb.SetMaxOpenConns(1)
	c, err := store.NewJobClient(ctx, riversqlite.New(jdb), cfg)
	if err != nil {
		jdb.Close()
		return nil, nil, err
	}
	return c, jdb.Close, nil
}

// conn takes a connection from the pool with pragmas set; release sets them
// back and returns it.
func (d *driver) conn(ctx context.Context, pragmas ...[2]string) (*sql.Conn, func(), error) {
	c, err := d.db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	var restore []string
	release := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		for _, q := range restore {
			c.ExecContext(ctx, q)
		}
		cancel()
		c.Close()
	}
	for _, kv := range pragmas {
		var prev string
		if err := c.QueryRowContext(ctx, `PRAGMA `+kv[0]).Scan(&prev); err != nil {
			release()
			return nil, nil, err
		}
		if _, err := c.ExecContext(ctx, `PRAGMA `+kv[0]+` = `+kv[1]); err != nil {
			release()
			return nil, nil, err
		}
		restore = append(restore, `PRAGMA `+kv[0]+` = `+prev)
	}
	return c, release, nil
}

// WriterConn keeps statement journals in memory (a multi-row INSERT needs
// one; in a file it costs system calls) and turns automatic WAL checkpoints
// off.
func (d *driver) WriterConn(ctx context.Context, fullSync bool) (*sql.Conn, func(), error) {
	set := [][2]string{{"temp_store", "MEMORY"}, {"wal_autocheckpoint", "0"}}
	if fullSync {
		set = append(set, [2]string{"synchronous", "FULL"})
	}
	return d.conn(ctx, set...)
}

func (*driver) LockJournal(context.Context, store.Execer) error { return nil }

// insertChunk is the number of rows of one INSERT statement.
const insertChunk = 128

// insertSQL holds the statements for 1 to insertChunk rows, built on first
// use: every timon subcommand links this driver, few of them write.
var insertSQL = sync.OnceValue(func() (q *[insertChunk + 1]string) {
	q = new([insertChunk + 1]string)
	for n := 1; n <= insertChunk; n++ {
		q[n] = "INSERT INTO audit_entries (seq, time_us, data, hash) VALUES " +
			strings.Repeat("(?, ?, ?, ?), ", n-1) + "(?, ?, ?, ?)"
	}
	return q
})

func (*driver) AppendEntries(ctx context.Context, tx store.Execer, rows []store.JournalRow) error {
	args := make([]any, 0, 4*min(len(rows), insertChunk))
	for start := 0; start < len(rows); start += insertChunk {
		chunk := rows[start:min(start+insertChunk, len(rows))]
		args = args[:0]
		for _, r := range chunk {
			args = append(args, r.Seq, r.TimeUS, r.Data, r.Hash)
		}
		if _, err := tx.ExecContext(ctx, insertSQL()[len(chunk)], args...); err != nil {
			return err
		}
	}
	return nil
}

// scanMmapSize is how much of the file a scan maps (SQLite caps it at its
// compile-time maximum, 2 GB by default): pages are then read without a
// system call each, which more than halves the cost of reading an entry.
const scanMmapSize = 1 << 40

func (d *driver) ScanConn(ctx context.Context) (*sql.Conn, func(), error) {
	return d.conn(ctx, [2]string{"mmap_size", strconv.Itoa(scanMmapSize)})
}

func (d *driver) DeleteContentBefore(ctx context.Context, timeUS int64, batch int) (int64, error) {
	c, release, err := d.conn(ctx, [2]string{"secure_delete", "ON"})
	if err != nil {
		return 0, err
	}
	defer release()
	return store.DeleteBatches(ctx, c, `DELETE FROM audit_content WHERE seq IN
		(SELECT seq FROM audit_content WHERE time_us < ? ORDER BY seq LIMIT ?)`, batch, timeUS)
}

// WALCheckpoint runs a passive checkpoint, which does not wait for the
// journal's writer; it cannot make the WAL start over while the writer keeps
// adding to it, so once the WAL holds restartPages a RESTART checkpoint
// waits for the writer's transaction and makes the next one write the WAL
// from its start.
func (d *driver) WALCheckpoint(ctx context.Context, restartPages int) error {
	var busy, pages, copied int64
	err := d.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &pages, &copied)
	if err == nil && pages >= int64(restartPages) {
		err = d.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(RESTART)`).Scan(&busy, &pages, &copied)
	}
	return err
}

func (*driver) JSONField(column, name string) string {
	return `json_extract(` + column + `, '$.` + name + `')`
}

func (*driver) JSONArrayHas(column, name string) string {
	return `EXISTS (SELECT 1 FROM json_each(` + column + `, '$.` + name + `') g WHERE g.value = ?)`
}

func (*driver) LockQuota(context.Context, store.Execer) error { return nil }

// DeleteLeases passes the keys as one JSON array of [subject, expires_at, id].
func (*driver) DeleteLeases(ctx context.Context, tx store.Execer, leases []store.Lease) error {
	list := make([][3]any, len(leases))
	for i, l := range leases {
		list[i] = [3]any{l.Subject, l.ExpiresAt, l.ID}
	}
	js, err := json.Marshal(list)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM quota_leases WHERE (subject, expires_at, id) IN (SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?))`, string(js))
	return err
}

func (d *driver) SweepLeases(ctx context.Context, nowUS int64) (int64, error) {
	return store.Affected(d.db.ExecContext(ctx, `DELETE FROM quota_leases WHERE expires_at <= ?`, nowUS))
}

func (d *driver) SweepUsage(ctx context.Context, monthUS int64) (int64, error) {
	return store.Affected(d.db.ExecContext(ctx, `DELETE FROM quota_usage WHERE month_start < ?`, monthUS))
}

// AddCounts inserts the rows by chunks of a power of two (64 at most), so
// that a writer preparing its statements once keeps at most seven of them
// per table. (One statement over a JSON array, as DeleteLeases does, costs
// a parse of the array for every column of every row: ten times more.)
func (*driver) AddCounts(ctx context.Context, tx store.Execer, t *store.CountTable, rows []store.CountRow) error {
	width := len(t.Keys) + len(t.Counts)
	args := make([]any, 0, width*min(len(rows), maxCountChunk))
	for len(rows) > 0 {
		n := maxCountChunk
		for n > len(rows) {
			n /= 2
		}
		args = args[:0]
		for _, r := range rows[:n] {
			if len(r.Keys) != len(t.Keys) || len(r.Counts) != len(t.Counts) {
				return fmt.Errorf("adding counts to %s: a row has %d keys and %d counts, the table %d and %d",
					t.Name, len(r.Keys), len(r.Counts), len(t.Keys), len(t.Counts))
			}
			args = append(args, r.Keys...)
			for _, c := range r.Counts {
				args = append(args, c)
			}
		}
		if _, err := tx.ExecContext(ctx, addCountsSQL(t, n), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// maxCountChunk is the most rows of one AddCounts statement.
const maxCountChunk = 64

// countsSQL caches addCountsSQL's statements by table and row count.
var countsSQL sync.Map // countsKey → string

type countsKey struct {
	t *store.CountTable
	n int
}

// addCountsSQL is the upsert of n rows of t.
func addCountsSQL(t *store.CountTable, n int) string {
	if q, ok := countsSQL.Load(countsKey{t, n}); ok {
		return q.(string)
	}
	q := buildCountsSQL(t, n)
	countsSQL.Store(countsKey{t, n}, q)
	return q
}

func buildCountsSQL(t *store.CountTable, n int) string {
	cols := append(append([]string{}, t.Keys...), t.Counts...)
	row := "(" + strings.Repeat("?, ", len(cols)-1) + "?)"
	set := make([]string, len(t.Counts))
	for i, c := range t.Counts {
		set[i] = c + " = t." + c + " + excluded." + c
	}
	return "INSERT INTO " + t.Name + " AS t (" + strings.Join(cols, ", ") + ") VALUES " + strings.Repeat(row+", ", n-1) + row +
		" ON CONFLICT (" + strings.Join(t.Keys, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ")
}

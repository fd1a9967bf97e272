package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/riverqueue/river"
)

// Driver is what differs between databases: the operations whose SQL, or
// whose cost, is not the same on SQLite and PostgreSQL. store/sqlite and
// store/postgres implement it; the packages owning tables call it through
// Store.Driver and contain no dialect of their own. Statements a driver runs
// in a caller's transaction go through an Execer.
type Driver interface {
	// Dialect names the driver's SQL flavour.
	Dialect() Dialect

	// BatchContext bounds a batch of writes by timeout where the network
	// can hang (PostgreSQL). SQLite bounds lock waits with its busy
	// timeout, and a cancellable context would cost a goroutine per
	// statement, so there it never ends.
	BatchContext(timeout time.Duration) (context.Context, context.CancelFunc)
	// PrepareHot reports whether statements of the request path pay for
	// being prepared once (SQLite, where parsing costs more than running
	// them); PostgreSQL's driver prepares and caches them by itself.
	PrepareHot() bool
	// LockMigrations serialises, in tx, the migrations of one component
	// across processes.
	LockMigrations(ctx context.Context, tx Execer, component string) error
	// JobClient migrates River's tables and builds a River client on the
	// database; close, if not nil, releases what the client used, after
	// it stopped.
	JobClient(ctx context.Context, cfg *river.Config) (c JobClient, close func() error, err error)

	// WriterConn takes a connection for the journal's writer to keep
	// across its batches; SQLite's keeps statement journals in memory,
	// leaves WAL checkpoints to WALCheckpoint and, with fullSync, commits
	// with synchronous=FULL. release restores the settings and gives the
	// connection back.
	WriterConn(ctx context.Context, fullSync bool) (conn *sql.Conn, release func(), err error)
	// LockJournal takes, in tx, the lock that makes the journal's writers
	// of every process append one after the other (on SQLite the write
	// lock taken at BEGIN is that lock).
	LockJournal(ctx context.Context, tx Execer) error
	// AppendEntries inserts journal entries in tx, as few statements as
	// the dialect allows.
	AppendEntries(ctx context.Context, tx Execer, rows []JournalRow) error
	// ScanConn takes a connection for a long read of the journal (SQLite
	// maps the file into memory for it); release gives it back as found.
	ScanConn(ctx context.Context) (conn *sql.Conn, release func(), err error)
	// DeleteContentBefore deletes the journal contents stored before
	// timeUS, at most batch rows per statement so as not to hold the write
	// lock long, and returns how many it deleted. SQLite overwrites the
	// freed pages (secure_delete).
	DeleteContentBefore(ctx context.Context, timeUS int64, batch int) (int64, error)
	// WALCheckpoint copies the write-ahead log into the database file and,
	// once it holds restartPages, makes it start over (SQLite); nothing to
	// do on PostgreSQL.
	WALCheckpoint(ctx context.Context, restartPages int) error
	// JSONField is the SQL expression of the text field name of the JSON
	// object in column.
	JSONField(column, name string) string
	// JSONArrayHas is the SQL condition that the array field name of the
	// JSON object in column holds the text given as its one ? argument.
	JSONArrayHas(column, name string) string

	// LockQuota takes, in tx, the lock every quota batch takes first, so
	// that batches of several processes never wait for each other's rows
	// (on SQLite the write lock taken at BEGIN serialises them).
	LockQuota(ctx context.Context, tx Execer) error
	// DeleteLeases deletes quota leases by primary key in one statement.
	DeleteLeases(ctx context.Context, tx Execer, leases []Lease) error
	// SweepLeases deletes the quota leases expired at nowUS, skipping rows
	// a batch holds, and returns how many it deleted.
	SweepLeases(ctx context.Context, nowUS int64) (int64, error)
	// SweepUsage deletes the quota counters whose month started before
	// monthUS, skipping rows a batch holds, and returns how many it
	// deleted.
	SweepUsage(ctx context.Context, monthUS int64) (int64, error)

	// AddCounts adds, in tx, each row's counts to the row of table t with
	// the same keys, inserting the rows missing (an upsert of counters, as
	// few statements as the dialect allows). No two rows may have the same
	// keys. The journal keeps its usage roll-ups with it.
	AddCounts(ctx context.Context, tx Execer, t *CountTable, rows []CountRow) error
}

// CountTable is a table of counters (the journal's usage roll-ups): rows
// identified by their key columns, whose count columns are only ever added
// to. Its primary key (or a unique index) is exactly Keys. Drivers may keep
// the statements of a CountTable by its address: declare it once, as a
// package variable.
type CountTable struct {
	Name   string
	Keys   []string // key columns; their values are int64 (BIGINT) or string (TEXT)
	Counts []string // BIGINT columns added to
}

// CountRow is what AddCounts adds to one row of a CountTable: Keys and
// Counts in the order of the table's columns.
type CountRow struct {
	Keys   []any // int64 or string
	Counts []int64
}

// Execer runs a statement written in the driver's own placeholders (? on
// SQLite, $1… on PostgreSQL) in a caller's transaction or connection:
// *sql.DB, *sql.Conn, *sql.Tx and *Tx are Execers, and so are the callers'
// wrappers that prepare statements once.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// JournalRow is one journal entry as stored (table audit_entries).
type JournalRow struct {
	Seq, TimeUS int64
	Data, Hash  string
}

// Lease is the primary key of a quota lease (table quota_leases).
type Lease struct {
	Subject   string
	ExpiresAt int64
	ID        string
}

// DeleteBatches runs query, a DELETE of at most batch rows (batch is its
// last argument, after args), until a run deletes fewer, and returns the
// rows deleted. Drivers use it for retention.
func DeleteBatches(ctx context.Context, ex Execer, query string, batch int, args ...any) (int64, error) {
	args = append(args, batch)
	var total int64
	for {
		n, err := Affected(ex.ExecContext(ctx, query, args...))
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}

// Affected returns the number of rows a statement changed, or its error.
func Affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

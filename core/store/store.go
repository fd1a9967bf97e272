// Package store is timon's one portable store: a *sql.DB and its Driver,
// with per-component embedded migrations, shared by tokens, quotas, the
// journal and the job queue. The drivers live in store/sqlite (the embedded
// default) and store/postgres (several replicas); only cmd and tests pick
// one. A Driver holds every operation whose SQL or cost differs between the
// two, so that the packages owning tables hold no dialect; the conformance
// suite runs the store and every driver operation on both.
//
// Conventions for every table: times are BIGINT Unix microseconds (UTC),
// booleans are INTEGER 0/1, JSON is TEXT, ids are TEXT. Portable queries are
// written with ? placeholders and passed through Rebind.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Dialect names the SQL flavour of a driver.
type Dialect string

// Dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// Store is the portable store. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	driver  Driver
	dialect Dialect
	// Source describes the database for people (path or host/database,
	// never a password).
	source string
	close  func() error

	stmts   sync.Map // query → *sql.Stmt, for the hot paths
	rebound sync.Map // query → its text in the dialect's placeholders
}

// New wraps an opened database and its driver; drivers call it. close, if
// not nil, runs after the database is closed.
func New(db *sql.DB, drv Driver, source string, close func() error) (*Store, error) {
	s := &Store{db: db, driver: drv, dialect: drv.Dialect(), source: source, close: close}
	if err := s.Migrate(context.Background(), "store", storeMigrations); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// DB returns the database handle.
func (s *Store) DB() *sql.DB { return s.db }

// Driver returns the operations that differ between databases.
func (s *Store) Driver() Driver { return s.driver }

// Dialect returns the driver's SQL dialect.
func (s *Store) Dialect() Dialect { return s.dialect }

// Source describes the database (never with a password).
func (s *Store) Source() string { return s.source }

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	err := s.db.Close()
	if s.close != nil {
		err = errors.Join(err, s.close())
	}
	return err
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("pinging %s database: %w", s.dialect, err)
	}
	return nil
}

// Rebind turns ? placeholders into the dialect's ($1, $2… for PostgreSQL).
// A ? inside a single-quoted string literal is left alone.
func (s *Store) Rebind(query string) string {
	if s.dialect != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// hotRow runs a one-row query on the request path with a statement
// prepared once. On SQLite a local, indexed read needs no cancellation, and
// a cancellable context costs the driver a goroutine per query, so the
// context's cancellation is dropped there.
func (s *Store) hotRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return s.QueryRow(ctx, query, args...)
	}
	if s.dialect == SQLite {
		ctx = context.WithoutCancel(ctx)
	}
	return st.QueryRowContext(ctx, args...)
}

// Hot returns how to run query, written with ? placeholders, on the request
// path: prepared once for the store's life where the driver says that pays
// (Driver.PrepareHot), else its text in the dialect's placeholders. Either
// is kept.
func (s *Store) Hot(ctx context.Context, query string) (*sql.Stmt, string, error) {
	if s.driver.PrepareHot() {
		st, err := s.prepared(ctx, query)
		return st, "", err
	}
	if q, ok := s.rebound.Load(query); ok {
		return nil, q.(string), nil
	}
	q := s.Rebind(query)
	s.rebound.Store(query, q)
	return nil, q, nil
}

func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, s.Rebind(query))
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// Exec runs a statement written with ? placeholders.
func (s *Store) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.db.ExecContext(ctx, s.Rebind(query), args...)
}

// Query runs a query written with ? placeholders.
func (s *Store) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return s.db.QueryContext(ctx, s.Rebind(query), args...)
}

// QueryRow runs a one-row query written with ? placeholders.
func (s *Store) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return s.db.QueryRowContext(ctx, s.Rebind(query), args...)
}

// Tx runs fn in a transaction, committed if fn returns nil and rolled back
// otherwise. On SQLite the transaction takes the write lock at BEGIN (the
// driver opens it with _txlock=immediate), so read-then-write is race free.
func (s *Store) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	tx := &Tx{Tx: sqlTx, s: s}
	// A panicking fn must not leave the transaction (and, on SQLite, the
	// write lock) open.
	defer func() {
		if r := recover(); r != nil {
			sqlTx.Rollback()
			panic(r)
		}
	}()
	if err := fn(tx); err != nil {
		return errors.Join(err, ignoreDone(sqlTx.Rollback()))
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// Tx is a transaction whose helpers take ? placeholders.
type Tx struct {
	*sql.Tx
	s *Store
}

// Store returns the store the transaction belongs to.
func (tx *Tx) Store() *Store { return tx.s }

// Exec runs a statement written with ? placeholders.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.Tx.ExecContext(ctx, tx.s.Rebind(query), args...)
}

// Query runs a query written with ? placeholders.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.Tx.QueryContext(ctx, tx.s.Rebind(query), args...)
}

// QueryRow runs a one-row query written with ? placeholders.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.Tx.QueryRowContext(ctx, tx.s.Rebind(query), args...)
}

// Micros converts t to the stored representation.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// Time converts a stored time back; 0 is the zero time.
func Time(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

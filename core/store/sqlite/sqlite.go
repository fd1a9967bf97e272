// Package sqlite is the store driver for a SQLite file (pure Go, WAL): the
// embedded default of a single timon serve or a local timon lsp.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"timon.dev/timon/core/store"
)

// Open opens (creating if needed) the SQLite file at path and applies the
// store's migrations. Write transactions take the lock at BEGIN, readers
// never block writers (WAL), and a busy database is waited for up to 10 s.
func Open(path string) (*store.Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating data directory: %w", err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening SQLite file %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening SQLite file %s: %w", path, err)
	}
	st, err := store.New(db, store.SQLite, path, nil)
	if err != nil {
		return nil, fmt.Errorf("opening SQLite file %s: %w", path, err)
	}
	// The job queue gets its own single-connection pool on the same file:
	// River runs internal operations in parallel, which SQLite answers
	// with SQLITE_BUSY unless they share one connection.
	st.SetJobBackend(func(ctx context.Context, cfg *river.Config) (store.JobClient, func() error, error) {
		jdb, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, nil, fmt.Errorf("opening SQLite file %s: %w", path, err)
		}
		jdb.SetMaxOpenConns(1)
		c, err := store.NewJobClient(ctx, riversqlite.New(jdb), cfg)
		if err != nil {
			jdb.Close()
			return nil, nil, err
		}
		return c, jdb.Close, nil
	})
	return st, nil
}

// Package sqlite is the store driver for a SQLite file (pure Go, WAL): the
// embedded default of a single timon serve or a local timon lsp.
package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"timon.dev/timon/core/store"
)

// Open opens (creating if needed) the SQLite file at path and applies the
// store's migrations. Write transactions take the lock at BEGIN, readers
// never block writers (WAL), and a busy database is waited for up to 10 s.
//
// The file, its -wal and its -shm are readable and writable by their owner
// only (0600), whatever the umask and the data directory's mode: the file
// is created 0600 before SQLite opens it, SQLite creates the -wal and -shm
// with the mode of the database file, and an existing file wider than
// 0600 is narrowed.
func Open(path string) (*store.Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating data directory: %w", err)
		}
	}
	if err := privateFile(path, true); err != nil {
		return nil, err
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
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := privateFile(path+suffix, false); err != nil {
			db.Close()
			return nil, err
		}
	}
	st, err := store.New(db, &driver{db: db, dsn: dsn, path: path}, path, nil)
	if err != nil {
		return nil, fmt.Errorf("opening SQLite file %s: %w", path, err)
	}
	return st, nil
}

// privateFile makes path readable and writable by its owner only: it
// creates it empty with mode 0600 when create is set and it does not
// exist, and narrows an existing file's mode to 0600 (a file missing
// without create is left missing). Modes given to open(2) are reduced by
// the umask only, never widened, so 0600 stays 0600; the chmod covers
// files created earlier with a wider mode.
func privateFile(path string, create bool) error {
	if create {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			if err := f.Close(); err != nil {
				return fmt.Errorf("creating SQLite file %s: %w", path, err)
			}
		} else if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating SQLite file %s: %w", path, err)
		}
	}
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) && !create {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking the mode of %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("making %s private (chmod 600): %w", path, err)
		}
	}
	return nil
}

package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var storeMigrations embed.FS

// Migrate applies the migrations of one component (a package owning tables)
// that were not applied yet, each in its own transaction, in version order.
//
// Files are named NNN_description.sql (for every dialect) or
// NNN_description.sqlite.sql / NNN_description.postgres.sql (for one); they
// may sit in any folder of fsys. Statements are separated by lines holding
// only "--;" (or a single statement per file). Several processes may migrate
// at once: Driver.LockMigrations serialises them.
func (s *Store) Migrate(ctx context.Context, component string, fsys fs.FS) error {
	migs, err := s.readMigrations(fsys)
	if err != nil {
		return fmt.Errorf("reading %s migrations: %w", component, err)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	component TEXT NOT NULL,
	version INTEGER NOT NULL,
	name TEXT NOT NULL,
	applied_at BIGINT NOT NULL,
	PRIMARY KEY (component, version))`); err != nil {
		// Two PostgreSQL processes racing on CREATE TABLE IF NOT EXISTS can
		// collide on the catalog; the loser sees the table on a retry.
		if _, err2 := s.db.ExecContext(ctx, `SELECT 1 FROM schema_migrations WHERE 1=0`); err2 != nil {
			return fmt.Errorf("creating schema_migrations: %w", err)
		}
	}
	for _, m := range migs {
		err := s.Tx(ctx, func(tx *Tx) error {
			if err := s.driver.LockMigrations(ctx, tx, component); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE component = ? AND version = ?`, component, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range m.statements {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("statement %.60q: %w", stmt, err)
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)`,
				component, m.version, m.name, Micros(time.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("applying %s migration %03d %s: %w", component, m.version, m.name, err)
		}
	}
	return nil
}

type migration struct {
	version    int
	name       string
	statements []string
}

func (s *Store) readMigrations(fsys fs.FS) ([]migration, error) {
	byVersion := map[int]migration{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".sql") {
			return err
		}
		base := strings.TrimSuffix(path.Base(p), ".sql")
		if d, ok := strings.CutSuffix(base, "."+string(SQLite)); ok {
			if s.dialect != SQLite {
				return nil
			}
			base = d
		} else if d, ok := strings.CutSuffix(base, "."+string(Postgres)); ok {
			if s.dialect != Postgres {
				return nil
			}
			base = d
		}
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return fmt.Errorf("%s: expected a name like 001_description.sql", p)
		}
		if _, dup := byVersion[v]; dup {
			return fmt.Errorf("%s: version %d defined twice", p, v)
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		var stmts []string
		for _, part := range strings.Split(string(body), "\n--;\n") {
			if strings.TrimSpace(part) != "" {
				stmts = append(stmts, part)
			}
		}
		byVersion[v] = migration{version: v, name: name, statements: stmts}
		return nil
	})
	if err != nil {
		return nil, err
	}
	migs := make([]migration, 0, len(byVersion))
	for _, m := range byVersion {
		migs = append(migs, m)
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	return migs, nil
}

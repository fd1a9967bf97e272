// Package postgres is the store driver for PostgreSQL (pgx), for several
// timon serve replicas sharing one database.
package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"timon.dev/timon/core/store"
)

// Open connects to the PostgreSQL database named by dsn (a postgres:// URL
// or key=value string; parameters such as search_path are sent as run-time
// parameters) and applies the store's migrations.
func Open(ctx context.Context, dsn string) (*store.Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing PostgreSQL DSN: %w", err)
	}
	where := describe(cfg.ConnConfig)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL %s: %w", where, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	db.SetMaxIdleConns(0) // connections are pooled by pgxpool
	st, err := store.New(db, &driver{db: db, pool: pool}, where, func() error { pool.Close(); return nil })
	if err != nil {
		return nil, fmt.Errorf("opening PostgreSQL %s: %w", where, err)
	}
	return st, nil
}

func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("%s:%d/%s", c.Host, c.Port, c.Database)
}

// Package storetest opens real stores for tests: a SQLite file in a temporary
// directory and a fresh schema on the local PostgreSQL server. Each store
// driver's conformance, and every package with tables, runs its tests on both
// through Each.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/postgres"
	"timon.dev/timon/core/store/sqlite"
)

// PostgresURL is the server tests use; TIMON_TEST_POSTGRES overrides it.
func PostgresURL() string {
	if u := os.Getenv("TIMON_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// SQLite opens a store on a new SQLite file, closed at the end of the test.
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "timon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// PostgresDSN creates a fresh schema on the test server and returns a DSN
// whose search_path points at it; the schema is dropped after the test.
// Without a server the test is skipped, except under CI=true where it fails:
// CI must run the PostgreSQL tests.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, PostgresURL())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true: %v", err)
		}
		t.Skipf("no PostgreSQL server at %s (%v): skipping; CI runs these", PostgresURL(), err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, PostgresURL()); err == nil {
			conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(ctx)
		}
	})
	sep := "?"
	if strings.Contains(PostgresURL(), "?") {
		sep = "&"
	}
	return PostgresURL() + sep + "search_path=" + schema
}

// Postgres opens a store on a fresh schema of the test server (see
// PostgresDSN), closed at the end of the test.
func Postgres(t testing.TB) *store.Store {
	t.Helper()
	dsn := PostgresDSN(t)
	st, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Each runs f as a subtest on a SQLite store and on a PostgreSQL store.
func Each(t *testing.T, f func(t *testing.T, st *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { f(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, Postgres(t)) })
}

package store_test

// The store's conformance suite: what every driver promises, run on SQLite
// and PostgreSQL. Token CRUD and concurrent migrations are in store_test.go.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/postgres"
	"timon.dev/timon/core/store/sqlite"
	"timon.dev/timon/core/store/storetest"
)

var counterMigrations = fstest.MapFS{
	"001_counters.sql": {Data: []byte("CREATE TABLE counters (name TEXT PRIMARY KEY, n BIGINT NOT NULL, note TEXT NOT NULL DEFAULT '')")},
}

func migrateCounters(t *testing.T, st *store.Store) {
	t.Helper()
	if err := st.Migrate(context.Background(), "counters", counterMigrations); err != nil {
		t.Fatal(err)
	}
}

// handles returns a function opening another store handle — its own pool,
// as another process has — on one database, for each driver.
func handles(t *testing.T) map[string]func() *store.Store {
	path := filepath.Join(t.TempDir(), "shared.db")
	var (
		once sync.Once
		dsn  string
	)
	return map[string]func() *store.Store{
		"sqlite": func() *store.Store {
			st, err := sqlite.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
		"postgres": func() *store.Store {
			once.Do(func() { dsn = storetest.PostgresDSN(t) })
			st, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
}

func TestConformanceMigrateIdempotentAndAtomic(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		for range 3 {
			migrateCounters(t, st)
		}
		var n int
		st.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE component = 'counters'`).Scan(&n)
		if n != 1 {
			t.Fatalf("%d records of one migration", n)
		}
		// A migration failing in its second statement leaves nothing behind
		// and is applied once fixed.
		bad := fstest.MapFS{"002_more.sql": {Data: []byte("CREATE TABLE extra (id TEXT)\n--;\nCREATE TABLE broken (")}}
		if err := st.Migrate(ctx, "counters", bad); err == nil || !strings.Contains(err.Error(), "002") {
			t.Fatalf("a broken migration must fail and be named: %v", err)
		}
		if _, err := st.Exec(ctx, `SELECT id FROM extra`); err == nil {
			t.Fatal("the failed migration's first statement was kept")
		}
		good := fstest.MapFS{"002_more.sql": {Data: []byte("CREATE TABLE extra (id TEXT)\n--;\nCREATE TABLE fixed (id TEXT)")}}
		if err := st.Migrate(ctx, "counters", good); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Exec(ctx, `INSERT INTO fixed (id) VALUES ('x')`); err != nil {
			t.Fatal(err)
		}
	})
}

func TestConformanceMigrateFromSeveralProcesses(t *testing.T) {
	for driver, open := range handles(t) {
		t.Run(driver, func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for range 4 {
				st := open()
				wg.Go(func() { errs <- st.Migrate(context.Background(), "counters", counterMigrations) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestConformanceTx(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		migrateCounters(t, st)
		boom := errors.New("boom")
		err := st.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO counters (name, n) VALUES (?, ?)`, "rolled", 1); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT n FROM counters WHERE name = ?`, "rolled").Scan(&n); err != nil || n != 1 {
				t.Errorf("a transaction must read its own writes: %d %v", n, err)
			}
			if tx.Store() != st {
				t.Error("Tx.Store")
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx must return fn's error, got %v", err)
		}
		var n int
		if err := st.QueryRow(ctx, `SELECT COUNT(*) FROM counters WHERE name = ?`, "rolled").Scan(&n); err != nil || n != 0 {
			t.Fatalf("rolled back insert is visible: %d %v", n, err)
		}
		// A failing statement inside fails the transaction, which rolls back.
		err = st.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO counters (name, n) VALUES (?, ?)`, "first", 1); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO nowhere (x) VALUES (1)`)
			return err
		})
		if err == nil {
			t.Fatal("a failing statement must fail the transaction")
		}
		st.QueryRow(ctx, `SELECT COUNT(*) FROM counters`).Scan(&n)
		if n != 0 {
			t.Fatal("the transaction was not rolled back")
		}
		if err := st.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO counters (name, n) VALUES (?, ?)`, "kept", 2)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := st.QueryRow(ctx, `SELECT n FROM counters WHERE name = ?`, "kept").Scan(&n); err != nil || n != 2 {
			t.Fatalf("committed insert: %d %v", n, err)
		}
		// A canceled context fails instead of running.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := st.Tx(cctx, func(*store.Tx) error { return nil }); err == nil {
			t.Fatal("Tx with a canceled context succeeded")
		}
		if _, err := st.Exec(cctx, `INSERT INTO counters (name, n) VALUES ('late', 1)`); err == nil {
			t.Fatal("Exec with a canceled context succeeded")
		}
	})
}

func TestConformanceRebind(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		want := "SELECT ?, '?' WHERE x = ?"
		if st.Dialect() == store.Postgres {
			want = "SELECT $1, '?' WHERE x = $2"
		}
		if got := st.Rebind("SELECT ?, '?' WHERE x = ?"); got != want {
			t.Fatalf("Rebind: %q, want %q", got, want)
		}
		if got := st.Rebind("SELECT 1"); got != "SELECT 1" {
			t.Fatalf("Rebind without placeholders: %q", got)
		}
		// Placeholders and a literal question mark, through a real query.
		migrateCounters(t, st)
		if _, err := st.Exec(ctx, `INSERT INTO counters (name, n, note) VALUES (?, ?, 'why?')`, "q", 7); err != nil {
			t.Fatal(err)
		}
		var (
			n    int64
			note string
		)
		if err := st.QueryRow(ctx, `SELECT n, note FROM counters WHERE name = ? AND note = 'why?' AND n > ?`, "q", 1).Scan(&n, &note); err != nil || n != 7 || note != "why?" {
			t.Fatalf("got %d %q %v", n, note, err)
		}
	})
}

func TestConformanceValuesRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		migrateCounters(t, st)
		times := []time.Time{
			{},
			time.Date(2025, 3, 1, 10, 0, 0, 123456000, time.UTC),
			time.Date(1969, 7, 20, 20, 17, 40, 1000, time.UTC),
			time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC),
		}
		for i, tm := range times {
			name := fmt.Sprintf("t%d", i)
			if _, err := st.Exec(ctx, `INSERT INTO counters (name, n) VALUES (?, ?)`, name, store.Micros(tm)); err != nil {
				t.Fatal(err)
			}
			var us int64
			if err := st.QueryRow(ctx, `SELECT n FROM counters WHERE name = ?`, name).Scan(&us); err != nil {
				t.Fatal(err)
			}
			if got := store.Time(us); !got.Equal(tm) || (!tm.IsZero() && got.Location() != time.UTC) {
				t.Fatalf("time %v came back as %v", tm, got)
			}
		}
		// Sub-microsecond precision is dropped, not rounded into another second.
		tm := time.Date(2025, 1, 1, 0, 0, 0, 999999999, time.FixedZone("CET", 3600))
		if got := store.Time(store.Micros(tm)); !got.Equal(tm.Truncate(time.Microsecond)) {
			t.Fatalf("%v -> %v", tm, got)
		}
		for i, v := range []int64{math.MaxInt64, math.MinInt64, -1} {
			name := fmt.Sprintf("i%d", i)
			st.Exec(ctx, `INSERT INTO counters (name, n) VALUES (?, ?)`, name, v)
			var got int64
			if err := st.QueryRow(ctx, `SELECT n FROM counters WHERE name = ?`, name).Scan(&got); err != nil || got != v {
				t.Fatalf("BIGINT %d came back as %d (%v)", v, got, err)
			}
		}
		for i, s := range []string{"", "é — 漢字 — 🙂", strings.Repeat("x", 1<<20), "line\nbreak\ttab 'quote' \"dq\" \\"} {
			name := fmt.Sprintf("s%d", i)
			if _, err := st.Exec(ctx, `INSERT INTO counters (name, n, note) VALUES (?, 0, ?)`, name, s); err != nil {
				t.Fatal(err)
			}
			var got string
			if err := st.QueryRow(ctx, `SELECT note FROM counters WHERE name = ?`, name).Scan(&got); err != nil || got != s {
				t.Fatalf("text of %d bytes came back as %d bytes (%v)", len(s), len(got), err)
			}
		}
	})
}

func TestConformanceUniqueViolation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		migrateCounters(t, st)
		if _, err := st.Exec(ctx, `INSERT INTO counters (name, n) VALUES ('a', 1)`); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Exec(ctx, `INSERT INTO counters (name, n) VALUES ('a', 2)`); err == nil {
			t.Fatal("a duplicate primary key was accepted")
		}
		err := st.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO counters (name, n) VALUES ('a', 3)`)
			return err
		})
		if err == nil {
			t.Fatal("a duplicate primary key in a transaction was accepted")
		}
		var n int64
		st.QueryRow(ctx, `SELECT n FROM counters WHERE name = 'a'`).Scan(&n)
		if n != 1 {
			t.Fatalf("the first row was changed: %d", n)
		}
	})
}

// TestConformanceConcurrentWriters runs read-modify-write transactions from
// two store handles (two processes) at once: on SQLite none may fail with
// SQLITE_BUSY (writers wait for the lock, taken at BEGIN) and no update is
// lost; on PostgreSQL atomic updates from several replicas add up.
func TestConformanceConcurrentWriters(t *testing.T) {
	for driver, open := range handles(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			a, b := open(), open()
			migrateCounters(t, a)
			migrateCounters(t, b)
			if _, err := a.Exec(ctx, `INSERT INTO counters (name, n) VALUES ('c', 0)`); err != nil {
				t.Fatal(err)
			}
			const goroutines, rounds = 8, 25
			var wg sync.WaitGroup
			errs := make(chan error, goroutines*rounds)
			for g := range goroutines {
				st := []*store.Store{a, b}[g%2]
				wg.Go(func() {
					for range rounds {
						var err error
						if driver == "sqlite" {
							err = st.Tx(ctx, func(tx *store.Tx) error {
								var n int64
								if err := tx.QueryRow(ctx, `SELECT n FROM counters WHERE name = 'c'`).Scan(&n); err != nil {
									return err
								}
								_, err := tx.Exec(ctx, `UPDATE counters SET n = ? WHERE name = 'c'`, n+1)
								return err
							})
						} else {
							_, err = st.Exec(ctx, `UPDATE counters SET n = n + 1 WHERE name = 'c'`)
						}
						if err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("concurrent writer failed: %v", err)
			}
			var n int64
			a.QueryRow(ctx, `SELECT n FROM counters WHERE name = 'c'`).Scan(&n)
			if n != goroutines*rounds {
				t.Fatalf("counter %d, want %d: updates were lost", n, goroutines*rounds)
			}
		})
	}
}

func TestConformancePingAndSource(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		if err := st.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st.Source() == "" || st.DB() == nil {
			t.Fatal("Source and DB must be set")
		}
	})
	t.Run("postgres password not shown", func(t *testing.T) {
		u, err := url.Parse(storetest.PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(u.User.Username(), "s3cret-pw")
		st, err := postgres.Open(context.Background(), u.String())
		if err != nil {
			t.Skipf("server refuses a password here: %v", err)
		}
		defer st.Close()
		if strings.Contains(st.Source(), "s3cret") {
			t.Fatalf("Source shows the password: %s", st.Source())
		}
	})
}

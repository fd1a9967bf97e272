package store_test

// The store's conformance suite: what every driver promises, run on SQLite
// and PostgreSQL — the portable API, then every operation of store.Driver.
// Token CRUD and concurrent migrations are in store_test.go.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/riverqueue/river"

	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/quota"
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
			a, b := open(), open()
			migrateCounters(t, a)
			migrateCounters(t, b)
			addConcurrently(t, a, b, "c", 25, func(ctx context.Context, st *store.Store) error {
				if driver == "sqlite" {
					return st.Tx(ctx, func(tx *store.Tx) error { return increment(ctx, tx, "c") })
				}
				_, err := st.Exec(ctx, `UPDATE counters SET n = n + 1 WHERE name = 'c'`)
				return err
			})
		})
	}
}

// addConcurrently creates counter name, adds to it from 8 goroutines, each
// inc rounds times on a or b, and checks that none failed and no update was
// lost.
func addConcurrently(t *testing.T, a, b *store.Store, name string, rounds int, inc func(context.Context, *store.Store) error) {
	t.Helper()
	ctx := context.Background()
	if _, err := a.Exec(ctx, `INSERT INTO counters (name, n) VALUES (?, 0)`, name); err != nil {
		t.Fatal(err)
	}
	const goroutines = 8
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*rounds)
	for g := range goroutines {
		st := []*store.Store{a, b}[g%2]
		wg.Go(func() {
			for range rounds {
				if err := inc(ctx, st); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent writer of %s failed: %v", name, err)
	}
	var n int64
	a.QueryRow(ctx, `SELECT n FROM counters WHERE name = ?`, name).Scan(&n)
	if n != int64(goroutines*rounds) {
		t.Fatalf("counter %s: %d, want %d: updates were lost", name, n, goroutines*rounds)
	}
}

// increment reads counter name and writes it back plus one.
func increment(ctx context.Context, tx *store.Tx, name string) error {
	var n int64
	if err := tx.QueryRow(ctx, `SELECT n FROM counters WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE counters SET n = ? WHERE name = ?`, n+1, name)
	return err
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

// The driver's operations (store.Driver), on the tables of the packages
// that call them: the journal's and the quotas', migrated by those packages.

func migrateJournalAndQuota(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	j, err := audit.Open(ctx, st, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	q, err := quota.New(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
}

// pragmas reads SQLite settings on every connection of st's pool at once
// (it holds 8), as "name=value" lines.
func pragmas(t *testing.T, st *store.Store, names ...string) string {
	t.Helper()
	ctx := context.Background()
	var (
		conns []*sql.Conn
		out   []string
	)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range st.DB().Stats().MaxOpenConnections {
		c, err := st.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		out = append(out, connPragmas(t, c, names...))
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), "\n")
}

func connPragmas(t *testing.T, c *sql.Conn, names ...string) string {
	t.Helper()
	var out []string
	for _, n := range names {
		var v string
		if err := c.QueryRowContext(context.Background(), `PRAGMA `+n).Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, n+"="+v)
	}
	return strings.Join(out, " ")
}

func TestConformanceDriverContextsAndStatements(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		d := st.Driver()
		if d.Dialect() != st.Dialect() {
			t.Fatalf("driver dialect %s, store %s", d.Dialect(), st.Dialect())
		}
		ctx, cancel := d.BatchContext(time.Hour)
		deadline, ok := ctx.Deadline()
		switch st.Dialect() {
		case store.SQLite:
			if ok || ctx.Done() != nil {
				t.Fatal("a SQLite batch context must not be cancellable")
			}
		case store.Postgres:
			if !ok || time.Until(deadline) > time.Hour || time.Until(deadline) < 59*time.Minute {
				t.Fatalf("a PostgreSQL batch context ends at its timeout: %v %v", deadline, ok)
			}
		}
		cancel()

		migrateCounters(t, st)
		query := `INSERT INTO counters (name, n) VALUES (?, ?)`
		stmt, text, err := st.Hot(context.Background(), query)
		if err != nil {
			t.Fatal(err)
		}
		if d.PrepareHot() != (stmt != nil) || (stmt == nil) == (text == "") {
			t.Fatalf("PrepareHot %v: statement %v, text %q", d.PrepareHot(), stmt, text)
		}
		again, text2, _ := st.Hot(context.Background(), query)
		if again != stmt || text2 != text {
			t.Fatal("Hot must keep what it prepared or rebound")
		}
		if stmt != nil {
			_, err = stmt.Exec("hot", 1)
		} else {
			_, err = st.DB().Exec(text, "hot", 1)
		}
		var n int
		st.QueryRow(context.Background(), `SELECT n FROM counters WHERE name = 'hot'`).Scan(&n)
		if err != nil || n != 1 {
			t.Fatalf("running the hot statement: %d %v", n, err)
		}
	})
}

// TestConformanceDriverLocks runs read-modify-write transactions from two
// store handles (two processes) at once, each taking the journal's or the
// quota's lock first: no update may be lost. (Migrations take theirs in
// TestConformanceMigrateFromSeveralProcesses.)
func TestConformanceDriverLocks(t *testing.T) {
	for driver, open := range handles(t) {
		t.Run(driver, func(t *testing.T) {
			a, b := open(), open()
			migrateCounters(t, a)
			for lock, take := range map[string]func(context.Context, store.Driver, *store.Tx) error{
				"journal": func(ctx context.Context, d store.Driver, tx *store.Tx) error { return d.LockJournal(ctx, tx) },
				"quota":   func(ctx context.Context, d store.Driver, tx *store.Tx) error { return d.LockQuota(ctx, tx) },
			} {
				addConcurrently(t, a, b, lock, 20, func(ctx context.Context, st *store.Store) error {
					return st.Tx(ctx, func(tx *store.Tx) error {
						if err := take(ctx, st.Driver(), tx); err != nil {
							return err
						}
						return increment(ctx, tx, lock)
					})
				})
			}
		})
	}
}

func TestConformanceDriverJournal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		d := st.Driver()
		migrateJournalAndQuota(t, st)
		const settings = "synchronous temp_store wal_autocheckpoint mmap_size secure_delete"
		var before string
		if st.Dialect() == store.SQLite {
			before = pragmas(t, st, strings.Fields(settings)...)
		}

		// The writer's connection, and the entries it appends.
		conn, release, err := d.WriterConn(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if st.Dialect() == store.SQLite {
			if got := connPragmas(t, conn, "synchronous", "temp_store", "wal_autocheckpoint"); got != "synchronous=2 temp_store=2 wal_autocheckpoint=0" {
				t.Fatalf("writer connection: %s", got)
			}
		}
		rows := make([]store.JournalRow, 300) // more than one statement's worth on SQLite
		for i := range rows {
			rows[i] = store.JournalRow{Seq: int64(i + 1), TimeUS: int64(1000 + i), Data: fmt.Sprintf(`{"n":%d,"s":"é 漢字 'q'"}`, i), Hash: fmt.Sprintf("h%d", i)}
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.LockJournal(ctx, tx); err != nil {
			t.Fatal(err)
		}
		if err := d.AppendEntries(ctx, tx, rows); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		release()
		// A batch with a seq already taken fails whole.
		err = st.Tx(ctx, func(tx *store.Tx) error {
			return d.AppendEntries(ctx, tx, []store.JournalRow{{Seq: 301, TimeUS: 1, Data: "{}", Hash: "x"}, {Seq: 5, TimeUS: 1, Data: "{}", Hash: "x"}})
		})
		if err == nil {
			t.Fatal("a duplicate seq was accepted")
		}

		// A long read sees them, in order.
		conn, release, err = d.ScanConn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Dialect() == store.SQLite {
			if got := connPragmas(t, conn, "mmap_size"); got == "mmap_size=0" {
				t.Fatal("the scan connection does not map the file")
			}
		}
		got, err := conn.QueryContext(ctx, st.Rebind(`SELECT seq, time_us, data, hash FROM audit_entries ORDER BY seq`))
		if err != nil {
			t.Fatal(err)
		}
		var read []store.JournalRow
		for got.Next() {
			var r store.JournalRow
			if err := got.Scan(&r.Seq, &r.TimeUS, &r.Data, &r.Hash); err != nil {
				t.Fatal(err)
			}
			read = append(read, r)
		}
		got.Close()
		release()
		if !slices.Equal(read, rows) {
			t.Fatalf("read %d entries back, not the %d appended", len(read), len(rows))
		}

		// JSON fields of the entries.
		for _, e := range []struct{ seq, data string }{
			{"1", `{"user_id":"ålice","groups":["physics","team é"]}`},
			{"2", `{"user_id":"bob","groups":["physics"]}`},
			{"3", `{"user_id":"carol"}`},
		} {
			if _, err := st.Exec(ctx, `UPDATE audit_entries SET data = ? WHERE seq = ?`, e.data, e.seq); err != nil {
				t.Fatal(err)
			}
		}
		match := func(cond string, arg any) []int64 {
			t.Helper()
			r, err := st.Query(ctx, `SELECT e.seq FROM audit_entries e WHERE e.seq <= 3 AND `+cond+` ORDER BY e.seq`, arg)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var seqs []int64
			for r.Next() {
				var s int64
				r.Scan(&s)
				seqs = append(seqs, s)
			}
			return seqs
		}
		for _, c := range []struct {
			cond string
			arg  string
			want []int64
		}{
			{d.JSONField("e.data", "user_id") + " = ?", "ålice", []int64{1}},
			{d.JSONField("e.data", "user_id") + " = ?", "dave", nil},
			{d.JSONArrayHas("e.data", "groups"), "physics", []int64{1, 2}},
			{d.JSONArrayHas("e.data", "groups"), "team é", []int64{1}},
			{d.JSONArrayHas("e.data", "groups"), "team", nil},
		} {
			if got := match(c.cond, c.arg); !slices.Equal(got, c.want) {
				t.Errorf("%s with %q: %v, want %v", c.cond, c.arg, got, c.want)
			}
		}

		// Retention deletes contents before a time, in batches.
		for seq := range int64(10) {
			if _, err := st.Exec(ctx, `INSERT INTO audit_content (seq, time_us, key_id, sealed) VALUES (?, ?, 'k', ?)`, seq+1, seq+1, []byte("sealed")); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := d.DeleteContentBefore(ctx, 7, 4); err != nil || n != 6 {
			t.Fatalf("retention deleted %d (%v), want 6", n, err)
		}
		if n, err := d.DeleteContentBefore(ctx, 7, 4); err != nil || n != 0 {
			t.Fatalf("retention again deleted %d (%v)", n, err)
		}
		var left, low int64
		st.QueryRow(ctx, `SELECT COUNT(*), MIN(seq) FROM audit_content`).Scan(&left, &low)
		if left != 4 || low != 7 {
			t.Fatalf("after retention: %d contents from seq %d, want 4 from 7", left, low)
		}

		// Every connection went back to the pool as it was taken.
		if st.Dialect() == store.SQLite {
			if after := pragmas(t, st, strings.Fields(settings)...); after != before {
				t.Fatalf("settings left on the pool's connections:\n%s\nwere\n%s", after, before)
			}
		}
	})
}

func TestConformanceDriverWALCheckpoint(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		migrateCounters(t, st)
		size := func() int64 {
			if st.Dialect() != store.SQLite {
				return 0
			}
			fi, err := os.Stat(st.Source())
			if err != nil {
				t.Fatal(err)
			}
			return fi.Size()
		}
		before := size()
		// 600 kB: in the WAL, short of SQLite's own checkpoint (1000 pages).
		if _, err := st.Exec(ctx, `INSERT INTO counters (name, n, note) VALUES ('big', 0, ?)`, strings.Repeat("x", 600_000)); err != nil {
			t.Fatal(err)
		}
		if size() != before {
			t.Fatal("the write went to the database file before a checkpoint")
		}
		if err := st.Driver().WALCheckpoint(ctx, 1<<30); err != nil {
			t.Fatal(err)
		}
		if st.Dialect() == store.SQLite && size() < before+600_000 {
			t.Fatalf("the checkpoint did not copy the WAL: the file has %d bytes, had %d", size(), before)
		}
		// A RESTART checkpoint too.
		if err := st.Driver().WALCheckpoint(ctx, 1); err != nil {
			t.Fatal(err)
		}
		var note string
		if err := st.QueryRow(ctx, `SELECT note FROM counters WHERE name = 'big'`).Scan(&note); err != nil || len(note) != 600_000 {
			t.Fatalf("after the checkpoints: %d bytes, %v", len(note), err)
		}
	})
}

func TestConformanceDriverQuota(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		d := st.Driver()
		migrateJournalAndQuota(t, st)
		leases := func() []store.Lease {
			t.Helper()
			r, err := st.Query(ctx, `SELECT subject, expires_at, id FROM quota_leases ORDER BY subject, expires_at, id`)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var out []store.Lease
			for r.Next() {
				var l store.Lease
				r.Scan(&l.Subject, &l.ExpiresAt, &l.ID)
				out = append(out, l)
			}
			return out
		}
		all := []store.Lease{{"group:é", 10, "a"}, {"user:a", 5, "a"}, {"user:a", 15, "b"}, {"user:b", 10, "c"}, {"user:b", 20, "a"}}
		for _, l := range all {
			if _, err := st.Exec(ctx, `INSERT INTO quota_leases (subject, expires_at, id) VALUES (?, ?, ?)`, l.Subject, l.ExpiresAt, l.ID); err != nil {
				t.Fatal(err)
			}
		}
		err := st.Tx(ctx, func(tx *store.Tx) error {
			// By whole primary key: {"user:b", 10, "a"} matches none.
			return d.DeleteLeases(ctx, tx, []store.Lease{all[0], all[3], {"user:b", 10, "a"}})
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := leases(), []store.Lease{all[1], all[2], all[4]}; !slices.Equal(got, want) {
			t.Fatalf("after DeleteLeases: %v, want %v", got, want)
		}
		if n, err := d.SweepLeases(ctx, 15); err != nil || n != 2 {
			t.Fatalf("SweepLeases deleted %d (%v), want 2", n, err)
		}
		if got := leases(); !slices.Equal(got, all[4:]) {
			t.Fatalf("after SweepLeases: %v", got)
		}
		for i, month := range []int64{100, 200, 300} {
			if _, err := st.Exec(ctx, `INSERT INTO quota_usage (subject, minute_start, minute_requests, day_start, day_tokens, month_start, month_tokens)
VALUES (?, 0, 0, 0, 0, ?, 0)`, fmt.Sprint("user:", i), month); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := d.SweepUsage(ctx, 200); err != nil || n != 1 {
			t.Fatalf("SweepUsage deleted %d (%v), want 1", n, err)
		}
		var n int
		st.QueryRow(ctx, `SELECT COUNT(*) FROM quota_usage WHERE month_start >= 200`).Scan(&n)
		if n != 2 {
			t.Fatalf("SweepUsage deleted current counters: %d left of 2", n)
		}
		if st.Dialect() != store.Postgres {
			return // SQLite's write lock serialises the sweeps with the batches
		}
		// Sweeps skip the rows a batch holds, instead of waiting for them.
		for _, l := range []store.Lease{{"user:c", 1, "x"}, {"user:d", 1, "y"}} {
			st.Exec(ctx, `INSERT INTO quota_leases (subject, expires_at, id) VALUES (?, ?, ?)`, l.Subject, l.ExpiresAt, l.ID)
		}
		st.Exec(ctx, `INSERT INTO quota_usage (subject, minute_start, minute_requests, day_start, day_tokens, month_start, month_tokens) VALUES ('user:held', 0, 0, 0, 0, 1, 0)`)
		tx, err := st.DB().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `UPDATE quota_leases SET id = id WHERE subject = 'user:c'`); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE quota_usage SET month_tokens = 1 WHERE subject = 'user:held'`); err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if n, err := d.SweepLeases(sctx, 15); err != nil || n != 1 {
			t.Fatalf("SweepLeases beside a held lease deleted %d (%v), want 1", n, err)
		}
		if n, err := d.SweepUsage(sctx, 200); err != nil || n != 0 {
			t.Fatalf("SweepUsage beside a held counter deleted %d (%v), want 0", n, err)
		}
		tx.Rollback()
		if n, err := d.SweepLeases(ctx, 15); err != nil || n != 1 {
			t.Fatalf("SweepLeases once released deleted %d (%v), want 1", n, err)
		}
	})
}

type conformanceJob struct {
	Note string `json:"note"`
}

func (conformanceJob) Kind() string { return "conformance_job" }

func TestConformanceDriverJobClient(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		c, closeDB, err := st.Driver().JobClient(ctx, &river.Config{}) // insert only
		if err != nil {
			t.Fatal(err)
		}
		if closeDB != nil {
			defer closeDB()
		}
		if _, err := c.Insert(ctx, conformanceJob{Note: "é"}, nil); err != nil {
			t.Fatal(err)
		}
		res, err := c.JobList(ctx, river.NewJobListParams().Kinds("conformance_job"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Jobs) != 1 {
			t.Fatalf("%d jobs listed, want 1", len(res.Jobs))
		}
		var args conformanceJob
		if err := json.Unmarshal(res.Jobs[0].EncodedArgs, &args); err != nil || args.Note != "é" {
			t.Fatalf("the job's arguments came back as %s (%v)", res.Jobs[0].EncodedArgs, err)
		}
	})
}

// TestConformanceDriverAddCounts: counters are inserted, then added to, in
// a caller's transaction; keys of both types, text outside ASCII; a
// rolled-back transaction adds nothing.
func TestConformanceDriverAddCounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		d := st.Driver()
		if _, err := st.Exec(ctx, `CREATE TABLE conf_counts (day BIGINT NOT NULL, name TEXT NOT NULL,
			a BIGINT NOT NULL, b BIGINT NOT NULL, PRIMARY KEY (day, name))`); err != nil {
			t.Fatal(err)
		}
		tbl := &store.CountTable{Name: "conf_counts", Keys: []string{"day", "name"}, Counts: []string{"a", "b"}}
		add := func(rows ...store.CountRow) error {
			return st.Tx(ctx, func(tx *store.Tx) error { return d.AddCounts(ctx, tx, tbl, rows) })
		}
		big := int64(1) << 53
		if err := add(
			store.CountRow{Keys: []any{int64(1), "x"}, Counts: []int64{1, 2}},
			store.CountRow{Keys: []any{int64(1), "é\"'\\<"}, Counts: []int64{3, 4}},
			store.CountRow{Keys: []any{big, "x"}, Counts: []int64{big, 0}},
		); err != nil {
			t.Fatal(err)
		}
		if err := add(store.CountRow{Keys: []any{int64(1), "x"}, Counts: []int64{10, 20}}); err != nil {
			t.Fatal(err)
		}
		if err := add(); err != nil {
			t.Fatal(err)
		}
		err := st.Tx(ctx, func(tx *store.Tx) error {
			if err := d.AddCounts(ctx, tx, tbl, []store.CountRow{{Keys: []any{int64(1), "x"}, Counts: []int64{100, 100}}}); err != nil {
				return err
			}
			return errors.New("roll back")
		})
		if err == nil {
			t.Fatal("the rolled-back transaction succeeded")
		}
		rows, err := st.Query(ctx, `SELECT day, name, a, b FROM conf_counts ORDER BY day, name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var day, a, b int64
			var name string
			if err := rows.Scan(&day, &name, &a, &b); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprint(day, name, a, b))
		}
		want := []string{"1x11 22", "1é\"'\\<3 4", fmt.Sprint(big, "x", big, " 0")}
		if !slices.Equal(got, want) {
			t.Fatalf("counts %q, want %q", got, want)
		}
		if err := add(store.CountRow{Keys: []any{int64(1)}, Counts: []int64{1, 1}}); err == nil {
			t.Fatal("a row with a missing key was accepted")
		}
	})
}

package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"timon.dev/timon/core/store"
)

// driver is PostgreSQL's store.Driver. Processes serialise what must not
// interleave with transaction-scoped advisory locks, and clean-ups skip the
// rows a transaction holds.
type driver struct {
	db   *sql.DB
	pool *pgxpool.Pool
}

var _ store.Driver = (*driver)(nil)

func (*driver) Dialect() store.Dialect { return store.Postgres }

func (*driver) BatchContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), timeout)
}

func (*driver) PrepareHot() bool { return false }

func hash64(s string) int64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return int64(h.Sum64())
}

func (*driver) LockMigrations(ctx context.Context, tx store.Execer, component string) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, hash64("timon-migrate:"+component))
	return err
}

func (d *driver) JobClient(ctx context.Context, cfg *river.Config) (store.JobClient, func() error, error) {
	c, err := store.NewJobClient(ctx, riverpgxv5.New(d.pool), cfg)
	return c, nil, err
}

func (d *driver) WriterConn(ctx context.Context, _ bool) (*sql.Conn, func(), error) {
	return d.plainConn(ctx)
}

func (d *driver) plainConn(ctx context.Context) (*sql.Conn, func(), error) {
	c, err := d.db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	return c, func() { c.Close() }, nil
}

// journalLockKey is the advisory lock every journal batch takes.
var journalLockKey = hash64("timon-audit-append")

func (*driver) LockJournal(ctx context.Context, tx store.Execer) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, journalLockKey)
	return err
}

// AppendEntries inserts every row in one statement of four arrays, one
// prepared statement whatever the number of rows.
func (*driver) AppendEntries(ctx context.Context, tx store.Execer, rows []store.JournalRow) error {
	seqs, times := make([]int64, len(rows)), make([]int64, len(rows))
	data, hashes := make([]string, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		seqs[i], times[i], data[i], hashes[i] = r.Seq, r.TimeUS, r.Data, r.Hash
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_entries (seq, time_us, data, hash)
SELECT * FROM unnest(CAST($1 AS BIGINT[]), CAST($2 AS BIGINT[]), CAST($3 AS TEXT[]), CAST($4 AS TEXT[]))`, seqs, times, data, hashes)
	return err
}

func (d *driver) ScanConn(ctx context.Context) (*sql.Conn, func(), error) {
	return d.plainConn(ctx)
}

func (d *driver) DeleteContentBefore(ctx context.Context, timeUS int64, batch int) (int64, error) {
	return store.DeleteBatches(ctx, d.db, `DELETE FROM audit_content WHERE seq IN
		(SELECT seq FROM audit_content WHERE time_us < $1 ORDER BY seq LIMIT $2)`, batch, timeUS)
}

func (*driver) WALCheckpoint(context.Context, int) error { return nil }

func (*driver) JSONField(column, name string) string {
	return `(` + column + `::jsonb ->> '` + name + `')`
}

func (*driver) JSONArrayHas(column, name string) string {
	return `(` + column + `::jsonb -> '` + name + `') @> jsonb_build_array(?::text)`
}

// quotaLockClass and the hash of the current schema's name are the
// advisory lock every quota batch takes: one lock per schema, so that
// deployments sharing a database do not contend.
var quotaLockClass = func() int32 {
	h := fnv.New32a()
	h.Write([]byte("timon-quota"))
	return int32(h.Sum32())
}()

// lockQuotaSQL has no arguments, so that pgx sends it without preparing it.
var lockQuotaSQL = fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d, hashtext(COALESCE(current_schema(), '')))`, quotaLockClass)

func (*driver) LockQuota(ctx context.Context, tx store.Execer) error {
	_, err := tx.ExecContext(ctx, lockQuotaSQL)
	return err
}

// DeleteLeases passes the keys as three arrays (subjects, expiries, ids).
func (*driver) DeleteLeases(ctx context.Context, tx store.Execer, leases []store.Lease) error {
	subjects, expires, ids := make([]string, len(leases)), make([]int64, len(leases)), make([]string, len(leases))
	for i, l := range leases {
		subjects[i], expires[i], ids[i] = l.Subject, l.ExpiresAt, l.ID
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM quota_leases WHERE (subject, expires_at, id) IN
(SELECT * FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS BIGINT[]), CAST($3 AS TEXT[])))`, subjects, expires, ids)
	return err
}

// SweepLeases and SweepUsage never wait for a row a quota batch holds: a
// multi-row delete waiting on it while holding another the batch wants
// would deadlock with it.
func (d *driver) SweepLeases(ctx context.Context, nowUS int64) (int64, error) {
	return store.Affected(d.db.ExecContext(ctx, `DELETE FROM quota_leases WHERE (subject, expires_at, id) IN
(SELECT subject, expires_at, id FROM quota_leases WHERE expires_at <= $1 FOR UPDATE SKIP LOCKED)`, nowUS))
}

func (d *driver) SweepUsage(ctx context.Context, monthUS int64) (int64, error) {
	return store.Affected(d.db.ExecContext(ctx, `DELETE FROM quota_usage WHERE subject IN
(SELECT subject FROM quota_usage WHERE month_start < $1 FOR UPDATE SKIP LOCKED)`, monthUS))
}

// AddCounts passes the rows as one array per column: one statement
// whatever their number.
func (*driver) AddCounts(ctx context.Context, tx store.Execer, t *store.CountTable, rows []store.CountRow) error {
	if len(rows) == 0 {
		return nil
	}
	for _, r := range rows {
		if len(r.Keys) != len(t.Keys) || len(r.Counts) != len(t.Counts) {
			return fmt.Errorf("adding counts to %s: a row has %d keys and %d counts, the table %d and %d",
				t.Name, len(r.Keys), len(r.Counts), len(t.Keys), len(t.Counts))
		}
	}
	cols := make([]any, 0, len(t.Keys)+len(t.Counts))
	casts := make([]string, 0, cap(cols))
	for k := range t.Keys {
		switch rows[0].Keys[k].(type) {
		case int64:
			a := make([]int64, len(rows))
			for i, r := range rows {
				v, ok := r.Keys[k].(int64)
				if !ok {
					return fmt.Errorf("adding counts to %s: key %s mixes types", t.Name, t.Keys[k])
				}
				a[i] = v
			}
			cols, casts = append(cols, a), append(casts, "BIGINT[]")
		case string:
			a := make([]string, len(rows))
			for i, r := range rows {
				v, ok := r.Keys[k].(string)
				if !ok {
					return fmt.Errorf("adding counts to %s: key %s mixes types", t.Name, t.Keys[k])
				}
				a[i] = v
			}
			cols, casts = append(cols, a), append(casts, "TEXT[]")
		default:
			return fmt.Errorf("adding counts to %s: key %s is a %T, not int64 or string", t.Name, t.Keys[k], rows[0].Keys[k])
		}
	}
	for c := range t.Counts {
		a := make([]int64, len(rows))
		for i, r := range rows {
			a[i] = r.Counts[c]
		}
		cols, casts = append(cols, a), append(casts, "BIGINT[]")
	}
	names := append(append([]string{}, t.Keys...), t.Counts...)
	args := make([]string, len(cols))
	for i := range cols {
		args[i] = fmt.Sprintf("CAST($%d AS %s)", i+1, casts[i])
	}
	set := make([]string, len(t.Counts))
	for i, c := range t.Counts {
		set[i] = c + " = t." + c + " + excluded." + c
	}
	q := "INSERT INTO " + t.Name + " AS t (" + strings.Join(names, ", ") + ") SELECT * FROM unnest(" + strings.Join(args, ", ") +
		") ON CONFLICT (" + strings.Join(t.Keys, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ")
	_, err := tx.ExecContext(ctx, q, cols...)
	return err
}

package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"timon.dev/timon/core/store"
)

// retentionBatch bounds each DELETE, so that retention never holds the
// write lock long enough to delay appends.
var retentionBatch = 1000

// ApplyRetention deletes the stored content of entries older than
// olderThan and returns how many contents it deleted. Entries stay: their
// hashes cover the content's hashes, never the content, so the chain still
// verifies. On SQLite the deleted pages are overwritten (secure_delete);
// on PostgreSQL VACUUM reclaims them. Content is encrypted either way.
func ApplyRetention(ctx context.Context, st *store.Store, olderThan time.Time) (int64, error) {
	if olderThan.IsZero() {
		return 0, errors.New("applying retention: no date given")
	}
	conn, err := st.DB().Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("applying retention: %w", err)
	}
	defer conn.Close()
	if st.Dialect() == store.SQLite {
		var prev int
		if err := conn.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&prev); err != nil {
			return 0, fmt.Errorf("applying retention: %w", err)
		}
		if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
			return 0, fmt.Errorf("applying retention: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = `+strconv.Itoa(prev))
	}
	q := st.Rebind(`DELETE FROM audit_content WHERE seq IN
		(SELECT seq FROM audit_content WHERE time_us < ? ORDER BY seq LIMIT ?)`)
	var total int64
	for {
		res, err := conn.ExecContext(ctx, q, olderThan.UnixMicro(), retentionBatch)
		if err != nil {
			return total, fmt.Errorf("applying retention: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("applying retention: %w", err)
		}
		total += n
		if n < int64(retentionBatch) {
			return total, nil
		}
	}
}

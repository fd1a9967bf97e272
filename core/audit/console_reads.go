package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"timon.dev/timon/core/store"
)

// appendSlack is how long after its time an entry may be appended: a
// request is journaled when it ends, stamped when it began.
const appendSlack = time.Hour

// SeqBefore returns a seq below every entry stamped at or after t: a List
// by time from t may start after it (Filter.AfterSeq), so that it reads
// from there through the primary key rather than from the first entry —
// PostgreSQL's planner, expecting the entries of a recent period to be
// spread over the journal, otherwise walks it from the start. It is the
// seq of the latest entry stamped more than an hour before t (0 when
// none): entries are appended within an hour of their time, so that one
// was appended before t, and any entry stamped at or after t after it.
func SeqBefore(ctx context.Context, st *store.Store, t time.Time) (int64, error) {
	var seq int64
	err := st.QueryRow(ctx, `SELECT seq FROM audit_entries WHERE time_us < ? ORDER BY time_us DESC LIMIT 1`,
		t.Add(-appendSlack).UnixMicro()).Scan(&seq)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("finding the journal's entries since %s: %w", t.Format(time.RFC3339), err)
	}
	return seq, nil
}

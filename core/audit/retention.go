package audit

import (
	"context"
	"errors"
	"fmt"
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
	n, err := st.Driver().DeleteContentBefore(ctx, olderThan.UnixMicro(), retentionBatch)
	if err != nil {
		return n, fmt.Errorf("applying retention: %w", err)
	}
	return n, nil
}

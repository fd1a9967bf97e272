package review

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"timon.dev/timon/core/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Run statuses.
const (
	statusAnswered   = "answered"   // the model's answer is stored, not all of it posted yet
	statusPosted     = "posted"     // everything is on GitLab
	statusSuperseded = "superseded" // the head moved; nothing more is posted
)

// state keeps what makes a review idempotent, in the store's database:
// the stored answer of each (merge request, head, kind), the last reviewed
// head of each merge request, and the lease that lets one run at a time
// work on a merge request.
//
// What quotes the merge request (a result waiting to be posted, the
// model's answer to each chunk of a review) is sealed with the review's
// key and deleted once the work is posted or superseded: no diff, title,
// description or model output lies in clear at rest.
type state struct {
	st   *store.Store
	seal *sealer
}

func (s *state) migrate(ctx context.Context) error {
	return s.st.Migrate(ctx, "gitlab_review", migrations)
}

// run reads a stored run; found is false when there is none, or when its
// result is gone (posted or superseded) or does not open (sealed under
// another key: the work is done again).
func (s *state) run(ctx context.Context, project, iid int64, head, kind string) (status, result string, found bool, err error) {
	var sealed string
	err = s.st.QueryRow(ctx, `SELECT status, result FROM gitlab_review_runs WHERE project_id = ? AND iid = ? AND head_sha = ? AND kind = ?`,
		project, iid, head, kind).Scan(&status, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("reading the review run: %w", err)
	}
	if status != statusAnswered {
		return status, "", true, nil
	}
	plain, err := s.seal.open(rowAD("runs", project, iid, head, kind, ""), sealed)
	if err != nil {
		return "", "", false, nil
	}
	return status, string(plain), true, nil
}

// saveRun stores a run's status and its result, sealed.
func (s *state) saveRun(ctx context.Context, project, iid int64, head, kind, status, result string) error {
	sealed := ""
	if status == statusAnswered {
		var err error
		if sealed, err = s.seal.seal(rowAD("runs", project, iid, head, kind, ""), []byte(result)); err != nil {
			return err
		}
	}
	now := store.Micros(time.Now())
	_, err := s.st.Exec(ctx, `INSERT INTO gitlab_review_runs (project_id, iid, head_sha, kind, status, result, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (project_id, iid, head_sha, kind) DO UPDATE SET status = excluded.status, result = excluded.result, updated_at = excluded.updated_at`,
		project, iid, head, kind, status, sealed, now, now)
	if err != nil {
		return fmt.Errorf("storing the review run: %w", err)
	}
	// The chunks' answers are in the result now, or no longer needed.
	return s.dropChunks(ctx, project, iid, head, kind)
}

// setStatus records that a run is posted or superseded: its result and
// the answers of its chunks are no longer needed and are deleted.
func (s *state) setStatus(ctx context.Context, project, iid int64, head, kind, status string) error {
	_, err := s.st.Exec(ctx, `UPDATE gitlab_review_runs SET status = ?, result = '', updated_at = ? WHERE project_id = ? AND iid = ? AND head_sha = ? AND kind = ?`,
		status, store.Micros(time.Now()), project, iid, head, kind)
	if err != nil {
		return fmt.Errorf("updating the review run: %w", err)
	}
	return s.dropChunks(ctx, project, iid, head, kind)
}

// chunk reads the stored outcome of one chunk of a run; found is false
// when there is none or it does not open.
func (s *state) chunk(ctx context.Context, project, iid int64, head, kind, id string, out any) (found bool, err error) {
	var sealed string
	err = s.st.QueryRow(ctx, `SELECT sealed FROM gitlab_review_chunks WHERE project_id = ? AND iid = ? AND head_sha = ? AND kind = ? AND chunk = ?`,
		project, iid, head, kind, id).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading a chunk's stored answer: %w", err)
	}
	plain, err := s.seal.open(rowAD("chunks", project, iid, head, kind, id), sealed)
	if err != nil {
		return false, nil
	}
	if err := json.Unmarshal(plain, out); err != nil {
		return false, nil
	}
	return true, nil
}

// saveChunk stores the outcome of one chunk of a run, sealed.
func (s *state) saveChunk(ctx context.Context, project, iid int64, head, kind, id string, v any) error {
	plain, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("storing a chunk's answer: %w", err)
	}
	sealed, err := s.seal.seal(rowAD("chunks", project, iid, head, kind, id), plain)
	clear(plain)
	if err != nil {
		return err
	}
	_, err = s.st.Exec(ctx, `INSERT INTO gitlab_review_chunks (project_id, iid, head_sha, kind, chunk, sealed, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (project_id, iid, head_sha, kind, chunk) DO UPDATE SET sealed = excluded.sealed, created_at = excluded.created_at`,
		project, iid, head, kind, id, sealed, store.Micros(time.Now()))
	if err != nil {
		return fmt.Errorf("storing a chunk's answer: %w", err)
	}
	return nil
}

func (s *state) dropChunks(ctx context.Context, project, iid int64, head, kind string) error {
	_, err := s.st.Exec(ctx, `DELETE FROM gitlab_review_chunks WHERE project_id = ? AND iid = ? AND head_sha = ? AND kind = ?`,
		project, iid, head, kind)
	if err != nil {
		return fmt.Errorf("deleting a run's chunk answers: %w", err)
	}
	return nil
}

// prune deletes what runs that never finished left behind: chunk answers
// and unposted results older than the given age.
func (s *state) prune(ctx context.Context, olderThan time.Duration) error {
	before := store.Micros(time.Now().Add(-olderThan))
	if _, err := s.st.Exec(ctx, `DELETE FROM gitlab_review_chunks WHERE created_at < ?`, before); err != nil {
		return fmt.Errorf("pruning old chunk answers: %w", err)
	}
	if _, err := s.st.Exec(ctx, `UPDATE gitlab_review_runs SET result = '' WHERE result <> '' AND updated_at < ?`, before); err != nil {
		return fmt.Errorf("pruning old review results: %w", err)
	}
	return nil
}

// Prune deletes the sealed leftovers of runs that never finished (a
// merge request closed mid-review) once they are older than olderThan.
func (r *Reviewer) Prune(ctx context.Context, olderThan time.Duration) error {
	return r.state.prune(ctx, olderThan)
}

// reviewedHead is the head of the merge request's last posted review, ""
// when there is none.
func (s *state) reviewedHead(ctx context.Context, project, iid int64) (string, error) {
	var h string
	err := s.st.QueryRow(ctx, `SELECT reviewed_head FROM gitlab_mr_state WHERE project_id = ? AND iid = ?`, project, iid).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the last reviewed head: %w", err)
	}
	return h, nil
}

func (s *state) setReviewedHead(ctx context.Context, project, iid int64, head string) error {
	now := store.Micros(time.Now())
	_, err := s.st.Exec(ctx, `INSERT INTO gitlab_mr_state (project_id, iid, reviewed_head, lease_owner, lease_until, updated_at)
VALUES (?, ?, ?, '', 0, ?)
ON CONFLICT (project_id, iid) DO UPDATE SET reviewed_head = excluded.reviewed_head, updated_at = excluded.updated_at`,
		project, iid, head, now)
	if err != nil {
		return fmt.Errorf("recording the reviewed head: %w", err)
	}
	return nil
}

// acquire takes the merge request's lease for owner until the given time,
// if it is free, expired or already owner's; it reports whether it did.
// One conditional upsert: race free on SQLite and PostgreSQL alike.
func (s *state) acquire(ctx context.Context, project, iid int64, owner string, until time.Time) (bool, error) {
	now := time.Now()
	res, err := s.st.Exec(ctx, `INSERT INTO gitlab_mr_state (project_id, iid, reviewed_head, lease_owner, lease_until, updated_at)
VALUES (?, ?, '', ?, ?, ?)
ON CONFLICT (project_id, iid) DO UPDATE SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until, updated_at = excluded.updated_at
WHERE gitlab_mr_state.lease_owner = '' OR gitlab_mr_state.lease_owner = excluded.lease_owner OR gitlab_mr_state.lease_until < ?`,
		project, iid, owner, store.Micros(until), store.Micros(now), store.Micros(now))
	if err != nil {
		return false, fmt.Errorf("taking the merge request's review lease: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("taking the merge request's review lease: %w", err)
	}
	return n > 0, nil
}

func (s *state) release(ctx context.Context, project, iid int64, owner string) error {
	_, err := s.st.Exec(ctx, `UPDATE gitlab_mr_state SET lease_owner = '', lease_until = 0 WHERE project_id = ? AND iid = ? AND lease_owner = ?`,
		project, iid, owner)
	if err != nil {
		return fmt.Errorf("releasing the merge request's review lease: %w", err)
	}
	return nil
}

// ReviewedHead is the head of the merge request's last posted review, ""
// when there is none.
func (r *Reviewer) ReviewedHead(ctx context.Context, project, iid int64) (string, error) {
	return r.state.reviewedHead(ctx, project, iid)
}

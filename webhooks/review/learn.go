package review

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"timon.dev/timon/core/store"
)

// Reviews learn from what people do with their findings.
//
// A finding is known across reviews of a merge request by its dismissal
// key: its file, the line it quotes (spacing aside) and its kind — not
// its wording, which changes from one answer of the model to the next,
// nor its line number, which moves with every push. Each inline note
// carries the key and the kind in a hidden marker.
//
// A finding is dismissed on a merge request when its discussion was
// resolved while the code it points at stayed as it was (no later
// version changed the line or the three lines around it: the context of
// a hunk), or when a project member with at least Developer access gave
// its note a 👎. A dismissed finding is not raised again on that merge
// request. A finding resolved after a change to its lines is not
// dismissed: if the model still finds the problem there, it is raised
// again.
//
// Each dismissal is recorded with its kind; a kind dismissed
// Settings.SuppressAfter times in a project (3 by default) is suppressed
// there, unless the settings allow it again; `timon review suppressions`
// lists the counts and starts a kind's count afresh.

// Dismissal reasons.
const (
	DismissedResolved   = "resolved"
	DismissedThumbsDown = "thumbsdown"
)

// dismissKey identifies a finding across the reviews of a merge request.
func dismissKey(path, quote, kind string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s", path, normalizeLine(quote), kind)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// findingMarker carries a finding's kind and dismissal key in its note.
func findingMarker(kind, key string) string {
	return markerPrefix + "finding:" + kind + ":" + key + " -->"
}

// parseFindingMarker reads the finding marker of a note body.
func parseFindingMarker(body string) (kind, key string, ok bool) {
	for _, m := range Markers(body) {
		rest, found := strings.CutPrefix(m, markerPrefix+"finding:")
		if !found {
			continue
		}
		rest = strings.TrimSuffix(rest, " -->")
		kind, key, ok = strings.Cut(rest, ":")
		if ok && kind != "" && key != "" {
			return kind, key, true
		}
	}
	return "", "", false
}

// learned is what a review takes from earlier ones: the findings
// dismissed on the merge request and the kinds suppressed in the project.
type learned struct {
	dismissed  map[string]bool
	suppressed map[string]bool
}

// learn records the findings dismissed on the merge request since the
// last look and returns what the review must leave out.
func (r *Reviewer) learn(ctx context.Context, j Job, head string, settings Settings) (*learned, error) {
	l := &learned{dismissed: map[string]bool{}, suppressed: map[string]bool{}}
	known, err := r.state.dismissedKeys(ctx, j.ProjectID, j.IID)
	if err != nil {
		return nil, err
	}
	bot, err := r.api.BotUserID(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the bot's user: %w", err)
	}
	discussions, err := r.api.Discussions(ctx, j.ProjectID, j.IID)
	if err != nil {
		return nil, fmt.Errorf("listing the discussions of !%d: %w", j.IID, err)
	}
	levels := map[int64]int{}
	compared := map[string][]FileDiff{}
	for _, d := range discussions {
		if len(d.Notes) == 0 || d.Notes[0].AuthorID != bot {
			continue
		}
		first := d.Notes[0]
		kind, key, ok := parseFindingMarker(first.Body)
		if !ok || known[key] {
			continue
		}
		reason := ""
		if d.Resolved() {
			touched, err := r.touched(ctx, j, first.Position, head, compared)
			if err != nil {
				return nil, err
			}
			if !touched {
				reason = DismissedResolved
			}
		}
		if reason == "" {
			down, err := r.thumbsDown(ctx, j, first.ID, bot, levels)
			if err != nil {
				return nil, err
			}
			if down {
				reason = DismissedThumbsDown
			}
		}
		if reason == "" {
			continue
		}
		if err := r.state.recordDismissal(ctx, j.ProjectID, j.ProjectPath, j.IID, key, kind, reason); err != nil {
			return nil, err
		}
		known[key] = true
		r.log.Info("a finding was dismissed; it is not raised again on this merge request", "project", j.ProjectID, "mr", j.IID, "kind", kind, "reason", reason)
	}
	for k := range known {
		l.dismissed[k] = true
	}
	for _, k := range settings.Suppress {
		l.suppressed[k] = true
	}
	if after := settings.SuppressThreshold(); after > 0 {
		counts, err := r.state.kindCounts(ctx, j.ProjectID)
		if err != nil {
			return nil, err
		}
		for k, n := range counts {
			if n >= after && k != KindSecret && !slices.Contains(settings.Allow, k) {
				l.suppressed[k] = true
			}
		}
	}
	delete(l.suppressed, KindSecret)
	return l, nil
}

// touched reports whether a version after the note's changed the line it
// is on, or the lines around it (within the three lines of context of a
// hunk). A note without a position, or on a removed line, is untouched.
func (r *Reviewer) touched(ctx context.Context, j Job, pos *Position, head string, cache map[string][]FileDiff) (bool, error) {
	if pos == nil || pos.HeadSHA == "" || pos.HeadSHA == head || pos.NewLine == 0 {
		return false, nil
	}
	diffs, ok := cache[pos.HeadSHA]
	if !ok {
		var err error
		diffs, err = r.api.Compare(ctx, j.ProjectID, pos.HeadSHA, head)
		if errors.Is(err, ErrNotFound) {
			// The commit is gone (a force push dropped it): the code may
			// have changed; the finding may be raised again.
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("comparing %s with %s: %w", shortSHA(pos.HeadSHA), shortSHA(head), err)
		}
		cache[pos.HeadSHA] = diffs
	}
	for _, d := range diffs {
		if d.OldPath != pos.NewPath && d.NewPath != pos.NewPath {
			continue
		}
		if d.DeletedFile || d.RenamedFile {
			return true, nil
		}
		hunks, err := ParseHunks(d.Diff)
		if err != nil || len(hunks) == 0 {
			return true, nil
		}
		for _, h := range hunks {
			if pos.NewLine >= h.OldStart && pos.NewLine < h.OldStart+max(h.OldLines, 1) {
				return true, nil
			}
		}
	}
	return false, nil
}

// thumbsDown reports whether a project member with at least Developer
// access gave the note a 👎.
func (r *Reviewer) thumbsDown(ctx context.Context, j Job, note, bot int64, levels map[int64]int) (bool, error) {
	awards, err := r.api.AwardEmoji(ctx, j.ProjectID, j.IID, note)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the award emoji of note %d: %w", note, err)
	}
	for _, a := range awards {
		if a.Name != "thumbsdown" || a.UserID == bot || a.UserID == 0 {
			continue
		}
		level, ok := levels[a.UserID]
		if !ok {
			level, err = r.api.AccessLevel(ctx, j.ProjectID, a.UserID)
			if err != nil {
				return false, fmt.Errorf("reading the access level of user %d: %w", a.UserID, err)
			}
			levels[a.UserID] = level
		}
		if level >= DeveloperAccess {
			return true, nil
		}
	}
	return false, nil
}

// dismissedKeys are the dismissal keys recorded on a merge request.
func (s *state) dismissedKeys(ctx context.Context, project, iid int64) (map[string]bool, error) {
	rows, err := s.st.Query(ctx, `SELECT fingerprint FROM gitlab_review_dismissals WHERE project_id = ? AND iid = ?`, project, iid)
	if err != nil {
		return nil, fmt.Errorf("reading the dismissed findings: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("reading the dismissed findings: %w", err)
		}
		out[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the dismissed findings: %w", err)
	}
	return out, nil
}

func (s *state) recordDismissal(ctx context.Context, project int64, projectPath string, iid int64, key, kind, reason string) error {
	_, err := s.st.Exec(ctx, `INSERT INTO gitlab_review_dismissals (project_id, project_path, iid, fingerprint, kind, reason, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, iid, fingerprint) DO NOTHING`,
		project, projectPath, iid, key, kind, reason, store.Micros(time.Now()))
	if err != nil {
		return fmt.Errorf("recording a dismissed finding: %w", err)
	}
	return nil
}

// kindCounts counts a project's dismissals by kind, since each kind's
// last reset.
func (s *state) kindCounts(ctx context.Context, project int64) (map[string]int, error) {
	rows, err := s.st.Query(ctx, `SELECT d.kind, COUNT(*) FROM gitlab_review_dismissals d
LEFT JOIN gitlab_review_kind_resets r ON r.project_id = d.project_id AND r.kind = d.kind
WHERE d.project_id = ? AND (r.reset_at IS NULL OR d.created_at > r.reset_at)
GROUP BY d.kind`, project)
	if err != nil {
		return nil, fmt.Errorf("counting the dismissed findings: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("counting the dismissed findings: %w", err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting the dismissed findings: %w", err)
	}
	return out, nil
}

// KindCount is how often findings of one kind were dismissed in a
// project since the kind's last reset.
type KindCount struct {
	ProjectID   int64
	ProjectPath string
	Kind        string
	Dismissed   int
}

// Learned reads what reviews learned, for people (`timon review
// suppressions`): the dismissals counted by project and kind, without
// opening a Reviewer. projectPath "" lists every project.
func Learned(ctx context.Context, st *store.Store, projectPath string) ([]KindCount, error) {
	if err := st.Migrate(ctx, "gitlab_review", migrations); err != nil {
		return nil, err
	}
	q := `SELECT d.project_id, MAX(d.project_path), d.kind, COUNT(*) FROM gitlab_review_dismissals d
LEFT JOIN gitlab_review_kind_resets r ON r.project_id = d.project_id AND r.kind = d.kind
WHERE (r.reset_at IS NULL OR d.created_at > r.reset_at)`
	var args []any
	if projectPath != "" {
		q += ` AND d.project_path = ?`
		args = append(args, projectPath)
	}
	rows, err := st.Query(ctx, q+` GROUP BY d.project_id, d.kind`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the dismissed findings: %w", err)
	}
	defer rows.Close()
	var out []KindCount
	for rows.Next() {
		var c KindCount
		if err := rows.Scan(&c.ProjectID, &c.ProjectPath, &c.Kind, &c.Dismissed); err != nil {
			return nil, fmt.Errorf("reading the dismissed findings: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the dismissed findings: %w", err)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].ProjectPath != out[b].ProjectPath {
			return out[a].ProjectPath < out[b].ProjectPath
		}
		return out[a].Kind < out[b].Kind
	})
	return out, nil
}

// ResetKind starts the count of a kind's dismissals in a project afresh:
// a kind suppressed by learning is raised again until it is dismissed
// Settings.SuppressAfter more times. It reports how many projects it
// applied to (0 when the project has no dismissal of that kind).
func ResetKind(ctx context.Context, st *store.Store, projectPath, kind string) (int, error) {
	if err := st.Migrate(ctx, "gitlab_review", migrations); err != nil {
		return 0, err
	}
	rows, err := st.Query(ctx, `SELECT DISTINCT project_id FROM gitlab_review_dismissals WHERE project_path = ? AND kind = ?`, projectPath, kind)
	if err != nil {
		return 0, fmt.Errorf("reading the dismissed findings: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("reading the dismissed findings: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("reading the dismissed findings: %w", err)
	}
	now := store.Micros(time.Now())
	for _, id := range ids {
		_, err := st.Exec(ctx, `INSERT INTO gitlab_review_kind_resets (project_id, project_path, kind, reset_at) VALUES (?, ?, ?, ?)
ON CONFLICT (project_id, kind) DO UPDATE SET reset_at = excluded.reset_at, project_path = excluded.project_path`, id, projectPath, kind, now)
		if err != nil {
			return 0, fmt.Errorf("resetting the count of %s findings: %w", kind, err)
		}
	}
	return len(ids), nil
}

package chat

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// keepRecords is how long the record of an answered event is kept: far
// longer than any platform retries a delivery.
const keepRecords = 30 * 24 * time.Hour

// state records, per event, the replies posted and whether the event is
// answered: what makes answering exactly once across retries and restarts.
type state struct {
	st        *store.Store
	lastPurge atomic.Int64
}

func openState(ctx context.Context, st *store.Store) (*state, error) {
	if err := st.Migrate(ctx, "chat", migrations); err != nil {
		return nil, fmt.Errorf("migrating the chat tables: %w", err)
	}
	return &state{st: st}, nil
}

// record is what is known of one event.
type record struct {
	done  bool
	posts []string // post ids by part ("" for a reply that cannot be edited)
	// resumed is true when an earlier run worked the event: it may have
	// posted replies it could not record.
	resumed bool
}

// load reads ev's record, creating it on first sight.
func (s *state) load(ctx context.Context, ev *Event, now time.Time) (*record, error) {
	rec := &record{}
	var done int
	err := s.st.QueryRow(ctx, `SELECT done FROM chat_events WHERE platform = ? AND event_id = ?`, string(ev.Platform), ev.ID).Scan(&done)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := s.st.Exec(ctx, `INSERT INTO chat_events (platform, event_id, done, request_id, created_at) VALUES (?, ?, 0, '', ?)
			ON CONFLICT (platform, event_id) DO NOTHING`, string(ev.Platform), ev.ID, store.Micros(now)); err != nil {
			return nil, fmt.Errorf("recording chat event: %w", err)
		}
		s.maybePurge(ctx, now)
		return rec, nil
	case err != nil:
		return nil, fmt.Errorf("reading chat event record: %w", err)
	}
	rec.done = done != 0
	rec.resumed = true
	rows, err := s.st.Query(ctx, `SELECT part, post_id FROM chat_posts WHERE platform = ? AND event_id = ? ORDER BY part`, string(ev.Platform), ev.ID)
	if err != nil {
		return nil, fmt.Errorf("reading chat posts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var part int
		var id string
		if err := rows.Scan(&part, &id); err != nil {
			return nil, fmt.Errorf("reading chat posts: %w", err)
		}
		if part == len(rec.posts) {
			rec.posts = append(rec.posts, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading chat posts: %w", err)
	}
	return rec, nil
}

// posted records the id of part of ev's reply.
func (s *state) posted(ctx context.Context, ev *Event, part int, id string, now time.Time) error {
	_, err := s.st.Exec(context.WithoutCancel(ctx), `INSERT INTO chat_posts (platform, event_id, part, post_id, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (platform, event_id, part) DO UPDATE SET post_id = excluded.post_id`,
		string(ev.Platform), ev.ID, part, id, store.Micros(now))
	if err != nil {
		return fmt.Errorf("recording a posted chat reply: %w", err)
	}
	return nil
}

// answered marks ev as answered.
func (s *state) answered(ctx context.Context, ev *Event, requestID string) error {
	_, err := s.st.Exec(context.WithoutCancel(ctx), `UPDATE chat_events SET done = 1, request_id = ? WHERE platform = ? AND event_id = ?`,
		requestID, string(ev.Platform), ev.ID)
	if err != nil {
		return fmt.Errorf("recording a chat event as answered: %w", err)
	}
	return nil
}

// maybePurge drops the records older than keepRecords, at most hourly per
// process.
func (s *state) maybePurge(ctx context.Context, now time.Time) {
	last := s.lastPurge.Load()
	if now.UnixMicro()-last < time.Hour.Microseconds() || !s.lastPurge.CompareAndSwap(last, now.UnixMicro()) {
		return
	}
	cut := store.Micros(now.Add(-keepRecords))
	// Best effort: a failed purge is retried an hour later.
	s.st.Exec(ctx, `DELETE FROM chat_posts WHERE created_at < ?`, cut)
	s.st.Exec(ctx, `DELETE FROM chat_events WHERE created_at < ?`, cut)
}

// isDone reports whether an event is recorded as answered.
func (s *state) isDone(ctx context.Context, p core.Integration, id string) (bool, error) {
	var done int
	err := s.st.QueryRow(ctx, `SELECT done FROM chat_events WHERE platform = ? AND event_id = ?`, string(p), id).Scan(&done)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading chat event record: %w", err)
	}
	return done != 0, nil
}

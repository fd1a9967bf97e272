package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"timon.dev/timon/core/store"
)

// Session is a signed-in browser. Its secret lives only in the browser's
// cookie; the store keeps its SHA-256.
type Session struct {
	ID         string
	PersonID   string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastSeenAt time.Time

	secret string
}

// Secret is the cookie value, known right after StartSession or
// Authenticate only.
func (s *Session) Secret() string { return s.secret }

// Errors of Authenticate: the session is not (or no longer) valid.
var (
	ErrNoSession      = errors.New("no such session")
	ErrSessionEnded   = errors.New("session revoked")
	ErrSessionExpired = errors.New("session expired")
	ErrSessionIdle    = errors.New("session idle for too long")
)

// StartSession opens a new session for a person who just signed in. It is
// always a fresh id and secret: a session id known before sign-in (a
// fixation attempt) is never carried over.
func (s *Service) StartSession(ctx context.Context, personID string) (*Session, error) {
	id, err := randomID("ses_")
	if err != nil {
		return nil, fmt.Errorf("starting session: %w", err)
	}
	secret, err := randomString(32)
	if err != nil {
		return nil, fmt.Errorf("starting session: %w", err)
	}
	now := s.now()
	ses := &Session{ID: id, PersonID: personID, CreatedAt: now, ExpiresAt: now.Add(s.o.SessionLifetime), LastSeenAt: now, secret: secret}
	_, err = s.st.Exec(ctx, `INSERT INTO identity_sessions (id, hash, person_id, created_at, expires_at, last_seen_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, 0)`,
		ses.ID, hashOf(secret), personID, store.Micros(now), store.Micros(ses.ExpiresAt), store.Micros(now))
	if err != nil {
		return nil, fmt.Errorf("starting session: %w", err)
	}
	return ses, nil
}

// Authenticate returns the session of a cookie secret and its person. A
// revoked, expired or idle session is an error (ErrSessionEnded,
// ErrSessionExpired, ErrSessionIdle, ErrNoSession); use renews the idle
// timer, at most once a minute.
func (s *Service) Authenticate(ctx context.Context, secret string) (*Session, *Person, error) {
	if secret == "" {
		return nil, nil, ErrNoSession
	}
	var (
		ses                             Session
		created, expires, seen, revoked int64
	)
	err := s.st.QueryRow(ctx, `SELECT id, person_id, created_at, expires_at, last_seen_at, revoked_at FROM identity_sessions WHERE hash = ?`,
		hashOf(secret)).Scan(&ses.ID, &ses.PersonID, &created, &expires, &seen, &revoked)
	if notFound(err) {
		return nil, nil, ErrNoSession
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading session: %w", err)
	}
	ses.CreatedAt, ses.ExpiresAt, ses.LastSeenAt, ses.secret = store.Time(created), store.Time(expires), store.Time(seen), secret
	now := s.now()
	switch {
	case revoked != 0:
		return nil, nil, ErrSessionEnded
	case !now.Before(ses.ExpiresAt):
		return nil, nil, ErrSessionExpired
	case now.Sub(ses.LastSeenAt) >= s.o.IdleTimeout:
		return nil, nil, ErrSessionIdle
	}
	p, err := s.Person(ctx, ses.PersonID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrNoSession
	}
	if err != nil {
		return nil, nil, err
	}
	if now.Sub(ses.LastSeenAt) >= sessionTouchGranularity {
		if _, err := s.st.Exec(ctx, `UPDATE identity_sessions SET last_seen_at = ? WHERE id = ?`, store.Micros(now), ses.ID); err != nil {
			return nil, nil, fmt.Errorf("renewing session: %w", err)
		}
		ses.LastSeenAt = now
	}
	return &ses, p, nil
}

// EndSession revokes a session (logout). Ending it twice is not an error.
func (s *Service) EndSession(ctx context.Context, id string) error {
	_, err := s.st.Exec(ctx, `UPDATE identity_sessions SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, store.Micros(s.now()), id)
	if err != nil {
		return fmt.Errorf("ending session: %w", err)
	}
	return nil
}

// EndSessions revokes every session of a person (sign out everywhere,
// or an administrator locking someone out).
func (s *Service) EndSessions(ctx context.Context, personID string) error {
	_, err := s.st.Exec(ctx, `UPDATE identity_sessions SET revoked_at = ? WHERE person_id = ? AND revoked_at = 0`, store.Micros(s.now()), personID)
	if err != nil {
		return fmt.Errorf("ending sessions of %s: %w", personID, err)
	}
	return nil
}

// CSRFToken is the anti-forgery token of the session's forms: an HMAC of
// the session id keyed by the session's secret, so that only the holder of
// the cookie can compute it, and every replica can check it without
// sharing a key.
func (ses *Session) CSRFToken() string {
	m := hmac.New(sha256.New, []byte(ses.secret))
	m.Write([]byte("timon csrf v1|" + ses.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports, in constant time, whether token is the session's
// anti-forgery token.
func (ses *Session) CheckCSRF(token string) bool {
	if ses == nil || ses.secret == "" || token == "" {
		return false
	}
	return hmac.Equal([]byte(token), []byte(ses.CSRFToken()))
}

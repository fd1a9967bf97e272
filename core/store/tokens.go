package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// TokenPrefix starts every personal token, so that secret scanners (and
// timon's own redaction) recognise one.
const TokenPrefix = "timon_"

// Token is a personal bearer token's record. The token itself is never
// stored: only its SHA-256.
type Token struct {
	ID     string   `json:"id"`
	UserID string   `json:"user_id"`
	Groups []string `json:"groups"`
	Name   string   `json:"name,omitempty"`
	// Scope lists the integrations (core.Integration values: lsp, api,
	// chat, mattermost, slack…) the token may be used through; empty means
	// all of them.
	Scope      []string  `json:"scope,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// Active reports whether the token may be used at time now.
func (t *Token) Active(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// Allows reports whether the token's scope lets it be used through
// integration. An empty scope allows every integration; "chat" stands for
// both chat platforms (mattermost, slack).
func (t *Token) Allows(integration string) bool {
	if len(t.Scope) == 0 {
		return true
	}
	for _, s := range t.Scope {
		if s == integration || (s == "chat" && (integration == "mattermost" || integration == "slack")) {
			return true
		}
	}
	return false
}

// Errors of Token.Usable, for the caller to tell apart.
var (
	ErrTokenRevoked = errors.New("token revoked")
	ErrTokenExpired = errors.New("token expired")
	ErrTokenScope   = errors.New("token not valid for this integration")
)

// Usable is the check every bearer-token entry point makes: the token is
// active at now and its scope allows integration. The error wraps
// ErrTokenRevoked, ErrTokenExpired or ErrTokenScope and names the token
// (never its secret).
func (t *Token) Usable(now time.Time, integration string) error {
	switch {
	case !t.RevokedAt.IsZero():
		return fmt.Errorf("token %s: %w", t.ID, ErrTokenRevoked)
	case !t.Active(now):
		return fmt.Errorf("token %s: %w", t.ID, ErrTokenExpired)
	case !t.Allows(integration):
		return fmt.Errorf("token %s may be used for %s only, not %s: %w", t.ID, strings.Join(t.Scope, ", "), integration, ErrTokenScope)
	}
	return nil
}

// HashToken returns the stored form of a token.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken stores a new token for t.UserID and returns the secret, which
// is shown once and never stored. t.ID and t.CreatedAt are filled in.
func (s *Store) CreateToken(ctx context.Context, t *Token) (string, error) {
	if strings.TrimSpace(t.UserID) == "" {
		return "", errors.New("creating token: a user id is required")
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("creating token: %w", err)
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("creating token: %w", err)
	}
	t.ID = "tok_" + hex.EncodeToString(id[:])
	t.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	if t.Groups == nil {
		t.Groups = []string{}
	}
	if t.Scope == nil {
		t.Scope = []string{}
	}
	groups, err := json.Marshal(t.Groups)
	if err != nil {
		return "", fmt.Errorf("creating token: %w", err)
	}
	scope, err := json.Marshal(t.Scope)
	if err != nil {
		return "", fmt.Errorf("creating token: %w", err)
	}
	_, err = s.Exec(ctx, `INSERT INTO tokens (id, hash, user_id, groups_json, name, created_at, expires_at, revoked_at, last_used_at, scope_json)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?)`,
		t.ID, HashToken(secret), t.UserID, string(groups), t.Name, Micros(t.CreatedAt), Micros(t.ExpiresAt), string(scope))
	if err != nil {
		return "", fmt.Errorf("storing token: %w", err)
	}
	return secret, nil
}

const tokenColumns = `id, user_id, groups_json, name, created_at, expires_at, revoked_at, last_used_at, scope_json`

func scanToken(row interface{ Scan(...any) error }) (*Token, error) {
	var (
		t                                  Token
		groups, scope                      string
		created, expires, revoked, lastUse int64
	)
	if err := row.Scan(&t.ID, &t.UserID, &groups, &t.Name, &created, &expires, &revoked, &lastUse, &scope); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scope), &t.Scope); err != nil {
		return nil, fmt.Errorf("token %s: bad scope: %w", t.ID, err)
	}
	if err := json.Unmarshal([]byte(groups), &t.Groups); err != nil {
		return nil, fmt.Errorf("token %s: bad groups: %w", t.ID, err)
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.LastUsedAt = Time(created), Time(expires), Time(revoked), Time(lastUse)
	return &t, nil
}

// LookupToken finds the record of a presented secret. It returns ErrNotFound
// for an unknown token; the caller checks Active. The lookup goes by hash,
// so no comparison of the secret itself can leak its bytes through timing.
func (s *Store) LookupToken(ctx context.Context, secret string) (*Token, error) {
	t, err := scanToken(s.hotRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, HashToken(secret)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("looking up token: %w", err)
	}
	return t, nil
}

// TouchToken records that a token was used, at most once a minute so that
// the request path rarely writes.
func (s *Store) TouchToken(ctx context.Context, t *Token, now time.Time) error {
	if now.Sub(t.LastUsedAt) < time.Minute {
		return nil
	}
	_, err := s.Exec(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ? AND last_used_at < ?`,
		Micros(now), t.ID, Micros(now.Add(-time.Minute)))
	if err != nil {
		return fmt.Errorf("recording token use: %w", err)
	}
	return nil
}

// ListTokens returns every token record, newest first; userID filters when
// not empty.
func (s *Store) ListTokens(ctx context.Context, userID string) ([]*Token, error) {
	q := `SELECT ` + tokenColumns + ` FROM tokens`
	var args []any
	if userID != "" {
		q += ` WHERE user_id = ?`
		args = append(args, userID)
	}
	rows, err := s.Query(ctx, q+` ORDER BY created_at DESC, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	defer rows.Close()
	var out []*Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("listing tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeUserToken revokes the token id if it belongs to userID: a person
// revoking their own token. Another person's token is ErrNotFound, as an
// unknown one, so that ids cannot be probed.
func (s *Store) RevokeUserToken(ctx context.Context, id, userID string) error {
	res, err := s.Exec(ctx, `UPDATE tokens SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END WHERE id = ? AND user_id = ?`,
		Micros(time.Now()), id, userID)
	if err != nil {
		return fmt.Errorf("revoking token %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("revoking token %s: %w", id, ErrNotFound)
	}
	return nil
}

// RevokeToken revokes a token by id. Revoking twice is not an error;
// an unknown id is ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	res, err := s.Exec(ctx, `UPDATE tokens SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END WHERE id = ?`,
		Micros(time.Now()), id)
	if err != nil {
		return fmt.Errorf("revoking token %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("revoking token %s: %w", id, ErrNotFound)
	}
	return nil
}

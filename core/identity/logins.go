package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"timon.dev/timon/core/store"
)

// Login is what a sign-in attempt must remember between the redirect to
// the identity provider and its return: checked once, then forgotten.
type Login struct {
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"` // PKCE code verifier
	ReturnTo string `json:"return_to"`
}

// ErrUnknownLogin is a callback whose state matches no pending sign-in
// (forged, replayed or too old).
var ErrUnknownLogin = errors.New("this sign-in attempt is unknown, was already used or is too old; start again")

// StartLogin records a sign-in attempt and returns its state, a random
// value that the identity provider sends back. The attempt is sealed to
// the state, which the store does not keep.
func (s *Service) StartLogin(ctx context.Context, l Login) (state string, err error) {
	state, err = randomString(32)
	if err != nil {
		return "", fmt.Errorf("starting sign-in: %w", err)
	}
	raw, _ := json.Marshal(l)
	sealed, err := seal(deriveKey("login", state), raw)
	if err != nil {
		return "", fmt.Errorf("starting sign-in: %w", err)
	}
	_, err = s.st.Exec(ctx, `INSERT INTO identity_logins (state_hash, sealed, expires_at) VALUES (?, ?, ?)`,
		hashOf(state), sealed, store.Micros(s.now().Add(DefaultLoginLifetime)))
	if err != nil {
		return "", fmt.Errorf("starting sign-in: %w", err)
	}
	return state, nil
}

// FinishLogin returns the attempt of a state, at most once and before it
// expires (ErrUnknownLogin otherwise).
func (s *Service) FinishLogin(ctx context.Context, state string) (*Login, error) {
	if state == "" {
		return nil, ErrUnknownLogin
	}
	var (
		sealed  string
		expires int64
	)
	err := s.st.Tx(ctx, func(tx *store.Tx) error {
		err := tx.QueryRow(ctx, `SELECT sealed, expires_at FROM identity_logins WHERE state_hash = ?`, hashOf(state)).Scan(&sealed, &expires)
		if notFound(err) {
			return ErrUnknownLogin
		}
		if err != nil {
			return err
		}
		n, err := store.Affected(tx.Exec(ctx, `DELETE FROM identity_logins WHERE state_hash = ?`, hashOf(state)))
		if err == nil && n != 1 {
			return ErrUnknownLogin
		}
		return err
	})
	if errors.Is(err, ErrUnknownLogin) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("finishing sign-in: %w", err)
	}
	if !s.now().Before(store.Time(expires)) {
		return nil, ErrUnknownLogin
	}
	raw, err := open(deriveKey("login", state), sealed)
	if err != nil {
		return nil, fmt.Errorf("finishing sign-in: %w", err)
	}
	var l Login
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("finishing sign-in: %w", err)
	}
	return &l, nil
}

package identity

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"timon.dev/timon/core/store"
)

// UserCodeAlphabet are the letters of a user code: consonants without
// vowels (no words) and without look-alikes of digits.
const UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// Device clients and the integration their token is scoped to.
var deviceClients = map[string][]string{"timon-cli": {"lsp"}, "vscode": {"lsp"}}

// Errors of PollDevice, named as RFC 8628's error codes (Code).
var (
	ErrAuthorizationPending = errors.New("authorization_pending")
	ErrSlowDown             = errors.New("slow_down")
	ErrAccessDenied         = errors.New("access_denied")
	ErrExpiredToken         = errors.New("expired_token")
)

// Errors of the device approval.
var (
	ErrUnknownDevice = errors.New("this code is unknown or has expired; start the sign-in again from your editor")
	ErrDeviceDecided = errors.New("this code was already approved or denied")
	ErrUnknownClient = errors.New("unknown client: expected timon-cli or vscode")
)

// DeviceStart is what a device is told when it starts.
type DeviceStart struct {
	// DeviceCode is the device's secret, for polling; the store keeps its
	// SHA-256.
	DeviceCode string
	// UserCode is shown to the person, as XXXX-XXXX.
	UserCode  string
	ExpiresIn time.Duration
	Interval  time.Duration
}

// Device is a device authorization as the approval page shows it.
type Device struct {
	UserCode  string // XXXX-XXXX
	Client    string
	Name      string
	Status    string // pending, approved, denied, collected
	ExpiresAt time.Time
}

// DeviceGrant is the token handed to a device, once.
type DeviceGrant struct {
	Token     string
	TokenID   string
	ExpiresAt time.Time
	UserID    string
}

// StartDevice opens a device authorization for client (timon-cli or
// vscode), whose token will be named name.
func (s *Service) StartDevice(ctx context.Context, client, name string) (*DeviceStart, error) {
	if _, ok := deviceClients[client]; !ok {
		return nil, ErrUnknownClient
	}
	name = strings.TrimSpace(strings.ToValidUTF8(name, ""))
	if name == "" {
		name = client
	}
	if utf8.RuneCountInString(name) > 100 {
		name = string([]rune(name)[:100])
	}
	code, err := randomString(32)
	if err != nil {
		return nil, fmt.Errorf("starting device sign-in: %w", err)
	}
	priv, err := devicePrivateKey(code)
	if err != nil {
		return nil, fmt.Errorf("starting device sign-in: %w", err)
	}
	now := s.now()
	for attempt := 0; ; attempt++ {
		uc, err := newUserCode()
		if err != nil {
			return nil, fmt.Errorf("starting device sign-in: %w", err)
		}
		_, err = s.st.Exec(ctx, `INSERT INTO identity_devices (code_hash, user_code, client, name, public_key, created_at, expires_at, interval_s, last_poll_at, status, person_id, token_id, token_expires_at, sealed)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 'pending', '', '', 0, '')`,
			hashOf(code), uc, client, name, base64.RawStdEncoding.EncodeToString(priv.PublicKey().Bytes()),
			store.Micros(now), store.Micros(now.Add(s.o.DeviceLifetime)), int(s.o.DeviceInterval/time.Second))
		if err == nil {
			return &DeviceStart{DeviceCode: code, UserCode: displayCode(uc), ExpiresIn: s.o.DeviceLifetime, Interval: s.o.DeviceInterval}, nil
		}
		// A user code already in use (unlikely: 20^8 codes) gets another.
		if attempt == 3 {
			return nil, fmt.Errorf("starting device sign-in: %w", err)
		}
	}
}

// PendingDevices counts the device authorizations waiting for a decision
// and not expired, stopping at limit: the hub refuses new ones beyond a
// cap, and counting further would only cost.
func (s *Service) PendingDevices(ctx context.Context, limit int) (int, error) {
	var n int
	err := s.st.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM identity_devices WHERE status = 'pending' AND expires_at > ? LIMIT ?) pending`,
		store.Micros(s.now()), limit).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting pending device sign-ins: %w", err)
	}
	return n, nil
}

func newUserCode() (string, error) {
	var b strings.Builder
	buf := make([]byte, 16)
	for b.Len() < 8 {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, c := range buf {
			// 240 = 12 × 20: no bias.
			if c < 240 && b.Len() < 8 {
				b.WriteByte(UserCodeAlphabet[int(c)%len(UserCodeAlphabet)])
			}
		}
	}
	return b.String(), nil
}

// NormalizeUserCode turns what a person typed (any case, dashes, spaces)
// into the stored form; "" when it cannot be a user code.
func NormalizeUserCode(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(UserCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if b.Len() != 8 {
		return ""
	}
	return b.String()
}

func displayCode(uc string) string { return uc[:4] + "-" + uc[4:] }

// Device returns the pending or decided authorization of a user code;
// ErrUnknownDevice when there is none or it expired.
func (s *Service) Device(ctx context.Context, userCode string) (*Device, error) {
	uc := NormalizeUserCode(userCode)
	if uc == "" {
		return nil, ErrUnknownDevice
	}
	var (
		d       Device
		expires int64
	)
	err := s.st.QueryRow(ctx, `SELECT client, name, status, expires_at FROM identity_devices WHERE user_code = ?`, uc).Scan(&d.Client, &d.Name, &d.Status, &expires)
	if notFound(err) {
		return nil, ErrUnknownDevice
	}
	if err != nil {
		return nil, fmt.Errorf("reading device sign-in: %w", err)
	}
	d.UserCode, d.ExpiresAt = displayCode(uc), store.Time(expires)
	if !s.now().Before(d.ExpiresAt) {
		return nil, ErrUnknownDevice
	}
	if d.Status == "approving" {
		d.Status = "pending"
	}
	return &d, nil
}

// ApproveDevice creates a personal token for p, scoped to the editor, and
// keeps it sealed for the device until it collects it.
func (s *Service) ApproveDevice(ctx context.Context, userCode string, p *Person) error {
	uc := NormalizeUserCode(userCode)
	if uc == "" {
		return ErrUnknownDevice
	}
	now := s.now()
	// Claim the authorization first, so that two approvals at once make
	// one token.
	n, err := store.Affected(s.st.Exec(ctx, `UPDATE identity_devices SET status = 'approving', person_id = ? WHERE user_code = ? AND status = 'pending' AND expires_at > ?`,
		p.ID, uc, store.Micros(now)))
	if err != nil {
		return fmt.Errorf("approving device sign-in: %w", err)
	}
	if n != 1 {
		if _, err := s.Device(ctx, uc); err != nil {
			return err
		}
		return ErrDeviceDecided
	}
	var client, name, pubText string
	if err := s.st.QueryRow(ctx, `SELECT client, name, public_key FROM identity_devices WHERE user_code = ?`, uc).Scan(&client, &name, &pubText); err != nil {
		return fmt.Errorf("approving device sign-in: %w", err)
	}
	release := func(err error) error {
		s.st.Exec(ctx, `UPDATE identity_devices SET status = 'pending', person_id = '' WHERE user_code = ? AND status = 'approving'`, uc)
		return fmt.Errorf("approving device sign-in: %w", err)
	}
	pubRaw, err := base64.RawStdEncoding.DecodeString(pubText)
	if err != nil {
		return release(err)
	}
	pub, err := ecdh.X25519().NewPublicKey(pubRaw)
	if err != nil {
		return release(err)
	}
	tok := &store.Token{UserID: p.ID, Groups: p.Groups, Name: name, Scope: deviceClients[client], ExpiresAt: now.Add(s.o.DeviceTokenLifetime)}
	secret, err := s.st.CreateToken(ctx, tok)
	if err != nil {
		return release(err)
	}
	sealed, err := sealTo(pub, []byte(secret))
	if err != nil {
		s.st.RevokeToken(ctx, tok.ID)
		return release(err)
	}
	_, err = s.st.Exec(ctx, `UPDATE identity_devices SET status = 'approved', token_id = ?, token_expires_at = ?, sealed = ? WHERE user_code = ? AND status = 'approving'`,
		tok.ID, store.Micros(tok.ExpiresAt), sealed, uc)
	if err != nil {
		s.st.RevokeToken(ctx, tok.ID)
		return release(err)
	}
	return nil
}

// DenyDevice refuses a pending authorization; the device is told
// access_denied.
func (s *Service) DenyDevice(ctx context.Context, userCode string, p *Person) error {
	uc := NormalizeUserCode(userCode)
	if uc == "" {
		return ErrUnknownDevice
	}
	n, err := store.Affected(s.st.Exec(ctx, `UPDATE identity_devices SET status = 'denied', person_id = ? WHERE user_code = ? AND status = 'pending' AND expires_at > ?`,
		p.ID, uc, store.Micros(s.now())))
	if err != nil {
		return fmt.Errorf("denying device sign-in: %w", err)
	}
	if n != 1 {
		if _, err := s.Device(ctx, uc); err != nil {
			return err
		}
		return ErrDeviceDecided
	}
	return nil
}

// PollDevice answers a device's poll: the token once approved, exactly
// once; otherwise ErrAuthorizationPending, ErrSlowDown (polled faster than
// the interval), ErrAccessDenied or ErrExpiredToken (unknown, expired or
// already collected).
func (s *Service) PollDevice(ctx context.Context, deviceCode string) (*DeviceGrant, error) {
	if deviceCode == "" {
		return nil, ErrExpiredToken
	}
	now := s.now()
	var (
		grant  *DeviceGrant
		sealed string
		answer error
	)
	err := s.st.Tx(ctx, func(tx *store.Tx) error {
		var (
			status, personID, tokenID     string
			expires, lastPoll, tokExpires int64
			interval                      int
		)
		err := tx.QueryRow(ctx, `SELECT status, person_id, token_id, expires_at, last_poll_at, interval_s, token_expires_at, sealed FROM identity_devices WHERE code_hash = ?`,
			hashOf(deviceCode)).Scan(&status, &personID, &tokenID, &expires, &lastPoll, &interval, &tokExpires, &sealed)
		if notFound(err) {
			answer = ErrExpiredToken
			return nil
		}
		if err != nil {
			return err
		}
		if !now.Before(store.Time(expires)) || status == "collected" {
			answer = ErrExpiredToken
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE identity_devices SET last_poll_at = ? WHERE code_hash = ?`, store.Micros(now), hashOf(deviceCode)); err != nil {
			return err
		}
		if lastPoll != 0 && now.Sub(store.Time(lastPoll)) < time.Duration(interval)*time.Second {
			answer = ErrSlowDown
			return nil
		}
		switch status {
		case "denied":
			answer = ErrAccessDenied
			return nil
		case "approved":
		default:
			answer = ErrAuthorizationPending
			return nil
		}
		n, err := store.Affected(tx.Exec(ctx, `UPDATE identity_devices SET status = 'collected', sealed = '' WHERE code_hash = ? AND status = 'approved'`, hashOf(deviceCode)))
		if err != nil {
			return err
		}
		if n != 1 {
			answer = ErrExpiredToken
			return nil
		}
		grant = &DeviceGrant{TokenID: tokenID, ExpiresAt: store.Time(tokExpires), UserID: personID}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("polling device sign-in: %w", err)
	}
	if answer != nil {
		return nil, answer
	}
	priv, err := devicePrivateKey(deviceCode)
	if err != nil {
		return nil, fmt.Errorf("polling device sign-in: %w", err)
	}
	secret, err := openWith(priv, sealed)
	if err != nil {
		return nil, fmt.Errorf("opening the device's token: %w", err)
	}
	grant.Token = string(secret)
	return grant, nil
}

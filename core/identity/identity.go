// Package identity holds the people who sign in to the hub through the
// institution's identity provider, their groups, their browser sessions
// and the device authorizations that hand an editor a personal token. It
// speaks no HTTP: webhooks/console turns OpenID Connect and forms into
// calls here, and everything is kept in core/store (tables identity_*).
//
// Secrets are never stored as such: a session keeps the SHA-256 of its
// cookie, a device authorization the SHA-256 of its device code, and a
// token waiting to be collected is sealed to a key only the device code
// derives.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"timon.dev/timon/core/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Defaults of Options.
const (
	DefaultSessionLifetime  = 12 * time.Hour
	DefaultIdleTimeout      = 2 * time.Hour
	DefaultDeviceLifetime   = 10 * time.Minute
	DefaultDeviceInterval   = 5 * time.Second
	DefaultDeviceTokenLife  = 90 * 24 * time.Hour
	DefaultLoginLifetime    = 10 * time.Minute
	sessionTouchGranularity = time.Minute
)

// Options configure a Service. Each zero value has the meaning its
// comment gives.
type Options struct {
	// Groups maps the identity provider's groups onto policy groups.
	Groups Mapping
	// SessionLifetime bounds a browser session from sign-in; zero means
	// 12 hours.
	SessionLifetime time.Duration
	// IdleTimeout ends a session not used for that long; zero means 2
	// hours.
	IdleTimeout time.Duration
	// DeviceLifetime is how long a device authorization may wait for its
	// decision and collection; zero means 10 minutes.
	DeviceLifetime time.Duration
	// DeviceInterval is the polling interval a device is given; zero
	// means 5 seconds.
	DeviceInterval time.Duration
	// DeviceTokenLifetime is the lifetime of a token handed out to a
	// device; zero means 90 days.
	DeviceTokenLifetime time.Duration
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time
}

// Service is the identity store. It is safe for concurrent use, and any
// number of hub replicas may share its tables.
type Service struct {
	st   *store.Store
	o    Options
	now  func() time.Time
	mapg Mapping
}

// New migrates the identity tables and returns the service. A group
// mapping without a default group is accepted: sign-ins whose groups map to
// nothing are then refused (SignIn says why).
func New(ctx context.Context, st *store.Store, o Options) (*Service, error) {
	if err := st.Migrate(ctx, "identity", migrations); err != nil {
		return nil, err
	}
	if o.SessionLifetime <= 0 {
		o.SessionLifetime = DefaultSessionLifetime
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.DeviceLifetime <= 0 {
		o.DeviceLifetime = DefaultDeviceLifetime
	}
	if o.DeviceInterval <= 0 {
		o.DeviceInterval = DefaultDeviceInterval
	}
	if o.DeviceTokenLifetime <= 0 {
		o.DeviceTokenLifetime = DefaultDeviceTokenLife
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, o: o, now: func() time.Time { return now().UTC().Truncate(time.Microsecond) }, mapg: o.Groups}, nil
}

// Store returns the store the service keeps its tables in.
func (s *Service) Store() *store.Store { return s.st }

// Sweep deletes what has expired: sign-in attempts, device
// authorizations, and sessions ended for more than a day. Several
// replicas may run it at once.
func (s *Service) Sweep(ctx context.Context) error {
	now := store.Micros(s.now())
	day := store.Micros(s.now().Add(-24 * time.Hour))
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM identity_logins WHERE expires_at < ?`, []any{now}},
		{`DELETE FROM identity_devices WHERE expires_at < ?`, []any{now}},
		{`DELETE FROM identity_sessions WHERE expires_at < ? OR (revoked_at > 0 AND revoked_at < ?) OR last_seen_at < ?`,
			[]any{day, day, store.Micros(s.now().Add(-s.o.IdleTimeout - 24*time.Hour))}},
	} {
		if _, err := s.st.Exec(ctx, q.sql, q.args...); err != nil {
			return fmt.Errorf("sweeping expired identity rows: %w", err)
		}
	}
	return nil
}

// randomString returns n random bytes, base64url without padding.
func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func randomID(prefix string) (string, error) {
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b), nil
}

func hashOf(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// errNoRows tells a missing row from a failure.
func notFound(err error) bool { return errors.Is(err, sql.ErrNoRows) }

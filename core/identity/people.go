package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"timon.dev/timon/core/store"
)

// Mapping turns the groups the identity provider asserts into policy
// groups: deny by default, so a person whose provider says nothing known
// gets the default group only.
type Mapping struct {
	// Table maps a value of the groups claim onto one or more policy
	// groups; values not in it are ignored.
	Table map[string][]string
	// Default is the policy group everyone signed in belongs to. Empty:
	// a person none of whose groups maps to anything is refused.
	Default string
	// Admin lists the policy groups whose members are administrators of
	// the console.
	Admin []string
}

// ErrNoGroup refuses a sign-in whose groups map to no policy group when
// no default group is configured.
var ErrNoGroup = errors.New("none of your identity provider's groups gives access to timon, and no default group is configured; ask the administrators to add one of your groups to sign_in.groups or to set sign_in.default_group")

// Map returns the policy groups of the provider's groups (nil when the
// claim was missing), sorted and without duplicates, and whether they make
// an administrator.
func (m Mapping) Map(idpGroups []string) (groups []string, admin bool, err error) {
	for _, g := range idpGroups {
		groups = append(groups, m.Table[g]...)
	}
	if m.Default != "" {
		groups = append(groups, m.Default)
	}
	slices.Sort(groups)
	groups = slices.Compact(groups)
	if len(groups) == 0 {
		return nil, false, ErrNoGroup
	}
	for _, a := range m.Admin {
		if slices.Contains(groups, a) {
			admin = true
		}
	}
	return groups, admin, nil
}

// Claims are what the identity provider asserted about a person, from a
// verified ID token (and the userinfo endpoint).
type Claims struct {
	Issuer, Subject string
	// UserID is the person's id in timon (policy rules, quotas, the
	// journal): the configured claim, an e-mail address by default.
	UserID string
	Name   string
	Email  string
	// Groups are the values of the groups claim; nil when it was missing.
	Groups []string
}

// Person is someone who signed in at least once.
type Person struct {
	// ID is the person's user id in timon, fixed at first sign-in.
	ID              string
	Issuer, Subject string
	Name, Email     string
	// Groups are the policy groups, as mapped at the last sign-in.
	Groups     []string
	Admin      bool
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// ErrUserIDTaken refuses a first sign-in whose user id already belongs to
// another account of the identity provider.
var ErrUserIDTaken = errors.New("this user id already belongs to another account")

// SignIn provisions the person on first sign-in and refreshes their name,
// e-mail and groups on every later one. It refuses a person whose groups
// give no access (ErrNoGroup).
func (s *Service) SignIn(ctx context.Context, c Claims) (*Person, error) {
	if c.Issuer == "" || c.Subject == "" {
		return nil, errors.New("signing in: the identity provider gave no issuer or subject")
	}
	if strings.TrimSpace(c.UserID) == "" {
		return nil, errors.New("signing in: the identity provider gave no user id (see sign_in.user_claim)")
	}
	groups, admin, err := s.mapg.Map(c.Groups)
	if err != nil {
		return nil, err
	}
	gj, _ := json.Marshal(groups)
	now := s.now()
	p := &Person{Issuer: c.Issuer, Subject: c.Subject, Name: c.Name, Email: c.Email, Groups: groups, Admin: admin, LastSeenAt: now}
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		var created int64
		err := tx.QueryRow(ctx, `SELECT id, created_at FROM identity_people WHERE issuer = ? AND subject = ?`, c.Issuer, c.Subject).Scan(&p.ID, &created)
		switch {
		case err == nil:
			p.CreatedAt = store.Time(created)
			_, err = tx.Exec(ctx, `UPDATE identity_people SET name = ?, email = ?, groups_json = ?, admin = ?, last_seen_at = ? WHERE id = ?`,
				c.Name, c.Email, string(gj), boolInt(admin), store.Micros(now), p.ID)
			return err
		case !notFound(err):
			return err
		}
		var other string
		switch err := tx.QueryRow(ctx, `SELECT issuer FROM identity_people WHERE id = ?`, c.UserID).Scan(&other); {
		case err == nil:
			return fmt.Errorf("%q: %w", c.UserID, ErrUserIDTaken)
		case !notFound(err):
			return err
		}
		p.ID, p.CreatedAt = c.UserID, now
		_, err = tx.Exec(ctx, `INSERT INTO identity_people (id, issuer, subject, name, email, groups_json, admin, created_at, last_seen_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, c.Issuer, c.Subject, c.Name, c.Email, string(gj), boolInt(admin), store.Micros(now), store.Micros(now))
		return err
	})
	if err != nil {
		if errors.Is(err, ErrUserIDTaken) || errors.Is(err, ErrNoGroup) {
			return nil, err
		}
		return nil, fmt.Errorf("signing in %s: %w", c.UserID, err)
	}
	return p, nil
}

// Person returns a person by id (ErrNotFound from store when unknown).
func (s *Service) Person(ctx context.Context, id string) (*Person, error) {
	p, err := scanPerson(s.st.QueryRow(ctx, `SELECT `+personColumns+` FROM identity_people WHERE id = ?`, id))
	if notFound(err) {
		return nil, fmt.Errorf("person %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading person %s: %w", id, err)
	}
	return p, nil
}

// People lists everyone who signed in, by id.
func (s *Service) People(ctx context.Context) ([]*Person, error) {
	rows, err := s.st.Query(ctx, `SELECT `+personColumns+` FROM identity_people ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing people: %w", err)
	}
	defer rows.Close()
	var out []*Person
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			return nil, fmt.Errorf("listing people: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

const personColumns = `id, issuer, subject, name, email, groups_json, admin, created_at, last_seen_at`

func scanPerson(row interface{ Scan(...any) error }) (*Person, error) {
	var (
		p              Person
		gj             string
		admin          int
		created, lastS int64
	)
	if err := row.Scan(&p.ID, &p.Issuer, &p.Subject, &p.Name, &p.Email, &gj, &admin, &created, &lastS); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(gj), &p.Groups); err != nil {
		return nil, fmt.Errorf("person %s: bad groups: %w", p.ID, err)
	}
	p.Admin, p.CreatedAt, p.LastSeenAt = admin != 0, store.Time(created), store.Time(lastS)
	return &p, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

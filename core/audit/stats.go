package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"timon.dev/timon/core/store"
)

// Counts adds up entries.
type Counts struct {
	Requests int64 `json:"requests"`
	// Denials are the requests a policy rule refused (outcome denied);
	// Invalid the malformed or oversized ones, refused before policy
	// (outcome invalid), whose entries also say decision "deny".
	Denials    int64            `json:"denials"`
	Invalid    int64            `json:"invalid"`
	TokensIn   int64            `json:"tokens_in"`
	TokensOut  int64            `json:"tokens_out"`
	Redactions map[string]int64 `json:"redactions,omitempty"` // by type
	Outcomes   map[string]int64 `json:"outcomes,omitempty"`   // by outcome
	// Moderation counts the requests whose moderation found a category,
	// keyed as the entries' moderation field writes each finding:
	// direction ("in", "out", "untrusted"), category and decision, e.g.
	// "in:health=warn", "out:selfharm=block", "in:error=block" (the
	// classifier failed). A request counts once per finding however often
	// its moderation recorded it. Absent when nothing was found.
	Moderation map[string]int64 `json:"moderation,omitempty"`
}

func (c *Counts) add(e *Entry) {
	c.Requests++
	switch e.Outcome {
	case OutcomeDenied:
		c.Denials++
	case OutcomeInvalid:
		c.Invalid++
	}
	c.TokensIn += int64(e.TokensIn)
	c.TokensOut += int64(e.TokensOut)
	for k, v := range e.Redactions {
		if c.Redactions == nil {
			c.Redactions = map[string]int64{}
		}
		c.Redactions[k] += int64(v)
	}
	if c.Outcomes == nil {
		c.Outcomes = map[string]int64{}
	}
	c.Outcomes[e.Outcome]++
	findings := strings.Split(e.Moderation, ";")
	for i, f := range findings {
		if f == "" || slices.Contains(findings[:i], f) {
			continue
		}
		if c.Moderation == nil {
			c.Moderation = map[string]int64{}
		}
		c.Moderation[f]++
	}
}

func addTo(m map[string]*Counts, key string, e *Entry) {
	c := m[key]
	if c == nil {
		c = &Counts{}
		m[key] = c
	}
	c.add(e)
}

// Stats adds up the entries matching a filter. An entry counts once in
// each of its user's groups; a user without groups under "".
type Stats struct {
	Total         Counts             `json:"total"`
	ByIntegration map[string]*Counts `json:"by_integration"`
	ByGroup       map[string]*Counts `json:"by_group"`
	ByDay         map[string]*Counts `json:"by_day"` // UTC date, 2006-01-02
}

// StatsFor adds up the entries matching f (f.AfterSeq and f.Limit apply
// too). It reads the journal: an administrator's view, never the request
// path.
func StatsFor(ctx context.Context, st *store.Store, f Filter) (*Stats, error) {
	s := &Stats{ByIntegration: map[string]*Counts{}, ByGroup: map[string]*Counts{}, ByDay: map[string]*Counts{}}
	err := each(ctx, st, f, scan{limit: f.Limit, noPrev: true}, func(e *Entry) error {
		s.Total.add(e)
		addTo(s.ByIntegration, e.Integration, e)
		addTo(s.ByDay, e.Time.Format(time.DateOnly), e)
		if len(e.Groups) == 0 {
			addTo(s.ByGroup, "", e)
		}
		for i, g := range e.Groups {
			if !slices.Contains(e.Groups[:i], g) {
				addTo(s.ByGroup, g, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("journal statistics: %w", err)
	}
	return s, nil
}

// UserUsage is what one user consumed since a time.
type UserUsage struct {
	UserID string    `json:"user_id"`
	Since  time.Time `json:"since"`
	Counts
	ByIntegration map[string]*Counts `json:"by_integration"`
}

// Usage adds up the requests and tokens of one user since a time, for the
// user's own "usage" view. It reads the entries since then through the
// time index and keeps the user's.
func Usage(ctx context.Context, st *store.Store, userID string, since time.Time) (*UserUsage, error) {
	u := &UserUsage{UserID: userID, Since: since, ByIntegration: map[string]*Counts{}}
	err := each(ctx, st, Filter{UserID: userID, Since: since}, scan{noPrev: true}, func(e *Entry) error {
		u.add(e)
		addTo(u.ByIntegration, e.Integration, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("usage of %s: %w", userID, err)
	}
	return u, nil
}

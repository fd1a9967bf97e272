package audit

import (
	"fmt"
	"time"

	"timon.dev/timon/core/config"
)

// WhenForms names the forms ParseWhen accepts, for error messages.
const WhenForms = "a date (2026-01-31), an RFC 3339 time (2026-01-31T08:00:00Z) or a duration ago (7d, 24h, 90m)"

// ParseWhen reads a bound of a journal query as the CLI's --since and
// --until and the admin routes' since and until take it: a date (UTC
// midnight), an RFC 3339 time, or a duration before now (7d, 24h, 90m; see
// config.ParseDuration). "" is the zero time: no bound.
func ParseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := config.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("expected %s, got %q", WhenForms, s)
}

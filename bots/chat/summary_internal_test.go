package chat

import (
	"testing"
	"time"
)

func TestParsePeriod(t *testing.T) {
	now := time.Date(2026, 3, 10, 15, 30, 0, 0, time.UTC)
	yesterday := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	today := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		in    string
		since time.Time
		mine  bool
		ok    bool
	}{
		{"since yesterday", yesterday, false, true},
		{"Depuis hier", yesterday, false, true},
		{"hier", yesterday, false, true},
		{"today", today, false, true},
		{"aujourd'hui", today, false, true},
		{"last 4 h", now.Add(-4 * time.Hour), false, true},
		{"last 4h", now.Add(-4 * time.Hour), false, true},
		{"4h", now.Add(-4 * time.Hour), false, true},
		{"the last 2 days", now.Add(-48 * time.Hour), false, true},
		{"last hour", now.Add(-time.Hour), false, true},
		{"past 30 min", now.Add(-30 * time.Minute), false, true},
		{"dernières 4 h", now.Add(-4 * time.Hour), false, true},
		{"les 3 dernières heures", now.Add(-3 * time.Hour), false, true},
		{"depuis 2 jours", now.Add(-48 * time.Hour), false, true},
		{"since my last message", now.Add(-summaryMineLookback), true, true},
		{"depuis mon dernier message.", now.Add(-summaryMineLookback), true, true},
		{"last 9999 days", now.Add(-summaryMaxPeriod), false, true},
		{"", time.Time{}, false, false},
		{"h", time.Time{}, false, false},
		{"the meeting notes below", time.Time{}, false, false},
		{"4 apples", time.Time{}, false, false},
	}
	for _, c := range cases {
		p, ok := parsePeriod(c.in, now)
		if ok != c.ok || !p.since.Equal(c.since) || p.mine != c.mine {
			t.Errorf("%q: %v %v %v, want %v %v %v", c.in, p.since, p.mine, ok, c.since, c.mine, c.ok)
		}
	}
	for in, want := range map[string]string{"since yesterday public": "since yesterday", "publiquement": "", "depuis hier pour tous": "depuis hier", "the public lab": "the public lab"} {
		got, pub := wantsPublic(in)
		if got != want || pub != (got != in) {
			t.Errorf("wantsPublic(%q) = %q %v", in, got, pub)
		}
	}
}

package audit

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

// Requests refused before policy (malformed) are journaled with decision
// "deny", but they are not denials: only a policy rule denies.
func TestStatsCountOnlyPolicyDenials(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		j := openJournal(t, st, Options{})
		for i := 1; i <= 12; i++ {
			e := sample(i)
			e.Decision, e.Outcome = DecisionDeny, OutcomeInvalid
			if i%4 == 0 {
				e.Outcome = OutcomeDenied
			}
			if err := j.Append(ctx, e, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		s := statsFor(t, st, Filter{})
		if s.Total.Denials != 3 || s.Total.Invalid != 9 || s.Total.Outcomes[OutcomeDenied] != 3 {
			t.Fatalf("12 refusals, 3 by policy: %+v", s.Total)
		}
		u, err := Usage(ctx, st, "user0", sample(0).Time.AddDate(0, 0, -1))
		if err != nil {
			t.Fatal(err)
		}
		if u.Denials+u.Invalid != u.Requests || u.Denials != 1 {
			t.Fatalf("usage of user0: %+v", u.Counts)
		}
	})
}

// Every error kind maps to a recorded outcome.
func TestEveryKindHasAnOutcome(t *testing.T) {
	kinds := []core.Kind{core.KindInvalid, core.KindUnauthenticated, core.KindDenied, core.KindBlocked, core.KindQuota,
		core.KindTooLarge, core.KindUnavailable, core.KindTimeout, core.KindOutputRejected, core.KindNotFound,
		core.KindCanceled, core.KindInternal, core.KindNotImplemented}
	for _, k := range kinds {
		if o := OutcomeFor(k); !slices.Contains(Outcomes, o) {
			t.Errorf("kind %s maps to %q, which an entry may not record", k, o)
		}
	}
	if OutcomeFor(core.KindDenied) != OutcomeDenied || OutcomeFor(core.KindInvalid) != OutcomeInvalid {
		t.Fatal("denied and invalid are not kept apart")
	}
}

// Moderation findings are counted by direction, category and decision,
// once per request, in every breakdown and under the same filter as the
// other counts; with none found the field is left out.
func TestStatsCountModerationFindings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		j := openJournal(t, st, Options{})
		// sample(i): integration lsp, mattermost, gitlab for i%3 = 0, 1,
		// 2; day 1+i%3 of March 2025; user i%3; groups physics, team i%2.
		found := map[int]string{
			1: "in:health=warn;out:health=log",
			2: "out:selfharm=block",
			3: "in:violence_and_threats=block",
			4: "in:health=warn",
			5: "untrusted:jailbreaking=warn;out:selfharm=block;out:selfharm=block", // a stream checked twice
			6: "in:error=block",
			7: "in:error=allow;out:health=log",
		}
		for i := 1; i <= 9; i++ {
			e := sample(i)
			e.Moderation = found[i]
			if err := j.Append(ctx, e, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		s := statsFor(t, st, Filter{})
		want := map[string]int64{
			"in:health=warn": 2, "out:health=log": 2, "out:selfharm=block": 2, "in:violence_and_threats=block": 1,
			"untrusted:jailbreaking=warn": 1, "in:error=block": 1, "in:error=allow": 1,
		}
		if !maps.Equal(s.Total.Moderation, want) {
			t.Fatalf("total moderation %v, want %v", s.Total.Moderation, want)
		}
		// mattermost: i = 1, 4, 7.
		if got, want := s.ByIntegration["mattermost"].Moderation, map[string]int64{"in:health=warn": 2, "out:health=log": 2, "in:error=allow": 1}; !maps.Equal(got, want) {
			t.Fatalf("mattermost moderation %v, want %v", got, want)
		}
		// team1: i = 1, 3, 5, 7, 9.
		if got, want := s.ByGroup["team1"].Moderation, map[string]int64{"in:health=warn": 1, "out:health=log": 2, "in:violence_and_threats=block": 1,
			"untrusted:jailbreaking=warn": 1, "out:selfharm=block": 1, "in:error=allow": 1}; !maps.Equal(got, want) {
			t.Fatalf("team1 moderation %v, want %v", got, want)
		}
		// 2025-03-01: i = 3, 6, 9.
		if got, want := s.ByDay["2025-03-01"].Moderation, map[string]int64{"in:violence_and_threats=block": 1, "in:error=block": 1}; !maps.Equal(got, want) {
			t.Fatalf("2025-03-01 moderation %v, want %v", got, want)
		}

		// The filter and window apply: team0 (i even) from 2025-03-02 is
		// i = 2, 4, 8; i = 6 (2025-03-01) is outside.
		s = statsFor(t, st, Filter{Group: "team0", Since: sample(1).Time.Truncate(24 * time.Hour)})
		if want := map[string]int64{"out:selfharm=block": 1, "in:health=warn": 1}; s.Total.Requests != 3 || !maps.Equal(s.Total.Moderation, want) {
			t.Fatalf("team0 since 2025-03-02: %d requests, moderation %v, want 3 and %v", s.Total.Requests, s.Total.Moderation, want)
		}

		// Nothing found, nothing said: entry 8 alone.
		s = statsFor(t, st, Filter{Since: sample(8).Time, Until: sample(8).Time.Add(time.Second)})
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if s.Total.Requests != 1 || strings.Contains(string(data), "moderation") {
			t.Fatalf("an entry without findings: %s", data)
		}

		// A user's own usage: user1 (i = 1, 4, 7).
		u, err := Usage(ctx, st, "user1", sample(0).Time.AddDate(0, 0, -1))
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int64{"in:health=warn": 2, "out:health=log": 2, "in:error=allow": 1}; !maps.Equal(u.Moderation, want) {
			t.Fatalf("usage of user1: moderation %v, want %v", u.Moderation, want)
		}
	})
}

// statsFor is StatsFor, failing the test on an error.
func statsFor(t *testing.T, st *store.Store, f Filter) *Stats {
	t.Helper()
	s, err := StatsFor(context.Background(), st, f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

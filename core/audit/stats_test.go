package audit

import (
	"context"
	"slices"
	"testing"

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
		s, err := StatsFor(ctx, st, Filter{})
		if err != nil {
			t.Fatal(err)
		}
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

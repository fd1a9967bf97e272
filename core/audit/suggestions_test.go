package audit

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"timon.dev/timon/core"
	"timon.dev/timon/core/metrics"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

func TestSuggestionCounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		s, err := OpenSuggestions(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		// Opening again (another replica) migrates nothing twice.
		if _, err := OpenSuggestions(ctx, st); err != nil {
			t.Fatal(err)
		}
		alice := core.Principal{UserID: "alice", Groups: []string{"physics"}, Integration: core.IntegrationLSP}
		bob := core.Principal{UserID: "bob", Groups: []string{"chemistry"}, Integration: core.IntegrationAPI}
		day1 := time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)
		day2 := day1.Add(2 * time.Minute)
		before := counterValue(t, "lsp", "go")
		add := func(p core.Principal, at time.Time, cs ...core.SuggestionCount) {
			t.Helper()
			if err := s.Add(ctx, p, at, cs); err != nil {
				t.Fatal(err)
			}
		}
		add(alice, day1, core.SuggestionCount{Language: "Go", Shown: 10, Accepted: 3}, core.SuggestionCount{Language: "latex", Shown: 4, Accepted: 1},
			core.SuggestionCount{Language: "go", Shown: 2})
		add(alice, day1, core.SuggestionCount{Language: "go", Shown: 1, Accepted: 1})
		add(alice, day2, core.SuggestionCount{Language: "go", Shown: 5, Accepted: 5})
		add(bob, day2, core.SuggestionCount{Language: "x y <script>", Shown: 2, Accepted: 1})

		if got := counterValue(t, "lsp", "go") - before; got != 9 {
			t.Errorf("timon_suggestions_accepted_total{lsp,go} grew by %v, want 9", got)
		}

		all, err := s.Stats(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if all.Total.Shown != 24 || all.Total.Accepted != 11 {
			t.Errorf("total = %+v, want 24 shown, 11 accepted", all.Total)
		}
		if g := all.ByLanguage["go"]; g == nil || g.Shown != 18 || g.Accepted != 9 || g.AcceptanceRate != 0.5 {
			t.Errorf("go = %+v, want 18 shown, 9 accepted, rate 0.5", g)
		}
		if o := all.ByLanguage["other"]; o == nil || o.Shown != 2 {
			t.Errorf("a language id that is not one is counted under other: %+v", all.ByLanguage)
		}
		if d := all.ByDay["2026-03-01"]; d == nil || d.Shown != 17 || d.Accepted != 5 {
			t.Errorf("2026-03-01 = %+v, want 17 shown, 5 accepted", d)
		}
		if i := all.ByIntegration["api"]; i == nil || i.Shown != 2 {
			t.Errorf("by integration = %+v", all.ByIntegration)
		}

		for name, c := range map[string]struct {
			f             Filter
			shown, accept int64
		}{
			"user":        {Filter{UserID: "alice"}, 22, 10},
			"group":       {Filter{Group: "chemistry"}, 2, 1},
			"integration": {Filter{Integration: "lsp"}, 22, 10},
			"since":       {Filter{Since: day2.Add(time.Hour)}, 7, 6}, // the whole of day 2
			"until":       {Filter{Until: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}, 17, 5},
		} {
			got, err := s.Stats(ctx, c.f)
			if err != nil {
				t.Fatal(err)
			}
			if got.Total.Shown != c.shown || got.Total.Accepted != c.accept {
				t.Errorf("%s: total = %+v, want %d shown, %d accepted", name, got.Total, c.shown, c.accept)
			}
		}

		err = s.Add(ctx, alice, day1, []core.SuggestionCount{{Language: "go", Shown: 1}, {Language: "c", Shown: -1}})
		if core.ErrorKind(err) != core.KindInvalid {
			t.Errorf("a negative count: %v, want an invalid error", err)
		}
		if got, _ := s.Stats(ctx, Filter{}); got.Total.Shown != 24 {
			t.Errorf("a refused batch added something: %+v", got.Total)
		}
	})
}

// counterValue is timon_suggestions_accepted_total{integration, language}.
func counterValue(t *testing.T, integration, language string) float64 {
	t.Helper()
	var m dto.Metric
	if err := metrics.SuggestionsAccepted.WithLabelValues(integration, language).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

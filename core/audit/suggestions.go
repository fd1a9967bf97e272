package audit

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/metrics"
	"timon.dev/timon/core/store"
)

// The counters of suggestions shown and accepted are their own component
// ("suggestions"), apart from the journal's migrations: they are counts,
// not entries, and are not chained.
//
//go:embed suggestion_migrations/*.sql
var suggestionMigrations embed.FS

// maxSuggestionBatch bounds one count of a batch: an editor flushes its
// counts every minute or so.
const maxSuggestionBatch = 1_000_000

// Suggestions keeps the counts of completion suggestions shown and
// accepted, one row a day, user, integration and language: cheap to write
// (one upsert a language per batch) and to add up for /admin/usage. No
// content is ever stored, only counts.
type Suggestions struct {
	st *store.Store
}

// OpenSuggestions migrates the counters' table and returns them.
func OpenSuggestions(ctx context.Context, st *store.Store) (*Suggestions, error) {
	if err := st.Migrate(ctx, "suggestions", suggestionMigrations); err != nil {
		return nil, fmt.Errorf("opening the suggestion counters: %w", err)
	}
	return &Suggestions{st: st}, nil
}

// Add adds counts for p (its user, groups and integration) on the UTC day
// of at, and to the Prometheus counters. Languages are counted under
// core.SuggestionLanguage; a negative or absurd count is refused (kind
// invalid) and nothing of the batch is added.
func (s *Suggestions) Add(ctx context.Context, p core.Principal, at time.Time, counts []core.SuggestionCount) error {
	merged := map[string]*core.SuggestionCount{}
	var langs []string
	for _, c := range counts {
		if c.Shown < 0 || c.Accepted < 0 || c.Shown > maxSuggestionBatch || c.Accepted > maxSuggestionBatch {
			return core.Errorf(core.KindInvalid, "suggestion counts: expected counts between 0 and %d", maxSuggestionBatch)
		}
		lang := core.SuggestionLanguage(c.Language)
		m := merged[lang]
		if m == nil {
			m = &core.SuggestionCount{Language: lang}
			merged[lang] = m
			langs = append(langs, lang)
		}
		m.Shown += c.Shown
		m.Accepted += c.Accepted
	}
	slices.Sort(langs) // one lock order for concurrent batches
	groups, err := json.Marshal(map[string][]string{"groups": nonNil(p.Groups)})
	if err != nil {
		return fmt.Errorf("recording suggestion counts: %w", err)
	}
	y, mo, d := at.UTC().Date()
	day := store.Micros(time.Date(y, mo, d, 0, 0, 0, 0, time.UTC))
	integ := string(p.Integration)
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		for _, lang := range langs {
			m := merged[lang]
			if m.Shown == 0 && m.Accepted == 0 {
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO suggestion_counts AS c (day, user_id, integration, language, groups_json, shown, accepted)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (day, user_id, integration, language) DO UPDATE SET
	shown = c.shown + excluded.shown, accepted = c.accepted + excluded.accepted, groups_json = excluded.groups_json`,
				day, p.UserID, integ, lang, string(groups), m.Shown, m.Accepted); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording suggestion counts: %w", err)
	}
	for _, lang := range langs {
		m := merged[lang]
		metrics.SuggestionsShown.WithLabelValues(integ, lang).Add(float64(m.Shown))
		metrics.SuggestionsAccepted.WithLabelValues(integ, lang).Add(float64(m.Accepted))
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// SuggestionCounts adds up suggestions shown and accepted.
type SuggestionCounts struct {
	Shown    int64 `json:"shown"`
	Accepted int64 `json:"accepted"`
	// AcceptanceRate is Accepted / Shown, 0 when nothing was shown.
	AcceptanceRate float64 `json:"acceptance_rate"`
}

func (c *SuggestionCounts) add(shown, accepted int64) {
	c.Shown += shown
	c.Accepted += accepted
	c.AcceptanceRate = 0
	if c.Shown > 0 {
		c.AcceptanceRate = float64(c.Accepted) / float64(c.Shown)
	}
}

// SuggestionStats adds up the counts of a window.
type SuggestionStats struct {
	Total         SuggestionCounts             `json:"total"`
	ByIntegration map[string]*SuggestionCounts `json:"by_integration"`
	ByLanguage    map[string]*SuggestionCounts `json:"by_language"`
	ByDay         map[string]*SuggestionCounts `json:"by_day"` // UTC date, 2006-01-02
}

// Stats adds up the counts matching f: its user, integration and group,
// and the days its window touches (counts are kept by UTC day, so a
// window starting mid-day counts that whole day). Other fields of f are
// ignored.
func (s *Suggestions) Stats(ctx context.Context, f Filter) (*SuggestionStats, error) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, arg any) {
		conds = append(conds, cond)
		args = append(args, arg)
	}
	if !f.Since.IsZero() {
		y, m, d := f.Since.UTC().Date()
		add(`day >= ?`, store.Micros(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)))
	}
	if !f.Until.IsZero() {
		add(`day < ?`, store.Micros(f.Until))
	}
	if f.UserID != "" {
		add(`user_id = ?`, f.UserID)
	}
	if f.Integration != "" {
		add(`integration = ?`, f.Integration)
	}
	if f.Group != "" {
		add(s.st.Driver().JSONArrayHas("groups_json", "groups"), f.Group)
	}
	q := `SELECT day, integration, language, CAST(SUM(shown) AS BIGINT), CAST(SUM(accepted) AS BIGINT) FROM suggestion_counts`
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, " AND ")
	}
	q += ` GROUP BY day, integration, language`
	rows, err := s.st.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("suggestion statistics: %w", err)
	}
	defer rows.Close()
	out := &SuggestionStats{ByIntegration: map[string]*SuggestionCounts{}, ByLanguage: map[string]*SuggestionCounts{}, ByDay: map[string]*SuggestionCounts{}}
	to := func(m map[string]*SuggestionCounts, k string, shown, accepted int64) {
		c := m[k]
		if c == nil {
			c = &SuggestionCounts{}
			m[k] = c
		}
		c.add(shown, accepted)
	}
	for rows.Next() {
		var (
			day             int64
			integ, lang     string
			shown, accepted int64
		)
		if err := rows.Scan(&day, &integ, &lang, &shown, &accepted); err != nil {
			return nil, fmt.Errorf("suggestion statistics: %w", err)
		}
		out.Total.add(shown, accepted)
		to(out.ByIntegration, integ, shown, accepted)
		to(out.ByLanguage, lang, shown, accepted)
		to(out.ByDay, time.UnixMicro(day).UTC().Format(time.DateOnly), shown, accepted)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("suggestion statistics: %w", err)
	}
	return out, nil
}

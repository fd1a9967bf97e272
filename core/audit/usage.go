package audit

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"timon.dev/timon/core/store"
)

// The reads of the console's pages: plain functions over the usage
// roll-ups (rollup.go), never over the entries, except a person's recent
// requests, read newest first through the index on their user id. Periods
// are whole UTC days: since's day included, until's day excluded (zero:
// no bound).

// Totals is what some requests consumed.
type Totals struct {
	Requests  int64 `json:"requests"`
	TokensIn  int64 `json:"tokens_in"`
	TokensOut int64 `json:"tokens_out"`
	// Denials are the requests a policy rule refused; QuotaRefusals those
	// refused for a quota.
	Denials       int64 `json:"denials"`
	QuotaRefusals int64 `json:"quota_refusals"`
	// Redactions counts what was redacted, all types together (person
	// views only; RedactionsByType has them by type).
	Redactions int64    `json:"redactions,omitempty"`
	Estimate   Estimate `json:"estimate"`
}

func (u *Totals) add(o *Totals) {
	u.Requests += o.Requests
	u.TokensIn += o.TokensIn
	u.TokensOut += o.TokensOut
	u.Denials += o.Denials
	u.QuotaRefusals += o.QuotaRefusals
	u.Redactions += o.Redactions
	u.Estimate.Add(o.Estimate)
}

// dayRange is the condition and arguments of a period on column col.
func dayRange(col string, since, until time.Time) (string, []any) {
	var (
		conds []string
		args  []any
	)
	if !since.IsZero() {
		conds, args = append(conds, col+" >= ?"), append(args, dayStart(since).UnixMicro())
	}
	if !until.IsZero() {
		conds, args = append(conds, col+" < ?"), append(args, dayStart(until).UnixMicro())
	}
	if len(conds) == 0 {
		return "1 = 1", nil
	}
	return strings.Join(conds, " AND "), args
}

// PersonUsage is one person's usage, for their own page.
type PersonUsage struct {
	UserID string `json:"user_id"`
	// Today and Month are the UTC day and month of the time asked about.
	Today Totals `json:"today"`
	Month Totals `json:"month"`
	// ByIntegration and ByModel are this month's.
	ByIntegration map[string]*Totals `json:"by_integration"`
	ByModel       map[string]*Totals `json:"by_model"`
}

// UsageOf returns the usage of person userID on the UTC day and month of
// now. The quota limits are elsewhere (quota.Quota.Usage gives the used
// and the limit of each budget as the quota counts them).
func UsageOf(ctx context.Context, st *store.Store, userID string, now time.Time, x *Estimator) (*PersonUsage, error) {
	if userID == "" {
		return nil, errors.New("reading usage: no user")
	}
	day, month := dayStart(now).UnixMicro(), monthStart(now)
	rows, err := st.Query(ctx, `SELECT day_us, integration, model, requests, tokens_in, tokens_out, denials, quota_refusals, redactions
		FROM audit_usage_users WHERE user_id = ? AND day_us >= ? AND day_us < ?`,
		userID, month.UnixMicro(), month.AddDate(0, 1, 0).UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("reading the usage of %s: %w", userID, err)
	}
	defer rows.Close()
	p := &PersonUsage{UserID: userID, ByIntegration: map[string]*Totals{}, ByModel: map[string]*Totals{}}
	for rows.Next() {
		var (
			d                  int64
			integration, model string
			u                  Totals
		)
		if err := rows.Scan(&d, &integration, &model, &u.Requests, &u.TokensIn, &u.TokensOut, &u.Denials, &u.QuotaRefusals, &u.Redactions); err != nil {
			return nil, fmt.Errorf("reading the usage of %s: %w", userID, err)
		}
		u.Estimate = x.Of(model, u.TokensIn, u.TokensOut)
		p.Month.add(&u)
		if d == day {
			p.Today.add(&u)
		}
		addUsage(p.ByIntegration, integration, &u)
		addUsage(p.ByModel, model, &u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the usage of %s: %w", userID, err)
	}
	return p, nil
}

func addUsage(m map[string]*Totals, k string, u *Totals) {
	c := m[k]
	if c == nil {
		c = &Totals{}
		m[k] = c
	}
	c.add(u)
}

// Request is one of a person's requests, as their page shows it.
type Request struct {
	Seq         int64          `json:"seq"`
	Time        time.Time      `json:"time"`
	RequestID   string         `json:"request_id"`
	Integration string         `json:"integration,omitempty"`
	Task        string         `json:"task,omitempty"`
	Provider    string         `json:"provider,omitempty"`
	Model       string         `json:"model,omitempty"`
	Outcome     string         `json:"outcome"`
	Error       string         `json:"error,omitempty"`
	Rule        string         `json:"rule,omitempty"`
	Redactions  map[string]int `json:"redactions,omitempty"`
	Moderation  string         `json:"moderation,omitempty"`
	TokensIn    int            `json:"tokens_in"`
	TokensOut   int            `json:"tokens_out"`
	LatencyMS   int64          `json:"latency_ms"`
	Estimate    Estimate       `json:"estimate"`
	// ContentLevel is what the journal kept: none, hashes or full.
	ContentLevel string `json:"content_level"`
	// Content is, when the journal kept it (content level full, not yet
	// deleted by retention) and RequestsQuery.ContentKey opens it, the
	// prompt as the model received it — redacted, placeholders standing
	// for what was found — and the answer as the model returned it.
	Content *Content `json:"content,omitempty"`
	// ContentNote says what Content is, or why there is none.
	ContentNote string `json:"content_note"`
}

// RequestsQuery pages through a person's requests, newest first.
type RequestsQuery struct {
	// BeforeSeq: requests with a smaller seq (the last one's Seq, for the
	// next page); 0: the newest.
	BeforeSeq int64
	// Limit: 0 means 20, at most 100.
	Limit int
	// ContentKey, if set, opens the content the journal kept; HashKeys are
	// the content-hash keys it is checked against (the journal's and
	// earlier ones).
	ContentKey []byte
	HashKeys   [][]byte
}

// RequestsOf returns person userID's requests, newest first, never
// another's. A person reading their own requests, content included, is
// not journaled: they read what they sent themselves. An administrator
// reading someone's content goes through Journal.Read, which journals it.
func RequestsOf(ctx context.Context, st *store.Store, userID string, q RequestsQuery, x *Estimator) ([]Request, error) {
	if userID == "" {
		return nil, errors.New("reading requests: no user")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 20
	}
	limit = min(limit, 100)
	query := `SELECT e.seq, e.time_us, e.data, c.key_id, c.sealed FROM audit_entries e LEFT JOIN audit_content c ON c.seq = e.seq
		WHERE ` + jsonField(st, "user_id") + ` = ?`
	args := []any{userID}
	if q.BeforeSeq > 0 {
		query += ` AND e.seq < ?`
		args = append(args, q.BeforeSeq)
	}
	query += ` ORDER BY e.seq DESC LIMIT ?`
	args = append(args, limit)
	rows, err := st.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the requests of %s: %w", userID, err)
	}
	defer rows.Close()
	var out []Request
	for rows.Next() {
		var (
			seq, us int64
			data    []byte
			keyID   sql.NullString
			sealed  []byte
		)
		if err := rows.Scan(&seq, &us, &data, &keyID, &sealed); err != nil {
			return nil, fmt.Errorf("reading the requests of %s: %w", userID, err)
		}
		e, err := decode(seq, us, data, "", "")
		if err != nil {
			return nil, err
		}
		if e.UserID != userID {
			return nil, fmt.Errorf("reading the requests of %s: entry %d is another user's", userID, seq)
		}
		r := Request{Seq: e.Seq, Time: e.Time, RequestID: e.RequestID, Integration: e.Integration, Task: e.Task,
			Provider: e.Provider, Model: e.Model, Outcome: e.Outcome, Error: e.Error, Rule: e.Rule, Redactions: e.Redactions,
			Moderation: e.Moderation, TokensIn: e.TokensIn, TokensOut: e.TokensOut, LatencyMS: e.LatencyMS,
			Estimate: x.Of(e.Model, int64(e.TokensIn), int64(e.TokensOut)), ContentLevel: e.ContentLevel}
		r.Content, r.ContentNote = ownContent(&e, keyID, sealed, q.ContentKey, q.HashKeys)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the requests of %s: %w", userID, err)
	}
	return out, nil
}

// ownContent opens the content kept of e, as ReadContent does.
func ownContent(e *Entry, keyID sql.NullString, sealed, key []byte, hashKeys [][]byte) (*Content, string) {
	switch {
	case e.ContentLevel != LevelFull:
		return nil, "content not kept: policy content: " + e.ContentLevel
	case !keyID.Valid:
		return nil, noteNoContent
	case key == nil:
		return nil, noteNoKey
	case keyID.String != ContentKeyID(key):
		return nil, "kept (content: full) but encrypted with key " + keyID.String + ", not this hub's"
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, "kept (content: full) but not readable: " + err.Error()
	}
	c, err := open(aead, e.RequestID, e.SentHash, e.ReturnedHash, sealed)
	if err != nil {
		return nil, "kept (content: full) but not readable: " + err.Error()
	}
	sent, ok := contentHash(e.HashKey, hashKeys, c.Sent)
	returned, _ := contentHash(e.HashKey, hashKeys, c.Returned)
	if !ok || sent != e.SentHash || returned != e.ReturnedHash {
		return nil, "kept (content: full) but it does not match the hashes its entry records"
	}
	return c, noteRedacted
}

// DayUsage is the usage of one UTC day.
type DayUsage struct {
	Day time.Time `json:"day"`
	Totals
}

// UsageByDay returns the usage of every day of the period that has some,
// in day order.
func UsageByDay(ctx context.Context, st *store.Store, since, until time.Time, x *Estimator) ([]DayUsage, error) {
	byDay := map[int64]*Totals{}
	err := eachDaily(ctx, st, since, until, "day_us", func(day int64, key string, model string, u *Totals) {
		addUsageI(byDay, day, u)
	}, x)
	if err != nil {
		return nil, err
	}
	out := make([]DayUsage, 0, len(byDay))
	for d, u := range byDay {
		out = append(out, DayUsage{Day: store.Time(d), Totals: *u})
	}
	slices.SortFunc(out, func(a, b DayUsage) int { return a.Day.Compare(b.Day) })
	return out, nil
}

func addUsageI(m map[int64]*Totals, k int64, u *Totals) {
	c := m[k]
	if c == nil {
		c = &Totals{}
		m[k] = c
	}
	c.add(u)
}

// eachDaily adds up audit_usage_daily over the period by day, model and
// the column dim, and calls fn with each sum.
func eachDaily(ctx context.Context, st *store.Store, since, until time.Time, dim string, fn func(day int64, key, model string, u *Totals), x *Estimator) error {
	where, args := dayRange("day_us", since, until)
	group := "day_us, model"
	if dim != "day_us" {
		group = dim + ", model"
	}
	sel := dim
	if dim == "day_us" {
		sel = "''"
	}
	dayCol := "0"
	if dim == "day_us" {
		dayCol = "day_us"
	}
	rows, err := st.Query(ctx, `SELECT `+dayCol+`, `+sel+`, model, CAST(SUM(requests) AS BIGINT), CAST(SUM(tokens_in) AS BIGINT), CAST(SUM(tokens_out) AS BIGINT),
		CAST(SUM(denials) AS BIGINT), CAST(SUM(quota_refusals) AS BIGINT)
		FROM audit_usage_daily WHERE `+where+` GROUP BY `+group, args...)
	if err != nil {
		return fmt.Errorf("reading usage by %s: %w", dim, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			day        int64
			key, model string
			u          Totals
		)
		if err := rows.Scan(&day, &key, &model, &u.Requests, &u.TokensIn, &u.TokensOut, &u.Denials, &u.QuotaRefusals); err != nil {
			return fmt.Errorf("reading usage by %s: %w", dim, err)
		}
		u.Estimate = x.Of(model, u.TokensIn, u.TokensOut)
		fn(day, key, model, &u)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading usage by %s: %w", dim, err)
	}
	return nil
}

// Dimension is what UsageBy breaks usage down by.
type Dimension string

// Dimensions.
const (
	ByIntegration Dimension = "integration"
	ByModel       Dimension = "model"
	ByProvider    Dimension = "provider"
	// ByGroup counts a request once in each of its user's groups (under
	// "" without any), as StatsFor does; its Denials and QuotaRefusals
	// are not kept (zero).
	ByGroup Dimension = "group"
	// ByTask and ByOutcome have requests and tokens, not by model: their
	// Estimate is empty, and their Denials and QuotaRefusals zero (the
	// outcomes say them).
	ByTask    Dimension = "task"
	ByOutcome Dimension = "outcome"
)

// KeyUsage is the usage of one value of a dimension.
type KeyUsage struct {
	Key string `json:"key"`
	Totals
}

// UsageBy returns the usage over the period by dim, most tokens first.
func UsageBy(ctx context.Context, st *store.Store, dim Dimension, since, until time.Time, x *Estimator) ([]KeyUsage, error) {
	by := map[string]*Totals{}
	switch dim {
	case ByIntegration, ByModel, ByProvider:
		err := eachDaily(ctx, st, since, until, string(dim), func(_ int64, key, model string, u *Totals) {
			addUsage(by, key, u)
		}, x)
		if err != nil {
			return nil, err
		}
	case ByGroup:
		where, args := dayRange("day_us", since, until)
		rows, err := st.Query(ctx, `SELECT grp, model, CAST(SUM(requests) AS BIGINT), CAST(SUM(tokens_in) AS BIGINT), CAST(SUM(tokens_out) AS BIGINT)
			FROM audit_usage_groups WHERE `+where+` GROUP BY grp, model`, args...)
		if err != nil {
			return nil, fmt.Errorf("reading usage by group: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				g, model string
				u        Totals
			)
			if err := rows.Scan(&g, &model, &u.Requests, &u.TokensIn, &u.TokensOut); err != nil {
				return nil, fmt.Errorf("reading usage by group: %w", err)
			}
			u.Estimate = x.Of(model, u.TokensIn, u.TokensOut)
			addUsage(by, g, &u)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("reading usage by group: %w", err)
		}
	case ByTask, ByOutcome:
		kind := countTask
		if dim == ByOutcome {
			kind = countOutcome
		}
		where, args := dayRange("day_us", since, until)
		rows, err := st.Query(ctx, `SELECT name, CAST(SUM(n) AS BIGINT), CAST(SUM(tokens_in) AS BIGINT), CAST(SUM(tokens_out) AS BIGINT)
			FROM audit_usage_counts WHERE kind = ? AND `+where+` GROUP BY name`, append([]any{kind}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("reading usage by %s: %w", dim, err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				k string
				u Totals
			)
			if err := rows.Scan(&k, &u.Requests, &u.TokensIn, &u.TokensOut); err != nil {
				return nil, fmt.Errorf("reading usage by %s: %w", dim, err)
			}
			addUsage(by, k, &u)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("reading usage by %s: %w", dim, err)
		}
	default:
		return nil, fmt.Errorf("reading usage: unknown dimension %q", dim)
	}
	out := make([]KeyUsage, 0, len(by))
	for k, u := range by {
		out = append(out, KeyUsage{Key: k, Totals: *u})
	}
	slices.SortFunc(out, func(a, b KeyUsage) int {
		return cmp.Or(cmp.Compare(b.TokensIn+b.TokensOut, a.TokensIn+a.TokensOut), cmp.Compare(b.Requests, a.Requests), strings.Compare(a.Key, b.Key))
	})
	return out, nil
}

// Consumer is one person's usage in a month.
type Consumer struct {
	UserID string `json:"user_id"`
	Totals
}

// Orders of TopConsumers.
const (
	ByTokens        = "tokens"
	ByQuotaRefusals = "quota_refusals"
)

// TopConsumers returns the n people (at most 1000) who used the most
// tokens (in and out) in the UTC month of month, or who were refused for a
// quota most often (order ByQuotaRefusals; only people refused at least
// once). Both read an index from its end, whatever the number of people.
func TopConsumers(ctx context.Context, st *store.Store, month time.Time, n int, order string, x *Estimator) ([]Consumer, error) {
	var cond, by string
	switch order {
	case ByTokens, "":
		order, by = ByTokens, "tokens"
	case ByQuotaRefusals:
		cond, by = " AND quota_refusals > 0", "quota_refusals"
	default:
		return nil, fmt.Errorf("reading top consumers: unknown order %q", order)
	}
	n = max(1, min(n, 1000))
	m := monthStart(month)
	rows, err := st.Query(ctx, `SELECT user_id, requests, tokens_in, tokens_out, denials, quota_refusals
		FROM audit_usage_monthly WHERE month_us = ?`+cond+` ORDER BY `+by+` DESC LIMIT ?`, m.UnixMicro(), n)
	if err != nil {
		return nil, fmt.Errorf("reading top consumers: %w", err)
	}
	defer rows.Close()
	var (
		out    []Consumer
		byUser = map[string]int{}
	)
	for rows.Next() {
		var c Consumer
		if err := rows.Scan(&c.UserID, &c.Requests, &c.TokensIn, &c.TokensOut, &c.Denials, &c.QuotaRefusals); err != nil {
			return nil, fmt.Errorf("reading top consumers: %w", err)
		}
		byUser[c.UserID] = len(out)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading top consumers: %w", err)
	}
	rows.Close()
	if len(out) > 0 {
		// Their tokens by model, for the estimates: the days of the month
		// of these people only.
		ids := make([]any, 0, len(out)+2)
		for _, c := range out {
			ids = append(ids, c.UserID)
		}
		ids = append(ids, m.UnixMicro(), m.AddDate(0, 1, 0).UnixMicro())
		rows, err := st.Query(ctx, `SELECT user_id, model, CAST(SUM(tokens_in) AS BIGINT), CAST(SUM(tokens_out) AS BIGINT)
			FROM audit_usage_users WHERE user_id IN (?`+strings.Repeat(", ?", len(out)-1)+`) AND day_us >= ? AND day_us < ?
			GROUP BY user_id, model`, ids...)
		if err != nil {
			return nil, fmt.Errorf("reading top consumers' models: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				user, model string
				in, tokOut  int64
			)
			if err := rows.Scan(&user, &model, &in, &tokOut); err != nil {
				return nil, fmt.Errorf("reading top consumers' models: %w", err)
			}
			if i, ok := byUser[user]; ok {
				out[i].Estimate.Add(x.Of(model, in, tokOut))
			}
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("reading top consumers' models: %w", err)
		}
	}
	key := func(c *Consumer) int64 {
		if order == ByQuotaRefusals {
			return c.QuotaRefusals
		}
		return c.TokensIn + c.TokensOut
	}
	slices.SortFunc(out, func(a, b Consumer) int {
		return cmp.Or(cmp.Compare(key(&b), key(&a)), strings.Compare(a.UserID, b.UserID))
	})
	return out, nil
}

// Count is a number of something named.
type Count struct {
	Key string `json:"key"`
	N   int64  `json:"n"`
}

func counts(ctx context.Context, st *store.Store, kind string, since, until time.Time) ([]Count, error) {
	where, args := dayRange("day_us", since, until)
	rows, err := st.Query(ctx, `SELECT name, CAST(SUM(n) AS BIGINT) FROM audit_usage_counts WHERE kind = ? AND `+where+
		` GROUP BY name ORDER BY CAST(SUM(n) AS BIGINT) DESC, name`, append([]any{kind}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("reading %s counts: %w", kind, err)
	}
	defer rows.Close()
	var out []Count
	for rows.Next() {
		var c Count
		if err := rows.Scan(&c.Key, &c.N); err != nil {
			return nil, fmt.Errorf("reading %s counts: %w", kind, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading %s counts: %w", kind, err)
	}
	return out, nil
}

// RedactionsByType returns, over the period, how many of each type of
// finding were redacted, most first.
func RedactionsByType(ctx context.Context, st *store.Store, since, until time.Time) ([]Count, error) {
	return counts(ctx, st, countRedaction, since, until)
}

// DenialsByRule returns, over the period, how many requests each policy
// rule denied, most first ("" for requests denied by no rule matching).
func DenialsByRule(ctx context.Context, st *store.Store, since, until time.Time) ([]Count, error) {
	return counts(ctx, st, countDenial, since, until)
}

// Finding is a moderation finding and the requests it was found in.
type Finding struct {
	// Direction is "in" (what was sent), "out" (the answer) or
	// "untrusted" (material read); Category the classifier's category
	// ("error" when it failed); Action what the rule did (block, warn,
	// log, allow).
	Direction string `json:"direction"`
	Category  string `json:"category"`
	Action    string `json:"action"`
	N         int64  `json:"n"`
}

// ModerationFindings returns, over the period, the requests each
// moderation finding was found in, most first.
func ModerationFindings(ctx context.Context, st *store.Store, since, until time.Time) ([]Finding, error) {
	cs, err := counts(ctx, st, countFinding, since, until)
	if err != nil {
		return nil, err
	}
	out := make([]Finding, len(cs))
	for i, c := range cs {
		dir, rest, _ := strings.Cut(c.Key, ":")
		cat, act, _ := strings.Cut(rest, "=")
		out[i] = Finding{Direction: dir, Category: cat, Action: act, N: c.N}
	}
	return out, nil
}

// Refusals are the requests refused for a quota over a period.
type Refusals struct {
	Total         int64      `json:"total"`
	ByDay         []DayCount `json:"by_day"`
	ByIntegration []Count    `json:"by_integration"`
}

// DayCount is a number on a UTC day.
type DayCount struct {
	Day time.Time `json:"day"`
	N   int64     `json:"n"`
}

// QuotaRefusals returns the requests refused for a quota over the period,
// by day and by integration. TopConsumers with ByQuotaRefusals gives the
// people refused most.
func QuotaRefusals(ctx context.Context, st *store.Store, since, until time.Time) (*Refusals, error) {
	where, args := dayRange("day_us", since, until)
	rows, err := st.Query(ctx, `SELECT day_us, integration, CAST(SUM(quota_refusals) AS BIGINT) FROM audit_usage_daily
		WHERE quota_refusals > 0 AND `+where+` GROUP BY day_us, integration`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading quota refusals: %w", err)
	}
	defer rows.Close()
	byDay, byInt := map[int64]int64{}, map[string]int64{}
	r := &Refusals{}
	for rows.Next() {
		var (
			day, n int64
			integ  string
		)
		if err := rows.Scan(&day, &integ, &n); err != nil {
			return nil, fmt.Errorf("reading quota refusals: %w", err)
		}
		r.Total += n
		byDay[day] += n
		byInt[integ] += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading quota refusals: %w", err)
	}
	for d, n := range byDay {
		r.ByDay = append(r.ByDay, DayCount{Day: store.Time(d), N: n})
	}
	slices.SortFunc(r.ByDay, func(a, b DayCount) int { return a.Day.Compare(b.Day) })
	for k, n := range byInt {
		r.ByIntegration = append(r.ByIntegration, Count{Key: k, N: n})
	}
	slices.SortFunc(r.ByIntegration, func(a, b Count) int { return cmp.Or(cmp.Compare(b.N, a.N), strings.Compare(a.Key, b.Key)) })
	return r, nil
}

// ModelHealth is how a model answered over a period, from the journal.
type ModelHealth struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	// Requests are those routed to the model; Answered those it answered
	// (outcome ok); ProviderErrors those it failed, refused or timed out.
	Requests       int64   `json:"requests"`
	Answered       int64   `json:"answered"`
	ProviderErrors int64   `json:"provider_errors"`
	ErrorRate      float64 `json:"error_rate"` // ProviderErrors / Requests
	// Latencies of the answered requests, in milliseconds: the mean, and
	// the median and 95th percentile estimated from the histogram's
	// buckets (within a bucket, linearly; from 60 s up, 60 s).
	MeanMS int64 `json:"mean_ms"`
	P50MS  int64 `json:"p50_ms"`
	P95MS  int64 `json:"p95_ms"`
}

// ModelsHealth returns, for each provider and model requests were routed
// to over the period, their outcomes and latencies. Whether a provider
// answers now is the hub's readiness check (/readyz), not the journal's.
func ModelsHealth(ctx context.Context, st *store.Store, since, until time.Time) ([]ModelHealth, error) {
	where, args := dayRange("day_us", since, until)
	lat := latencyColumns()
	sums := make([]string, len(lat))
	for i, c := range lat {
		sums[i] = "CAST(SUM(" + c + ") AS BIGINT)"
	}
	rows, err := st.Query(ctx, `SELECT provider, model, CAST(SUM(requests) AS BIGINT), CAST(SUM(answered) AS BIGINT),
		CAST(SUM(provider_errors) AS BIGINT), CAST(SUM(latency_ms) AS BIGINT), `+strings.Join(sums, ", ")+`
		FROM audit_usage_daily WHERE model <> '' AND `+where+` GROUP BY provider, model ORDER BY provider, model`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading models' health: %w", err)
	}
	defer rows.Close()
	var out []ModelHealth
	for rows.Next() {
		var (
			h     ModelHealth
			total int64
			hist  [latencyBuckets]int64
		)
		dest := []any{&h.Provider, &h.Model, &h.Requests, &h.Answered, &h.ProviderErrors, &total}
		for i := range hist {
			dest = append(dest, &hist[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("reading models' health: %w", err)
		}
		if h.Requests > 0 {
			h.ErrorRate = float64(h.ProviderErrors) / float64(h.Requests)
		}
		if h.Answered > 0 {
			h.MeanMS = total / h.Answered
		}
		h.P50MS, h.P95MS = percentile(hist[:], 0.50), percentile(hist[:], 0.95)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading models' health: %w", err)
	}
	return out, nil
}

// percentile estimates the q-quantile of a latency histogram: the bucket
// where it falls, linearly within it.
func percentile(hist []int64, q float64) int64 {
	var n int64
	for _, c := range hist {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	var cum int64
	for i, c := range hist {
		if c == 0 || float64(cum+c) < rank {
			cum += c
			continue
		}
		if i == len(latencyBounds) {
			return latencyBounds[i-1]
		}
		lo := int64(0)
		if i > 0 {
			lo = latencyBounds[i-1]
		}
		frac := (rank - float64(cum)) / float64(c)
		return lo + int64(frac*float64(latencyBounds[i]-lo))
	}
	return latencyBounds[len(latencyBounds)-1]
}

// JournalSummary is the state of the journal at a glance.
type JournalSummary struct {
	Entries   int64     `json:"entries"` // the last seq: entries are numbered 1..n without gaps
	LastEntry time.Time `json:"last_entry"`
	// Checkpoint is the latest checkpoint (nil: none yet); CheckpointOK
	// whether it is signed by a trusted key, in its period, and names the
	// hash its entry has; CheckpointProblem says what is wrong otherwise.
	Checkpoint        *Checkpoint `json:"checkpoint,omitempty"`
	CheckpointOK      bool        `json:"checkpoint_ok"`
	CheckpointProblem string      `json:"checkpoint_problem,omitempty"`
	// SinceCheckpoint is the number of entries after it.
	SinceCheckpoint int64 `json:"since_checkpoint"`
	// PublicKey is the PEM of the key that signed it, to verify the
	// journal elsewhere (timon audit verify --public-key).
	PublicKey string `json:"public_key,omitempty"`
}

// Summarize returns the journal's state: its size and its latest
// checkpoint checked against keys and the chain. A verification of the
// whole chain (Verify) reads every entry; run it in the background (timon
// audit verify, or a job) and show its Report beside this.
func Summarize(ctx context.Context, st *store.Store, keys *KeySet) (*JournalSummary, error) {
	s := &JournalSummary{}
	var last int64
	err := st.QueryRow(ctx, `SELECT seq, time_us FROM audit_entries ORDER BY seq DESC LIMIT 1`).Scan(&s.Entries, &last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("summarizing the journal: %w", err)
	}
	s.LastEntry = store.Time(last)
	var (
		c       Checkpoint
		us      int64
		hash    sql.NullString
		checked = true
	)
	err = st.QueryRow(ctx, `SELECT c.seq, c.hash, c.time_us, c.key_id, c.signature, e.hash
		FROM audit_checkpoints c LEFT JOIN audit_entries e ON e.seq = c.seq ORDER BY c.seq DESC LIMIT 1`).
		Scan(&c.Seq, &c.Hash, &us, &c.KeyID, &c.Signature, &hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		checked = false
	case err != nil:
		return nil, fmt.Errorf("summarizing the journal: %w", err)
	}
	if !checked {
		s.SinceCheckpoint = s.Entries
		return s, nil
	}
	c.Time = time.UnixMicro(us).UTC()
	s.Checkpoint, s.SinceCheckpoint = &c, s.Entries-c.Seq
	switch {
	case !hash.Valid:
		s.CheckpointProblem = fmt.Sprintf("the checkpoint names entry %d, which the journal does not hold", c.Seq)
	case hash.String != c.Hash:
		s.CheckpointProblem = fmt.Sprintf("entry %d does not have the hash its checkpoint signed: altered", c.Seq)
	case keys == nil || len(keys.Keys) == 0:
		s.CheckpointProblem = "no trusted public key to check the signature with"
	default:
		kid, problem := checkSignature(&c, keys)
		s.CheckpointProblem = problem
		if k := keys.Lookup(kid); k != nil {
			if pem, err := PublicKeyPEM(k.Public); err == nil {
				s.PublicKey = string(pem)
			}
		}
	}
	s.CheckpointOK = s.CheckpointProblem == ""
	return s, nil
}

package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/DataDog/datadog-agent/pkg/template/html"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/quota"
	"timon.dev/timon/core/store"
)

//go:embed sections/*.html
var sectionFS embed.FS

// Reads are what the sections of My timon and the admin pages read: the
// usage roll-ups and the journal (core/audit), the quota's budgets and
// counters, the estimates of cost and energy.
type Reads struct {
	Store *store.Store
	// Journal is the hub's journal: the admin journal's entry detail reads
	// content through Journal.Read, which journals the reading. Nil: no
	// content is shown there.
	Journal *audit.Journal
	// Quota and Subjects give a person's budgets as the engine counts
	// them (the same subjects, the same counters); either nil: no budget
	// is shown.
	Quota    *quota.Quota
	Subjects func(core.Principal) []quota.Subject
	// Estimator estimates cost and energy; nil estimates nothing.
	Estimator *audit.Estimator
	// ContentKey opens the content the journal kept, for a person's own
	// requests; HashKeys check it (the journal's hash key, and earlier
	// ones). Nil ContentKey: "what left" is not shown.
	ContentKey []byte
	HashKeys   [][]byte
	// Keys are the trusted public keys the latest checkpoint is checked
	// with on the journal page.
	Keys *audit.KeySet
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (rd *Reads) now() time.Time {
	if rd.Now != nil {
		return rd.Now().UTC()
	}
	return time.Now().UTC()
}

// MineSections are the sections of My timon built on rd: the person's
// usage against their quotas, and their recent requests.
func MineSections(rd *Reads) []Section {
	return []Section{
		&readSection{id: "usage", title: "usage.title", tmpl: "mine_usage", data: rd.mineUsage},
		&readSection{id: "requests", title: "requests.title", tmpl: "mine_requests", data: rd.mineRequests},
	}
}

// AdminSections are the pages of the admin console built on rd: usage,
// top consumers, governance, providers, the journal, costs and energy.
func AdminSections(rd *Reads) []Section {
	return []Section{
		&readSection{id: "usage", title: "ausage.title", tmpl: "admin_usage", data: rd.adminUsage},
		&readSection{id: "top", title: "top.title", tmpl: "admin_top", data: rd.adminTop},
		&readSection{id: "governance", title: "gov.title", tmpl: "admin_governance", data: rd.adminGovernance},
		&readSection{id: "providers", title: "prov.title", tmpl: "admin_providers", data: rd.adminProviders},
		&readSection{id: "journal", title: "journal.title", tmpl: "admin_journal", data: rd.adminJournal},
		&readSection{id: "costs", title: "costs.title", tmpl: "admin_costs", data: rd.adminCosts},
	}
}

// readSection is a Section rendered from one template of sections/ with the
// data its function reads.
type readSection struct {
	id, title, tmpl string
	data            func(ctx context.Context, v Viewer, q url.Values) (any, error)
}

func (s *readSection) ID() string { return s.id }

func (s *readSection) Title(lang string) string { return sectionCatalogue(lang).t(s.title) }

// sectionView is what a section's template receives.
type sectionView struct {
	L    catalogue
	Lang string
	ID   string
	Data any
}

func (s *readSection) Render(ctx context.Context, v Viewer, q url.Values) (template.HTML, error) {
	d, err := s.data(ctx, v, q)
	if err != nil {
		return "", err
	}
	t, err := sectionTemplates()
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, s.tmpl, &sectionView{L: sectionCatalogue(v.Lang), Lang: v.Lang, ID: s.id, Data: d}); err != nil {
		return "", fmt.Errorf("rendering section %s: %w", s.id, err)
	}
	return template.HTML(buf.String()), nil
}

var (
	sectionCats = sync.OnceValues(loadCatalogues)
	sectionTmpl = sync.OnceValues(parseSections)
)

func sectionCatalogue(lang string) catalogue {
	cats, err := sectionCats()
	if err != nil {
		return catalogue{}
	}
	if c, ok := cats[lang]; ok {
		return c
	}
	return cats[Languages[0]]
}

func sectionTemplates() (*template.Template, error) { return sectionTmpl() }

func parseSections() (*template.Template, error) {
	names, err := fs.Glob(sectionFS, "sections/*.html")
	if err != nil {
		return nil, err
	}
	t := template.New("sections").Funcs(sectionFuncs)
	for _, n := range names {
		b, err := fs.ReadFile(sectionFS, n)
		if err != nil {
			return nil, err
		}
		if _, err := t.New(strings.TrimSuffix(strings.TrimPrefix(n, "sections/"), ".html")).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", n, err)
		}
	}
	return t, nil
}

// sectionFuncs are the template functions of the sections: no method of
// any value is ever called from a template.
var sectionFuncs = template.FuncMap{
	"t":    func(l catalogue, key string, args ...any) string { return l.t(key, args...) },
	"num":  formatInt,
	"date": formatTime,
	"day":  func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"limit": func(n int) string {
		if n <= 0 {
			return "—"
		}
		return formatInt(int64(n))
	},
	"cost":   formatCost,
	"wh":     formatWh,
	"pct":    func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + " %" },
	"kinds":  formatKinds,
	"add":    func(a, b int) int { return a + b },
	"add64":  func(a, b int64) int64 { return a + b },
	"tokens": func(in, out int) int64 { return int64(in) + int64(out) },
	"join":   strings.Join,
	"usageTable": func(l catalogue, id, caption, head string, rows []audit.KeyUsage) map[string]any {
		return map[string]any{"L": l, "ID": id, "Caption": caption, "Head": head, "Rows": rows}
	},
	"counts": func(l catalogue, id, caption, head string, rows []audit.Count) map[string]any {
		return map[string]any{"L": l, "ID": id, "Caption": caption, "Head": head, "Rows": rows}
	},
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// formatInt writes n with thin spaces between thousands (readable in both
// languages).
func formatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteRune('\u202f')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatCost writes an estimated cost, by currency; "—" without a price.
func formatCost(e audit.Estimate) string {
	if len(e.Cost) == 0 {
		return "—"
	}
	curs := make([]string, 0, len(e.Cost))
	for c := range e.Cost {
		curs = append(curs, c)
	}
	sort.Strings(curs)
	parts := make([]string, len(curs))
	for i, c := range curs {
		parts[i] = strconv.FormatFloat(e.Cost[c], 'f', costDigits(e.Cost[c]), 64) + " " + c
	}
	return strings.Join(parts, " + ")
}

func costDigits(v float64) int {
	switch {
	case v == 0 || v >= 100:
		return 2
	case v >= 1:
		return 3
	}
	return 4
}

// formatWh writes an estimated energy; "—" without a figure.
func formatWh(e audit.Estimate) string {
	if e.Wh == 0 {
		return "—"
	}
	switch {
	case e.Wh >= 1e6:
		return strconv.FormatFloat(e.Wh/1e6, 'f', 2, 64) + " MWh"
	case e.Wh >= 1e3:
		return strconv.FormatFloat(e.Wh/1e3, 'f', 2, 64) + " kWh"
	case e.Wh >= 1:
		return strconv.FormatFloat(e.Wh, 'f', 2, 64) + " Wh"
	}
	return strconv.FormatFloat(e.Wh, 'f', 4, 64) + " Wh"
}

// formatKinds writes counts by type: "email ×1, github-pat ×1".
func formatKinds(m map[string]int) string {
	if len(m) == 0 {
		return "—"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + " ×" + strconv.Itoa(m[k])
	}
	return strings.Join(keys, ", ")
}

// windowDays reads the window selector (?days=7|30|90, 30 otherwise).
func windowDays(q url.Values) int {
	switch q.Get("days") {
	case "7":
		return 7
	case "90":
		return 90
	}
	return 30
}

// --- My timon ---

type budgetRow struct {
	Subject string // the user id or the group's name
	Group   bool
	// Used figures are the subject's as the quota counts them: a group's
	// are all its members'.
	TokensToday, TokensMonth int64
	Limits                   quota.Limits
}

type mineUsageData struct {
	Usage         *audit.PersonUsage
	Budgets       []budgetRow
	Integrations  []audit.KeyUsage
	DayPercent    string
	MonthPercent  string
	MonthResetsAt time.Time
}

func (rd *Reads) mineUsage(ctx context.Context, v Viewer, _ url.Values) (any, error) {
	now := rd.now()
	u, err := audit.UsageOf(ctx, rd.Store, v.UserID, now, rd.Estimator)
	if err != nil {
		return nil, err
	}
	d := &mineUsageData{Usage: u, MonthResetsAt: time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)}
	if rd.Quota != nil && rd.Subjects != nil {
		for _, sub := range rd.Subjects(core.Principal{UserID: v.UserID, Groups: v.Groups}) {
			qu, err := rd.Quota.Usage(ctx, sub)
			if err != nil {
				return nil, err
			}
			name, group := strings.CutPrefix(sub.Key, "group:")
			if !group {
				name = v.UserID
			}
			row := budgetRow{Subject: name, Group: group, TokensToday: int64(qu.TokensToday), TokensMonth: int64(qu.TokensThisMonth), Limits: sub.Limits}
			d.Budgets = append(d.Budgets, row)
			if group {
				continue
			}
			if l := sub.Limits.TokensPerDay; l > 0 {
				d.DayPercent = strconv.FormatFloat(100*float64(row.TokensToday)/float64(l), 'f', 0, 64) + " %"
			}
			if l := sub.Limits.TokensPerMonth; l > 0 {
				d.MonthPercent = strconv.FormatFloat(100*float64(row.TokensMonth)/float64(l), 'f', 0, 64) + " %"
			}
		}
	}
	d.Integrations = sortedUsage(u.ByIntegration)
	return d, nil
}

func sortedUsage(m map[string]*audit.Totals) []audit.KeyUsage {
	out := make([]audit.KeyUsage, 0, len(m))
	for k, t := range m {
		out = append(out, audit.KeyUsage{Key: k, Totals: *t})
	}
	slices.SortFunc(out, func(a, b audit.KeyUsage) int {
		if d := (b.TokensIn + b.TokensOut) - (a.TokensIn + a.TokensOut); d != 0 {
			if d > 0 {
				return 1
			}
			return -1
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

type mineRequestsData struct {
	Requests []audit.Request
	Next     int64 // the cursor of the older page; 0: none
	Paged    bool  // this is not the first page
}

// requestsPage is the number of requests of a page of My timon.
const requestsPage = 20

func (rd *Reads) mineRequests(ctx context.Context, v Viewer, q url.Values) (any, error) {
	// The person is the session's, whatever the query says (?user= is
	// not read).
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	rs, err := audit.RequestsOf(ctx, rd.Store, v.UserID, audit.RequestsQuery{
		BeforeSeq: max(before, 0), Limit: requestsPage + 1, ContentKey: rd.ContentKey, HashKeys: rd.HashKeys,
	}, rd.Estimator)
	if err != nil {
		return nil, err
	}
	d := &mineRequestsData{Paged: before > 0}
	if len(rs) > requestsPage {
		rs = rs[:requestsPage]
		d.Next = rs[len(rs)-1].Seq
	}
	d.Requests = rs
	return d, nil
}

// --- admin pages ---

// bar is one bar of a chart, in the SVG's units.
type bar struct {
	X, Y, W, H float64
	Label      string
	Value      string
}

// chart is a bar chart drawn on the server, its figures also in a table.
type chart struct {
	ID          string
	Title, Desc string
	Width       int
	Height      int
	Bars        []bar
	Max         string
	AxisY       float64
}

const (
	chartW, chartH, chartTop, chartBottom = 640, 200, 10, 180
)

// barChart draws values (labels under) scaled to the largest.
func barChart(id, title, desc string, labels []string, values []float64, format func(float64) string) *chart {
	c := &chart{ID: id, Title: title, Desc: desc, Width: chartW, Height: chartH, AxisY: chartBottom}
	maxV := 0.0
	for _, v := range values {
		maxV = math.Max(maxV, v)
	}
	c.Max = format(maxV)
	if len(values) == 0 {
		return c
	}
	slot := float64(chartW) / float64(len(values))
	w := math.Max(1, slot*0.8)
	for i, v := range values {
		h := 0.0
		if maxV > 0 {
			h = v / maxV * (chartBottom - chartTop)
		}
		c.Bars = append(c.Bars, bar{X: round1(float64(i)*slot + (slot-w)/2), Y: round1(chartBottom - h), W: round1(w), H: round1(h), Label: labels[i], Value: format(v)})
	}
	return c
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

type adminUsageData struct {
	Days          int
	Windows       []int
	ByDay         []audit.DayUsage
	Chart         *chart
	ByGroup       []audit.KeyUsage
	ByIntegration []audit.KeyUsage
	ByModel       []audit.KeyUsage
}

var windows = []int{7, 30, 90}

func (rd *Reads) adminUsage(ctx context.Context, v Viewer, q url.Values) (any, error) {
	days := windowDays(q)
	since := rd.now().AddDate(0, 0, -days+1)
	d := &adminUsageData{Days: days, Windows: windows}
	var err error
	if d.ByDay, err = audit.UsageByDay(ctx, rd.Store, since, time.Time{}, rd.Estimator); err != nil {
		return nil, err
	}
	labels, values := make([]string, len(d.ByDay)), make([]float64, len(d.ByDay))
	for i, u := range d.ByDay {
		labels[i], values[i] = u.Day.Format("2006-01-02"), float64(u.TokensIn+u.TokensOut)
	}
	l := sectionCatalogue(v.Lang)
	d.Chart = barChart("usage-chart", l.t("ausage.chart_title", days), l.t("ausage.chart_desc"), labels, values, func(f float64) string { return formatInt(int64(f)) })
	if d.ByGroup, err = audit.UsageBy(ctx, rd.Store, audit.ByGroup, since, time.Time{}, rd.Estimator); err != nil {
		return nil, err
	}
	if d.ByIntegration, err = audit.UsageBy(ctx, rd.Store, audit.ByIntegration, since, time.Time{}, rd.Estimator); err != nil {
		return nil, err
	}
	if d.ByModel, err = audit.UsageBy(ctx, rd.Store, audit.ByModel, since, time.Time{}, rd.Estimator); err != nil {
		return nil, err
	}
	return d, nil
}

type adminTopData struct {
	Month     string
	Order     string
	Orders    []string
	Consumers []audit.Consumer
}

// topOrders are the orders of the top consumers; "cost" sorts, by their
// estimated cost, the topByCost people who used the most tokens.
// topByCost is how many of the biggest users by tokens the order by cost
// sorts.
const topByCost = 200

var topOrders = []string{audit.ByTokens, "cost", audit.ByQuotaRefusals}

func (rd *Reads) adminTop(ctx context.Context, _ Viewer, q url.Values) (any, error) {
	now := rd.now()
	month := now
	if m, err := time.Parse("2006-01", q.Get("month")); err == nil {
		month = m
	}
	order := q.Get("order")
	if !slices.Contains(topOrders, order) {
		order = audit.ByTokens
	}
	d := &adminTopData{Month: month.Format("2006-01"), Order: order, Orders: topOrders}
	var err error
	if order == "cost" {
		d.Consumers, err = audit.TopConsumers(ctx, rd.Store, month, topByCost, audit.ByTokens, rd.Estimator)
		slices.SortStableFunc(d.Consumers, func(a, b audit.Consumer) int {
			ca, cb := totalCost(a.Estimate), totalCost(b.Estimate)
			switch {
			case ca > cb:
				return -1
			case ca < cb:
				return 1
			}
			return 0
		})
		d.Consumers = d.Consumers[:min(len(d.Consumers), 20)]
	} else {
		d.Consumers, err = audit.TopConsumers(ctx, rd.Store, month, 20, order, rd.Estimator)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

func totalCost(e audit.Estimate) float64 {
	var s float64
	for _, v := range e.Cost {
		s += v
	}
	return s
}

type adminGovData struct {
	Days       int
	Windows    []int
	Refusals   *audit.Refusals
	Denials    []audit.Count
	Redactions []audit.Count
	Moderation []audit.Finding
}

func (rd *Reads) adminGovernance(ctx context.Context, _ Viewer, q url.Values) (any, error) {
	days := windowDays(q)
	since := rd.now().AddDate(0, 0, -days+1)
	d := &adminGovData{Days: days, Windows: windows}
	var err error
	if d.Refusals, err = audit.QuotaRefusals(ctx, rd.Store, since, time.Time{}); err != nil {
		return nil, err
	}
	if d.Denials, err = audit.DenialsByRule(ctx, rd.Store, since, time.Time{}); err != nil {
		return nil, err
	}
	if d.Redactions, err = audit.RedactionsByType(ctx, rd.Store, since, time.Time{}); err != nil {
		return nil, err
	}
	if d.Moderation, err = audit.ModerationFindings(ctx, rd.Store, since, time.Time{}); err != nil {
		return nil, err
	}
	return d, nil
}

type adminProvData struct {
	Days    int
	Windows []int
	Models  []audit.ModelHealth
}

func (rd *Reads) adminProviders(ctx context.Context, _ Viewer, q url.Values) (any, error) {
	days := windowDays(q)
	hs, err := audit.ModelsHealth(ctx, rd.Store, rd.now().AddDate(0, 0, -days+1), time.Time{})
	if err != nil {
		return nil, err
	}
	return &adminProvData{Days: days, Windows: windows, Models: hs}, nil
}

type journalFilter struct {
	Since, Until, User, Integration, Outcome, RequestID string
}

type adminJournalData struct {
	Summary  *audit.JournalSummary
	Filter   journalFilter
	Outcomes []string
	Entries  []audit.Entry
	Next     string // the query of the next page; "": none
	Error    string
	// Detail is an entry's detail (?show=request id), read through
	// Journal.Read: journaled.
	Detail     *audit.Reading
	DetailID   string
	DetailNone bool
	NoJournal  bool
}

// journalPage is the number of entries of a page of the admin journal.
const journalPage = 50

var journalOutcomes = []string{audit.OutcomeOK, audit.OutcomeDenied, audit.OutcomeBlocked, audit.OutcomeQuotaExceeded,
	audit.OutcomeProviderError, audit.OutcomeOutputRejected, audit.OutcomeCanceled, audit.OutcomeInvalid, audit.OutcomeError}

func (rd *Reads) adminJournal(ctx context.Context, v Viewer, q url.Values) (any, error) {
	d := &adminJournalData{Outcomes: journalOutcomes}
	var err error
	if d.Summary, err = audit.Summarize(ctx, rd.Store, rd.Keys); err != nil {
		return nil, err
	}
	l := sectionCatalogue(v.Lang)
	if id := strings.TrimSpace(q.Get("show")); id != "" {
		d.DetailID = id
		if rd.Journal == nil {
			d.NoJournal = true
			return d, nil
		}
		d.Detail, err = rd.Journal.Read(ctx, id, audit.Reader{UserID: v.UserID, Groups: v.Groups})
		if errors.Is(err, store.ErrNotFound) {
			d.Detail, d.DetailNone = nil, true
			return d, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading request %s for the admin journal: %w", id, err)
		}
		return d, nil
	}
	d.Filter = journalFilter{Since: q.Get("since"), Until: q.Get("until"), User: strings.TrimSpace(q.Get("user")),
		Integration: strings.TrimSpace(q.Get("integration")), Outcome: q.Get("outcome"), RequestID: strings.TrimSpace(q.Get("request_id"))}
	f := audit.Filter{UserID: d.Filter.User, Integration: d.Filter.Integration, RequestID: d.Filter.RequestID, Limit: journalPage + 1}
	if slices.Contains(journalOutcomes, d.Filter.Outcome) {
		f.Outcome = d.Filter.Outcome
	} else {
		d.Filter.Outcome = ""
	}
	now := rd.now()
	since := d.Filter.Since
	if since == "" && f.RequestID == "" && f.UserID == "" {
		since = "24h" // a large journal is read by time first
		d.Filter.Since = since
	}
	if f.Since, err = audit.ParseWhen(since, now); err != nil {
		d.Error = l.t("journal.bad_when", "since", audit.WhenForms)
		return d, nil
	}
	if f.Until, err = audit.ParseWhen(d.Filter.Until, now); err != nil {
		d.Error = l.t("journal.bad_when", "until", audit.WhenForms)
		return d, nil
	}
	f.AfterSeq, _ = strconv.ParseInt(q.Get("after"), 10, 64)
	f.AfterSeq = max(f.AfterSeq, 0)
	if !f.Since.IsZero() {
		// Read from the period's first entries, not from the journal's.
		from, err := audit.SeqBefore(ctx, rd.Store, f.Since)
		if err != nil {
			return nil, err
		}
		f.AfterSeq = max(f.AfterSeq, from)
	}
	if d.Entries, err = audit.List(ctx, rd.Store, f); err != nil {
		return nil, err
	}
	if len(d.Entries) > journalPage {
		d.Entries = d.Entries[:journalPage]
		nq := url.Values{}
		for k, val := range map[string]string{"since": d.Filter.Since, "until": d.Filter.Until, "user": d.Filter.User,
			"integration": d.Filter.Integration, "outcome": d.Filter.Outcome, "request_id": d.Filter.RequestID} {
			if val != "" {
				nq.Set(k, val)
			}
		}
		nq.Set("after", strconv.FormatInt(d.Entries[len(d.Entries)-1].Seq, 10))
		d.Next = "/console/admin/journal?" + nq.Encode()
	}
	return d, nil
}

type adminCostsData struct {
	Days    int
	Windows []int
	ByModel []audit.KeyUsage
	ByDay   []audit.DayUsage
	Total   audit.Totals
	Chart   *chart
}

func (rd *Reads) adminCosts(ctx context.Context, v Viewer, q url.Values) (any, error) {
	days := windowDays(q)
	since := rd.now().AddDate(0, 0, -days+1)
	d := &adminCostsData{Days: days, Windows: windows}
	var err error
	if d.ByModel, err = audit.UsageBy(ctx, rd.Store, audit.ByModel, since, time.Time{}, rd.Estimator); err != nil {
		return nil, err
	}
	if d.ByDay, err = audit.UsageByDay(ctx, rd.Store, since, time.Time{}, rd.Estimator); err != nil {
		return nil, err
	}
	labels, values := make([]string, len(d.ByDay)), make([]float64, len(d.ByDay))
	for i, u := range d.ByDay {
		labels[i], values[i] = u.Day.Format("2006-01-02"), u.Estimate.Wh
		d.Total.Requests += u.Requests
		d.Total.TokensIn += u.TokensIn
		d.Total.TokensOut += u.TokensOut
		d.Total.Estimate.Add(u.Estimate)
	}
	l := sectionCatalogue(v.Lang)
	d.Chart = barChart("energy-chart", l.t("costs.chart_title", days), l.t("costs.chart_desc"), labels, values,
		func(f float64) string { return formatWh(audit.Estimate{Wh: f}) })
	return d, nil
}

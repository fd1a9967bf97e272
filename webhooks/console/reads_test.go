package console_test

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/config"
	"timon.dev/timon/core/identity"
	"timon.dev/timon/core/quota"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
	"timon.dev/timon/webhooks/console"
)

// pagesRig is a console with the real sections over a store whose journal
// holds ada's and bob's requests; people sign in through the identity
// service directly (the sign-in itself is tested with a real provider
// elsewhere).
type pagesRig struct {
	t       *testing.T
	con     *console.Console
	id      *identity.Service
	st      *store.Store
	journal *audit.Journal
	quota   *quota.Quota
}

var (
	pagesContentKey = []byte("0123456789abcdef0123456789abcdef")
	pagesHashKey    = []byte("fedcba9876543210fedcba9876543210")
	pagesSigning    = ed25519.NewKeyFromSeed([]byte("console pages test signing seed!"))
)

// The figures the estimates use: m1 at 1 EUR (in) and 2 EUR (out) per
// 1000 tokens, 0.5 and 1 Wh.
var pagesEstimates = map[string]config.ModelEstimate{
	"m1": {PricePer1kTokens: config.InOut{Input: 1, Output: 2}, Currency: "EUR", WhPer1kTokens: config.InOut{Input: 0.5, Output: 1}},
}

func newPagesRig(t *testing.T, st *store.Store) *pagesRig {
	t.Helper()
	ctx := context.Background()
	t.Setenv("TIMON_TEST_OIDC_SECRET", "s3cret")
	cfg := &console.Config{Issuer: "http://127.0.0.1:9", ClientID: "timon", ClientSecretEnv: "TIMON_TEST_OIDC_SECRET", PublicURL: "http://127.0.0.1:9",
		Groups: map[string][]string{"g-physics": {"physics"}, "timon-admins": {"admin"}}, DefaultGroup: "staff", AdminGroups: []string{"admin"}}
	var ch config.Check
	cfg.Check(&ch)
	if p := ch.Problems(); len(p) > 0 {
		t.Fatalf("settings: %v", p)
	}
	id, err := identity.New(ctx, st, identity.Options{Groups: cfg.Mapping()})
	if err != nil {
		t.Fatal(err)
	}
	j, err := audit.Open(ctx, st, audit.Options{SigningKey: pagesSigning, ContentKey: pagesContentKey, HashKey: pagesHashKey, CheckpointEvery: 2,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	keys := &audit.KeySet{}
	if err := keys.Add(audit.TrustedKey{Public: pagesSigning.Public().(ed25519.PublicKey), Source: "test"}); err != nil {
		t.Fatal(err)
	}
	q, err := quota.New(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	rd := &console.Reads{Store: st, Journal: j, Estimator: audit.NewEstimator(pagesEstimates), ContentKey: pagesContentKey,
		HashKeys: [][]byte{pagesHashKey}, Keys: keys,
		Quota: q, Subjects: func(p core.Principal) []quota.Subject {
			// As the hub's configuration would: every user's day budget,
			// bob's own, and physics' shared month.
			user := quota.Limits{TokensPerDay: 100000}
			if p.UserID == "bob@lab" {
				user = quota.Limits{TokensPerDay: 5, TokensPerMonth: 50}
			}
			subs := []quota.Subject{{Key: "user:" + p.UserID, Limits: user}}
			if slices.Contains(p.Groups, "physics") {
				subs = append(subs, quota.Subject{Key: "group:physics", Limits: quota.Limits{TokensPerMonth: 9000000}})
			}
			return subs
		}}
	con, err := console.New(console.Options{Config: cfg, Identity: id, Store: st, Logger: slog.New(slog.DiscardHandler),
		Mine: console.MineSections(rd), Admin: console.AdminSections(rd)})
	if err != nil {
		t.Fatal(err)
	}
	r := &pagesRig{t: t, con: con, id: id, st: st, journal: j, quota: q}
	r.seed()
	return r
}

func (r *pagesRig) seed() {
	r.t.Helper()
	ctx := context.Background()
	appends := []struct {
		e *audit.Entry
		c *audit.Content
	}{
		{&audit.Entry{RequestID: "req-ada-1", UserID: "ada@lab", Groups: []string{"physics", "staff"}, Integration: "api", Task: "chat", Rule: "default",
			Decision: audit.DecisionAllow, Outcome: audit.OutcomeOK, Provider: "local", Model: "m1", TokensIn: 1000, TokensOut: 500, LatencyMS: 120,
			Redactions: map[string]int{"email": 1, "github-pat": 1}, ContentLevel: audit.LevelFull},
			&audit.Content{Sent: "Write to [EMAIL_1] with token [GITHUB-PAT_1]", Returned: "Dear [EMAIL_1], done."}},
		{&audit.Entry{RequestID: "req-ada-2", UserID: "ada@lab", Groups: []string{"physics", "staff"}, Integration: "lsp", Task: "complete", Rule: "code",
			Decision: audit.DecisionAllow, Outcome: audit.OutcomeOK, Provider: "local", Model: "m2", TokensIn: 10, TokensOut: 5, LatencyMS: 40,
			ContentLevel: audit.LevelHashes}, &audit.Content{Sent: "hashed only: ada's private draft", Returned: "x"}},
		{&audit.Entry{RequestID: "req-bob-1", UserID: "bob@lab", Groups: []string{"staff"}, Integration: "chat", Task: "ask", Rule: "default",
			Decision: audit.DecisionAllow, Outcome: audit.OutcomeOK, Provider: "local", Model: "m1", TokensIn: 20, TokensOut: 10,
			Redactions: map[string]int{"iban": 1}, ContentLevel: audit.LevelFull, Moderation: "in:health=warn"},
			&audit.Content{Sent: "bob's confidential question", Returned: "bob's answer"}},
		{&audit.Entry{RequestID: "req-bob-2", UserID: "bob@lab", Groups: []string{"staff"}, Integration: "chat", Task: "ask", Rule: "no-exams",
			Decision: audit.DecisionDeny, Outcome: audit.OutcomeDenied, ContentLevel: audit.LevelNone}, nil},
		{&audit.Entry{RequestID: "req-bob-3", UserID: "bob@lab", Groups: []string{"staff"}, Integration: "chat", Task: "ask", Rule: "default",
			Decision: audit.DecisionAllow, Outcome: audit.OutcomeQuotaExceeded, Error: "tokens per day", ContentLevel: audit.LevelNone}, nil},
	}
	for _, a := range appends {
		if a.c != nil && a.e.ContentLevel == audit.LevelHashes {
			a.e.SentHash, a.e.ReturnedHash = r.journal.HashContent(a.c.Sent), r.journal.HashContent(a.c.Returned)
			a.c = nil
		}
		if err := r.journal.Append(ctx, a.e, a.c); err != nil {
			r.t.Fatal(err)
		}
	}
}

// session signs a person in through the identity service and returns
// their session's secret.
func (r *pagesRig) session(user string, groups ...string) string {
	r.t.Helper()
	ctx := context.Background()
	p, err := r.id.SignIn(ctx, identity.Claims{Issuer: "http://127.0.0.1:9", Subject: "s-" + user, UserID: user, Name: user, Email: user, Groups: groups})
	if err != nil {
		r.t.Fatal(err)
	}
	s, err := r.id.StartSession(ctx, p.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	return s.Secret()
}

// get answers path for the session, in lang.
func (r *pagesRig) get(secret, path, lang string) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest("GET", path, nil)
	req.AddCookie(&http.Cookie{Name: "timon_session", Value: secret})
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	rec := newRecorder()
	r.con.ServeHTTP(rec, req)
	if got := rec.Header().Get("Content-Security-Policy"); got != console.ContentSecurityPolicy {
		r.t.Errorf("%s: CSP %q", path, got)
	}
	body := rec.Body.String()
	checkNoInline(r.t, path, body)
	return rec.Code, body
}

var inlineRe = regexp.MustCompile(`(?i)<script|<style|\sstyle=|\son[a-z]+=|javascript:`)

// checkNoInline fails on anything the strict CSP would refuse: inline
// scripts, styles, event handlers.
func checkNoInline(t *testing.T, path, body string) {
	t.Helper()
	if m := inlineRe.FindString(body); m != "" {
		t.Errorf("%s has inline %q, which the CSP refuses", path, m)
	}
	if strings.Contains(body, "ZgotmplZ") {
		t.Errorf("%s: a value the template refused (ZgotmplZ)", path)
	}
	if os.Getenv("TIMON_DUMP_PAGES") != "" {
		os.WriteFile(filepath.Join(os.Getenv("TIMON_DUMP_PAGES"), strings.NewReplacer("/", "_", "?", "_", "&", "_", "=", "_").Replace(path)+".html"), []byte(body), 0o644)
	}
}

// TestMyTimonBudgetsAsTheQuotaCounts: the budgets are read from the
// quota's own counters: a group's row shows what all its members used,
// the person's row only theirs.
func TestMyTimonBudgetsAsTheQuotaCounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		r := newPagesRig(t, st)
		ctx := context.Background()
		bob := []quota.Subject{{Key: "user:bob@lab"}, {Key: "group:physics", Limits: quota.Limits{TokensPerMonth: 9000000}}}
		res, err := r.quota.Reserve(ctx, bob, 100)
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Settle(ctx, 1234); err != nil {
			t.Fatal(err)
		}
		_, body := r.get(r.session("ada@lab", "g-physics"), "/console/", "en")
		row := regexp.MustCompile(`(?s)<tr><th scope="row">Group physics \(shared\)</th>\s*<td class="num">([^<]*)</td>`).FindStringSubmatch(body)
		if row == nil || row[1] != "1\u202f234" {
			t.Fatalf("physics' row does not show the group's 1 234 tokens today: %q", row)
		}
		you := regexp.MustCompile(`(?s)<tr><th scope="row">Yours</th>\s*<td class="num">([^<]*)</td>`).FindStringSubmatch(body)
		if you == nil || you[1] != "0" {
			t.Fatalf("ada's own row counts bob's tokens: %q", you)
		}
	})
}

func TestMyTimonUsageAndRequests(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		r := newPagesRig(t, st)
		ada := r.session("ada@lab", "g-physics")
		code, body := r.get(ada, "/console/", "en")
		if code != 200 {
			t.Fatalf("My timon: %d\n%s", code, body)
		}
		for _, want := range []string{
			`<section id="usage"`, `<section id="requests"`, `id="governed"`, // the explanation is kept
			"req-ada-1", "req-ada-2", "email ×1, github-pat ×1",
			// 1000 tokens in at 1 EUR, 500 out at 2 EUR per 1000; 0.5 + 0.5 Wh.
			"2.000 EUR", "1.00 Wh",
			// What left, as the model received it, behind details.
			`<details class="what-left"`, "Write to [EMAIL_1] with token [GITHUB-PAT_1]",
			"not kept (policy: hashes)",
			// Quotas: ada's day budget (every user's), the month unlimited,
			// physics' shared month.
			"100\u202f000", "Group physics (shared)", "9\u202f000\u202f000", "—",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("My timon lacks %q", want)
			}
		}
		for _, never := range []string{"req-bob", "bob&#39;s confidential", "bob's confidential", "hashed only"} {
			if strings.Contains(body, never) {
				t.Errorf("ada sees %q", never)
			}
		}
		// Whatever the query says, ada sees her own requests only.
		_, body = r.get(ada, "/console/?user=bob@lab&user_id=bob@lab", "en")
		if strings.Contains(body, "req-bob") || !strings.Contains(body, "req-ada-1") {
			t.Error("?user= must not show another's requests")
		}
		// Bob sees his, with his own (overridden) limits.
		bob := r.session("bob@lab")
		_, body = r.get(bob, "/console/", "en")
		if !strings.Contains(body, "req-bob-1") || strings.Contains(body, "req-ada") || strings.Contains(body, "[EMAIL_1]") ||
			!strings.Contains(body, "bob&#39;s confidential question") {
			t.Errorf("bob's page:\n%s", body)
		}
		// French.
		_, body = r.get(ada, "/console/", "fr")
		for _, want := range []string{"Mon usage et mes quotas", "Mes requêtes récentes", "Ce qui est parti vers le modèle", "Groupe physics (partagé)"} {
			if !strings.Contains(body, want) {
				t.Errorf("French My timon lacks %q", want)
			}
		}
	})
}

func TestMyRequestsPaging(t *testing.T) {
	st := storetest.SQLite(t)
	r := newPagesRig(t, st)
	for i := range 25 {
		e := &audit.Entry{RequestID: "req-page-" + string(rune('a'+i)), UserID: "ada@lab", Integration: "api", Task: "chat",
			Decision: audit.DecisionAllow, Outcome: audit.OutcomeOK, ContentLevel: audit.LevelNone}
		if err := r.journal.Append(context.Background(), e, nil); err != nil {
			t.Fatal(err)
		}
	}
	ada := r.session("ada@lab")
	_, body := r.get(ada, "/console/", "en")
	m := regexp.MustCompile(`href="/console/\?before=(\d+)#requests" id="requests-older"`).FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, "req-page-y") || strings.Contains(body, "req-ada-1") {
		t.Fatalf("first page:\n%s", body)
	}
	_, body = r.get(ada, "/console/?before="+m[1], "en")
	if !strings.Contains(body, "req-ada-1") || strings.Contains(body, "req-page-y") || strings.Contains(body, `id="requests-older"`) {
		t.Fatalf("second page:\n%s", body)
	}
}

func TestAdminPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		r := newPagesRig(t, st)
		carol := r.session("carol@lab", "timon-admins")
		ada := r.session("ada@lab", "g-physics")
		pages := map[string][]string{
			"/console/admin/usage?days=7": {`<svg role="img"`, `<title id="usage-chart-t">Tokens per day, last 7 days</title>`, "<desc", `id="usage-by-day"`,
				`id="usage-by-group"`, `id="usage-by-integration"`, `id="usage-by-model"`, "physics", `<option value="7" selected>`, "2.000 EUR"},
			"/console/admin/top":                          {`id="top-consumers"`, "ada@lab", "bob@lab"},
			"/console/admin/top?order=cost":               {`id="top-consumers"`, "ada@lab", "By cost"},
			"/console/admin/governance":                   {"no-exams", "iban", "health", `id="gov-refusals-total">1<`},
			"/console/admin/providers":                    {`id="providers-health"`, "m1", "p95"},
			"/console/admin/costs?days=90":                {`id="energy-chart"`, `id="costs-by-model"`, "m1", "Wh"},
			"/console/admin/journal":                      {`id="journal-summary"`, "The latest checkpoint is signed by a trusted key", "BEGIN PUBLIC KEY", "req-ada-1", "req-bob-1"},
			"/console/admin/journal?user=bob@lab":         {"req-bob-1", "req-bob-2"},
			"/console/admin/journal?request_id=req-ada-1": {`href="/console/admin/journal?show=req-ada-1"`},
			"/console/admin/journal?since=yesterday":      {`id="journal-error"`},
		}
		for path, wants := range pages {
			code, body := r.get(carol, path, "en")
			if code != 200 {
				t.Errorf("%s: %d", path, code)
				continue
			}
			for _, w := range wants {
				if !strings.Contains(body, w) {
					t.Errorf("%s lacks %q", path, w)
				}
			}
			if strings.Contains(path, "request_id") && strings.Contains(body, "req-bob-1") {
				t.Errorf("%s: the filter does not filter", path)
			}
			if code, _ := r.get(ada, path, "en"); code != http.StatusForbidden {
				t.Errorf("%s for a non-admin: %d", path, code)
			}
		}
		_, body := r.get(carol, "/console/admin/journal?user=bob@lab", "en")
		if strings.Contains(body, "bob&#39;s confidential") {
			t.Error("the journal's list must not show content")
		}
		// An entry's detail shows its content, and the reading is journaled.
		_, body = r.get(carol, "/console/admin/journal?show=req-bob-1", "fr")
		if !strings.Contains(body, "bob&#39;s confidential question") || !strings.Contains(body, "Votre lecture est journalisée") {
			t.Fatalf("detail:\n%s", body)
		}
		reads, err := audit.List(context.Background(), st, audit.Filter{UserID: "carol@lab", Integration: audit.IntegrationAudit})
		if err != nil || len(reads) != 1 || reads[0].Subject != "req-bob-1" {
			t.Fatalf("the reading journaled: %v %v", reads, err)
		}
		// French on every page.
		for _, p := range []string{"usage", "top", "governance", "providers", "journal", "costs"} {
			_, body := r.get(carol, "/console/admin/"+p, "fr")
			if !strings.Contains(body, `<html lang="fr">`) || strings.Contains(body, "[") && regexp.MustCompile(`\[[a-z_]+\.[a-z_.]+\]`).MatchString(body) {
				t.Errorf("French %s: a missing string", p)
			}
		}
	})
}

func TestAdminHomeListsPages(t *testing.T) {
	r := newPagesRig(t, storetest.SQLite(t))
	carol := r.session("carol@lab", "timon-admins")
	_, body := r.get(carol, "/console/admin/", "en")
	for _, p := range []string{"usage", "top", "governance", "providers", "journal", "costs"} {
		if !strings.Contains(body, `href="/console/admin/`+p+`"`) {
			t.Errorf("admin home lacks %s", p)
		}
	}
}

package chat_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/biblio"
	"timon.dev/timon/core/biblio/bibliotest"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/core/quota"
)

// halRig is the router over the governed engine with one HAL source, a
// fake HAL speaking HAL's JSON.
func halRig(t *testing.T, sovereign bool, limits quota.Limits) (*rig, *bibliotest.HAL) {
	t.Helper()
	hal := bibliotest.NewHAL()
	t.Cleanup(hal.Close)
	src, err := biblio.New(biblio.Config{Name: "HAL", Kind: biblio.KindHAL, BaseURL: hal.URL(), Timeout: 2 * time.Second, Sovereign: sovereign})
	if err != nil {
		t.Fatal(err)
	}
	return newRig(t, rigOptions{sources: []biblio.Source{src}, limits: limits}), hal
}

// invented is a synthesis citing one real record by author and year, and
// three references that are no record's.
const invented = "Vineyard soils store carbon [1], and cover crops add more [2]. " +
	"Dupuis et al. (2019) measured it; erosion threatens it [3][7]. " +
	"See also 10.9999/fake.2020.123 and Dupont et al. (2019)."

// TestRefsShowsTheSourcesRecords: every record shown is one of the fake
// HAL's docs, field for field; the synthesis keeps its checked citations
// and loses the invented ones, counted; the search is journaled without
// content; bibtex gives the chosen records.
func TestRefsShowsTheSourcesRecords(t *testing.T) {
	r, hal := halRig(t, true, quota.Limits{})
	r.fake.Enqueue(fakellm.Reply{Text: invented})
	ev := mention("refs soil carbon in vineyards")
	if err := r.router.Handle(ctxT(t), ev); err != nil {
		t.Fatal(err)
	}
	text := r.plat.text(ev.ID)
	for _, want := range []string{
		"*3 records from HAL*",
		"1. *Soil carbon sequestration in Burgundy vineyards* — Jeanne Dupuis, Marc Lefèvre, Anne Martin et al. (2019) — https://doi.org/10.1016/j.geoderma.2019.05.012\n",
		"2. *Cover crops and soil organic matter: a thesis* — Claire Rousseau (2021) — https://theses.hal.science/tel-02345678\n",
		"3. *Vineyard soils under {climate} change & erosion_risk: 50% loss?* — Luc Bernard, Sophie Moreau (2021) — https://doi.org/10.5194/soil-7-1-2021\n",
		"Vineyard soils store carbon [1], and cover crops add more [2]. Dupuis et al. (2019) measured it; erosion threatens it [3]. See also and.",
		"3 unverified references were removed from the synthesis.",
		"AI-generated",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the reply lacks %q:\n%s", want, text)
		}
	}
	for _, bad := range []string{"[7]", "10.9999", "Dupont"} {
		if strings.Contains(text, bad) {
			t.Errorf("the reply keeps the invented %q:\n%s", bad, text)
		}
	}
	q := hal.Queries()
	if len(q) != 1 || q[0].Get("q") != "soil carbon in vineyards" || q[0].Get("rows") != "10" {
		t.Fatalf("HAL received %v", q)
	}
	// The model was given the records, as data.
	reqs := r.fake.Requests()
	if len(reqs) != 1 || !strings.Contains(reqs[0].LastUser(), "<data>\n[1] Soil carbon sequestration in Burgundy vineyards. Jeanne Dupuis, Marc Lefèvre, Anne Martin et al.. 2019. Abstract: We measure") {
		t.Fatalf("the model received %+v", reqs)
	}
	es := r.journal(t)
	if len(es) != 2 {
		t.Fatalf("journal %+v", es)
	}
	s := es[0]
	if s.Task != "refs" || s.Provider != "HAL" || s.Model != "hal" || s.Decision != audit.DecisionAllow || s.Outcome != audit.OutcomeOK ||
		s.ContentLevel != audit.LevelHashes || s.SentHash == "" || s.ReturnedHash == "" || s.UserID != "slack:U061F7AUR" {
		t.Fatalf("search entry %+v", s)
	}
	if es[1].Task != "summarize" || es[1].Outcome != audit.OutcomeOK {
		t.Fatalf("synthesis entry %+v", es[1])
	}

	// bibtex in the same thread: the chosen records, from the records.
	bib := mention("bibtex 1,3")
	if err := r.router.Handle(ctxT(t), bib); err != nil {
		t.Fatal(err)
	}
	got := r.plat.text(bib.ID)
	for _, want := range []string{
		"@misc{dupuis2019soil,\n  author = {Jeanne Dupuis and Marc Lefèvre and Anne Martin and Paul Henry},\n  title  = {{Soil carbon sequestration in Burgundy vineyards}},\n  year   = {2019},\n  doi    = {10.1016/j.geoderma.2019.05.012},",
		`title  = {{Vineyard soils under \{climate\} change \& erosion\_risk: 50\% loss?}}`,
		"@misc{bernard2021vineyard,",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("bibtex lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "rousseau") {
		t.Errorf("bibtex has record 2, not chosen:\n%s", got)
	}
	if len(hal.Queries()) != 1 || r.fake.Count() != 1 {
		t.Fatal("bibtex asked a source or the model")
	}
	// Out of range, and another thread with no search.
	bad := mention("refs bibtex 4")
	other := mention("bibtex")
	other.ThreadID = "1515449599.000001"
	for _, ev := range []*chat.Event{bad, other} {
		if err := r.router.Handle(ctxT(t), ev); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.plat.text(bad.ID); !strings.Contains(got, "Choose records between 1 and 3") {
		t.Errorf("out of range: %q", got)
	}
	if got := r.plat.text(other.ID); !strings.Contains(got, "no search of yours in this thread") {
		t.Errorf("no search: %q", got)
	}
}

// TestRefsSourceDown: a source that fails or does not answer is said so,
// and nothing is invented: no record, no model.
func TestRefsSourceDown(t *testing.T) {
	r, hal := halRig(t, true, quota.Limits{})
	hal.Answer(http.StatusServiceUnavailable, "<html>maintenance</html>")
	ev := mention("références carbone des sols")
	ev.Locale = "fr-FR"
	if err := r.router.Handle(ctxT(t), ev); err != nil {
		t.Fatal(err)
	}
	text := r.plat.text(ev.ID)
	if !strings.Contains(text, "HAL n'a pas répondu : HTTP 503") || strings.Contains(text, "1.") || r.fake.Count() != 0 {
		t.Fatalf("reply %q, model requests %d", text, r.fake.Count())
	}
	hal.Close()
	ev = mention("refs soil carbon")
	if err := r.router.Handle(ctxT(t), ev); err != nil {
		t.Fatal(err)
	}
	if text := r.plat.text(ev.ID); !strings.Contains(text, "HAL did not answer: ") || strings.Contains(text, "1.") || r.fake.Count() != 0 {
		t.Fatalf("reply %q", text)
	}
	es := r.journal(t)
	if len(es) != 2 || es[0].Outcome != audit.OutcomeProviderError || es[0].Provider != "HAL" || es[1].Outcome != audit.OutcomeProviderError {
		t.Fatalf("journal %+v", es)
	}
}

// TestRefsQueryIsRedacted: a secret and an e-mail in the question never
// reach the source.
func TestRefsQueryIsRedacted(t *testing.T) {
	r, hal := halRig(t, true, quota.Limits{})
	const key, mail = "AKIAZ3MSJV4WWNKWXK7Q", "jeanne.dupuis@lab-univ.fr"
	ev := mention("refs soil carbon " + key + " ORION vineyards, ask " + mail)
	if err := r.router.Handle(ctxT(t), ev); err != nil {
		t.Fatal(err)
	}
	q := hal.Queries()
	if len(q) != 1 {
		t.Fatalf("HAL received %v", q)
	}
	got := q[0].Get("q")
	if strings.Contains(got, key) || strings.Contains(got, mail) || strings.Contains(got, "ORION") || got != "soil carbon vineyards, ask" {
		t.Fatalf("HAL received q=%q", got)
	}
	if text := r.plat.text(ev.ID); !strings.Contains(text, "3 items were masked before the query left for the sources") {
		t.Fatalf("reply %q", text)
	}
	if es := r.journal(t); es[0].Redactions["email"] != 1 {
		t.Fatalf("journal %+v", es[0])
	}
}

// TestRefsNonSovereignSourceDenied: a source not marked sovereign is not
// searched unless a rule allows it; the refusal is journaled.
func TestRefsNonSovereignSourceDenied(t *testing.T) {
	r, hal := halRig(t, false, quota.Limits{})
	ev := mention("refs soil carbon")
	if err := r.router.Handle(ctxT(t), ev); err != nil {
		t.Fatal(err)
	}
	text := r.plat.text(ev.ID)
	if !strings.Contains(text, "HAL was not searched: source HAL is not sovereign, and rule \"everyone\" does not allow non-sovereign services for internal data (rule `everyone`)") {
		t.Fatalf("reply %q", text)
	}
	if len(hal.Queries()) != 0 || r.fake.Count() != 0 {
		t.Fatal("the source or the model was asked")
	}
	es := r.journal(t)
	if len(es) != 1 || es[0].Task != "refs" || es[0].Decision != audit.DecisionDeny || es[0].Outcome != audit.OutcomeDenied || es[0].Provider != "HAL" {
		t.Fatalf("journal %+v", es)
	}
}

// TestRefsQuota: a search takes a request of the quota; over it, nothing
// is asked of the source.
func TestRefsQuota(t *testing.T) {
	r, hal := halRig(t, true, quota.Limits{RequestsPerMinute: 1})
	first := mention("refs soil carbon")
	if err := r.router.Handle(ctxT(t), first); err != nil {
		t.Fatal(err)
	}
	// The search took the minute's request: the records are shown, the
	// synthesis is refused.
	if text := r.plat.text(first.ID); !strings.Contains(text, "1. *Soil carbon") || !strings.Contains(text, "No synthesis: :hourglass: Over quota") {
		t.Fatalf("first reply %q", text)
	}
	second := mention("refs soil carbon again")
	if err := r.router.Handle(ctxT(t), second); err != nil {
		t.Fatal(err)
	}
	if text := r.plat.text(second.ID); !strings.Contains(text, "Over quota") || strings.Contains(text, "1. *") {
		t.Fatalf("second reply %q", text)
	}
	if len(hal.Queries()) != 1 || r.fake.Count() != 0 {
		t.Fatalf("HAL asked %d times, the model %d", len(hal.Queries()), r.fake.Count())
	}
	var outcomes []string
	for _, e := range r.journal(t) {
		outcomes = append(outcomes, e.Task+":"+e.Outcome)
	}
	if strings.Join(outcomes, ",") != "refs:ok,summarize:quota_exceeded,refs:quota_exceeded" {
		t.Fatalf("journal outcomes %v", outcomes)
	}
}

// TestRefsWithoutSources says how to configure a source.
func TestRefsWithoutSources(t *testing.T) {
	r := newRig(t, rigOptions{})
	ev := mention("biblio soil carbon")
	if err := r.router.Handle(ctxT(t), ev); err != nil {
		t.Fatal(err)
	}
	if text := r.plat.text(ev.ID); !strings.Contains(text, "No bibliographic source is configured") || !strings.Contains(text, "bibliography.sources") {
		t.Fatalf("reply %q", text)
	}
	if len(r.journal(t)) != 0 || r.fake.Count() != 0 {
		t.Fatal("something was asked")
	}
}

// TestRefsInHelp: help lists refs among the commands where it is allowed.
func TestRefsInHelp(t *testing.T) {
	r := newRig(t, rigOptions{})
	ev := mention("help")
	if err := r.router.Handle(ctxT(t), ev); err != nil {
		t.Fatal(err)
	}
	if text := r.plat.text(ev.ID); !strings.Contains(text, "• `help`: this message\n• `refs <question>`: references") {
		t.Fatalf("help %q", text)
	}
}

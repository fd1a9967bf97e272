package integrationtests

import (
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/webhooks/server"
)

// TestOutcomesTableAgreesWithTheCode: docs/operations.md's outcome table
// names every outcome the journal may record, and no other, and maps each
// API error code to the outcome and HTTP status the code gives it.
func TestOutcomesTableAgreesWithTheCode(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n### Outcomes\n")
	if !ok {
		t.Fatal("docs/operations.md has no Outcomes section")
	}
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\| [^|]+ \\| (.+) \\|$")
	code := regexp.MustCompile("`([a-z_]+)` \\((\\d+)")
	var outcomes []string
	mapped := map[core.Kind]bool{}
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "#") {
			break
		}
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		outcome := m[1]
		outcomes = append(outcomes, outcome)
		for _, c := range code.FindAllStringSubmatch(m[2], -1) {
			kind := core.Kind(c[1])
			mapped[kind] = true
			if got := audit.OutcomeFor(kind); got != outcome {
				t.Errorf("docs map code %s to outcome %s, the code to %s", kind, outcome, got)
			}
			if st, _ := strconv.Atoi(c[2]); server.Status(kind) != st {
				t.Errorf("docs give code %s status %d, the server %d", kind, st, server.Status(kind))
			}
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(outcomes)), slices.Sorted(slices.Values(audit.Outcomes))) {
		t.Errorf("docs list outcomes %v, the journal records %v", outcomes, audit.Outcomes)
	}
	// Every kind a governed request can end with is in the table (not
	// those refused before the core: unauthenticated, not_found, …).
	for _, k := range []core.Kind{core.KindInvalid, core.KindDenied, core.KindBlocked, core.KindQuota, core.KindTooLarge,
		core.KindUnavailable, core.KindTimeout, core.KindOutputRejected, core.KindCanceled, core.KindInternal} {
		if !mapped[k] {
			t.Errorf("code %s is missing from the docs' outcome table", k)
		}
	}
}

// TestDenialsAreOnlyPolicyDenials: 3 policy denials and 9 malformed
// requests are 3 denials and 9 invalid in stats and /admin/usage, and the
// journal and the metrics name every outcome alike.
func TestDenialsAreOnlyPolicyDenials(t *testing.T) {
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	intern := h.token("ivo", "interns")
	admin := h.token("root", "admin")

	for range 3 {
		if s, out, _ := h.post("/v1/assist", intern, map[string]any{"task": "review", "input": "diff"}); s != 403 || out["code"] != "denied" {
			t.Fatalf("denial: %d %v", s, out)
		}
	}
	for i := range 9 {
		body := map[string]any{"task": "summarize"} // no input
		if i%2 == 1 {
			body = map[string]any{"task": "dance", "input": "x"}
		}
		if s, out, _ := h.post("/v1/assist", intern, body); s != 400 || out["code"] != "invalid" {
			t.Fatalf("invalid request: %d %v", s, out)
		}
	}
	if s, out, _ := h.post("/v1/assist", intern, map[string]any{"task": "explain", "input": "x"}); s != 200 {
		t.Fatalf("ok: %d %v", s, out)
	}
	want := map[string]int64{"denied": 3, "invalid": 9, "ok": 1}

	check := func(where string, c audit.Counts) {
		t.Helper()
		if c.Requests != 13 || c.Denials != 3 || c.Invalid != 9 || !maps.Equal(c.Outcomes, want) {
			t.Errorf("%s: %d requests, %d denials, %d invalid, outcomes %v", where, c.Requests, c.Denials, c.Invalid, c.Outcomes)
		}
	}
	out, errOut, code := h.timon("audit", "stats")
	var stats audit.Stats
	if code != 0 || json.Unmarshal([]byte(out), &stats) != nil {
		t.Fatalf("audit stats: %d %s %s", code, out, errOut)
	}
	check("timon audit stats", stats.Total)

	req, _ := http.NewRequest(http.MethodGet, h.url+"/admin/usage", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var usage struct{ Stats audit.Stats }
	decodeJSON(t, resp, &usage)
	resp.Body.Close()
	check("/admin/usage", usage.Stats.Total)

	// The metrics count the same outcomes under the same names.
	got := map[string]int64{}
	label := regexp.MustCompile(`outcome="([^"]*)"`)
	for k, v := range scrape(t, h) {
		if !strings.HasPrefix(k, "timon_requests_total{") {
			continue
		}
		o := label.FindStringSubmatch(k)
		if o == nil || !slices.Contains(audit.Outcomes, o[1]) {
			t.Errorf("metric %s has an outcome the journal does not know", k)
			continue
		}
		got[o[1]] += int64(v)
	}
	if !maps.Equal(got, want) {
		t.Errorf("metrics count outcomes %v, the journal %v", got, want)
	}
}

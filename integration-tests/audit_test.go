package integrationtests

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// TestJournalThroughTheHub: every request leaves one entry; admins read
// them over HTTP, the CLI verifies, exports and counts them, and tampering
// is caught.
func TestJournalThroughTheHub(t *testing.T) {
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	user := h.token("ida", "physics")
	admin := h.token("root", "admin")

	ids := map[string]bool{}
	for i := range 3 {
		_, out, _ := h.post("/v1/assist", user, map[string]any{"task": "explain", "input": "x := " + string(rune('a'+i))})
		ids[out["request_id"].(string)] = true
	}
	_, denied, _ := h.post("/v1/assist", user, map[string]any{"task": "dance"})
	_ = denied

	// Admin HTTP.
	req, _ := http.NewRequest(http.MethodGet, h.url+"/admin/audit?user=ida&limit=10", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Entries []struct {
			RequestID string `json:"RequestID"`
			Outcome   string `json:"Outcome"`
		} `json:"entries"`
	}
	body := map[string]json.RawMessage{}
	decodeJSON(t, resp, &body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/admin/audit: %d %s", resp.StatusCode, body)
	}
	raw, _ := json.Marshal(body)
	json.Unmarshal(raw, &page)
	if len(page.Entries) != 4 {
		t.Fatalf("/admin/audit returned %d entries, want 4: %s", len(page.Entries), raw)
	}
	for id := range ids {
		if !strings.Contains(string(raw), id) {
			t.Errorf("request %s is not in the journal", id)
		}
	}
	if !strings.Contains(string(raw), "invalid") {
		t.Errorf("the invalid request is not journaled: %s", raw)
	}
	req, _ = http.NewRequest(http.MethodGet, h.url+"/admin/usage", nil)
	req.Header.Set("Authorization", "Bearer "+user)
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("/admin/usage with a non-admin token: %d", resp.StatusCode)
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/admin/usage: %d", resp.StatusCode)
	}

	// CLI.
	// The hub runs and has signed no checkpoint yet: accepted explicitly.
	out, errOut, code := h.timon("audit", "verify", "--allow-no-checkpoint")
	if code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("verify: %d %s %s", code, out, errOut)
	}
	out, _, code = h.timon("audit", "export", "--user", "ida", "--format", "csv")
	if code != 0 || strings.Count(strings.TrimSpace(out), "\n") != 4 {
		t.Fatalf("export csv: %d\n%s", code, out)
	}
	out, _, code = h.timon("audit", "stats")
	if code != 0 || !strings.Contains(out, `"requests": 4`) {
		t.Fatalf("stats: %d\n%s", code, out)
	}
	pub, _, code := h.timon("audit", "public-key")
	if code != 0 || !strings.Contains(pub, "PUBLIC KEY") {
		t.Fatalf("public-key: %d %s", code, pub)
	}
	cps, _, code := h.timon("audit", "checkpoints")
	if code != 0 {
		t.Fatalf("checkpoints: %d", code)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "audit.pub"), []byte(pub), 0o600)
	os.WriteFile(filepath.Join(dir, "cps.jsonl"), []byte(cps), 0o600)
	out, errOut, code = h.timon("audit", "verify", "--public-key", filepath.Join(dir, "audit.pub"), "--checkpoints", filepath.Join(dir, "cps.jsonl"), "--allow-no-checkpoint")
	if code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("verify with the kept key and checkpoints: %d %s %s", code, out, errOut)
	}

	// Tampering with one entry is caught and named.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(h.data, "timon.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_entries SET data = replace(data, '"ida"', '"mallory"') WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = h.timon("audit", "verify")
	if code != 1 || !strings.Contains(errOut, "seq 2") {
		t.Fatalf("verify after tampering: %d %s", code, errOut)
	}
}

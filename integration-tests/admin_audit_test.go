package integrationtests

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// adminGet reads an admin route with a token: its status and JSON body.
func adminGet(t *testing.T, h *hub, token, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s answered %d with non-JSON %q", path, resp.StatusCode, data)
	}
	return resp.StatusCode, out
}

// TestAdminAuditShow: an administrator reads one request's entries with
// the content kept under content: full (as sent to the model, redacted),
// through the CLI and the admin route; content not kept is said so; each
// reading is journaled (who, which request, never the content) and the
// journal still verifies; a non-admin gets 403, an unknown id 404 and exit
// 1. Then retention drops the content, verifies the chain and says so, and
// reports a tampered journal.
func TestAdminAuditShow(t *testing.T) {
	fake := newFake(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "content.key")
	if err := os.WriteFile(keyFile, []byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(fmt.Sprintf(hubConfig, fake.URL()), "    - name: everyone\n",
		"    - name: archived-full\n      effect: allow\n      match: {groups: [archived]}\n      content: full\n    - name: everyone\n", 1)
	cfg += "journal:\n  content_key_file: " + keyFile + "\n"
	h := startHubWith(t, fake, cfg)
	ida := h.token("ida", "archived")
	bob := h.token("bob", "physics")
	admin := h.token("root", "admin")

	code, out, _ := h.post("/v1/assist", ida, map[string]any{"task": "explain", "input": "summarise the note from ada@lab-univ.fr about gravimetry"})
	if code != 200 {
		t.Fatalf("assist (content: full): %d %v", code, out)
	}
	full := out["request_id"].(string)
	code, out, _ = h.post("/v1/assist", bob, map[string]any{"task": "explain", "input": "x := 1"})
	if code != 200 {
		t.Fatalf("assist: %d %v", code, out)
	}
	hashed := out["request_id"].(string)

	// CLI.
	stdout, stderr, exit := h.timon("audit", "show", full)
	if exit != 0 || !strings.Contains(stdout, "request "+full+": 1 entry") ||
		!strings.Contains(stdout, "this reading is journaled: entry ") || !strings.Contains(stdout, "task read, user local:") ||
		!strings.Contains(stdout, "content: kept (content: full), as sent to the model: redacted") ||
		!strings.Contains(stdout, "--- sent to the model\n") || !strings.Contains(stdout, "gravimetry") ||
		strings.Contains(stdout, "ada@lab-univ.fr") {
		t.Fatalf("audit show (content: full): exit %d\n%s\n%s", exit, stdout, stderr)
	}
	t.Logf("timon audit show:\n%s", stdout)
	stdout, stderr, exit = h.timon("audit", "show", hashed)
	if exit != 0 || !strings.Contains(stdout, "content: content not kept: policy content: hashes") || strings.Contains(stdout, "--- sent") {
		t.Fatalf("audit show (content: hashes): exit %d\n%s\n%s", exit, stdout, stderr)
	}
	stdout, stderr, exit = h.timon("audit", "show", "req_unknown")
	if exit != 1 || stdout != "" || !strings.Contains(stderr, "no journal entry for request req_unknown") {
		t.Fatalf("audit show of an unknown id: exit %d %q %q", exit, stdout, stderr)
	}

	// Admin route.
	status, body := adminGet(t, h, admin, "/admin/audit/"+full)
	entries, _ := body["entries"].([]any)
	if status != 200 || len(entries) != 1 {
		t.Fatalf("/admin/audit/%s: %d %v", full, status, body)
	}
	e := entries[0].(map[string]any)
	content, _ := e["content"].(map[string]any)
	if e["request_id"] != full || content == nil || !strings.Contains(fmt.Sprint(content["sent"]), "gravimetry") ||
		strings.Contains(fmt.Sprint(content), "ada@lab-univ.fr") || !strings.Contains(fmt.Sprint(e["content_note"]), "redacted") {
		t.Fatalf("/admin/audit/%s: %v", full, body)
	}
	rec := body["journaled"].(map[string]any)
	if rec["user_id"] != "root" || rec["subject"] != full || rec["integration"] != "audit" || rec["task"] != "read" {
		t.Fatalf("/admin/audit/%s: the reading's entry %v", full, rec)
	}
	status, body = adminGet(t, h, admin, "/admin/audit/"+hashed)
	if entries, _ := body["entries"].([]any); status != 200 || len(entries) != 1 || entries[0].(map[string]any)["content"] != nil ||
		entries[0].(map[string]any)["content_note"] != "content not kept: policy content: hashes" {
		t.Fatalf("/admin/audit/%s: %d %v", hashed, status, body)
	}
	if status, body = adminGet(t, h, ida, "/admin/audit/"+full); status != 403 {
		t.Fatalf("/admin/audit/{id} with a non-admin token: %d %v", status, body)
	}
	if status, body = adminGet(t, h, admin, "/admin/audit/req_unknown"); status != 404 || body["code"] != "not_found" {
		t.Fatalf("/admin/audit/{unknown id}: %d %v", status, body)
	}

	// The readings are in the journal: who read which request, no content.
	stdout, stderr, exit = h.timon("audit", "tail", "--integration", "audit")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if exit != 0 || len(lines) != 4 || strings.Contains(stdout, "gravimetry") || strings.Contains(stdout, "ada@") {
		t.Fatalf("audit tail --integration audit: exit %d\n%s\n%s", exit, stdout, stderr)
	}
	for i, want := range []struct{ user, subject string }{{"local:", full}, {"local:", hashed}, {"root", full}, {"root", hashed}} {
		var r map[string]any
		json.Unmarshal([]byte(lines[i]), &r)
		if !strings.HasPrefix(fmt.Sprint(r["user_id"]), want.user) || r["subject"] != want.subject || r["task"] != "read" || r["outcome"] != "ok" {
			t.Fatalf("reading %d in the journal: %s", i, lines[i])
		}
	}
	stdout, stderr, exit = h.timon("audit", "verify", "--allow-no-checkpoint")
	if exit != 0 || !strings.Contains(stdout, "OK: 6 entries") {
		t.Fatalf("verify after the readings: exit %d\n%s\n%s", exit, stdout, stderr)
	}

	// Retention, with a CLI configuration whose retention every content
	// already passed.
	ret := *h
	ret.cfg = filepath.Join(dir, "retention.yaml")
	if err := os.WriteFile(ret.cfg, []byte(cfg+"  retention: 1ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, exit = ret.timon("audit", "retention")
	if exit != 0 || !strings.Contains(stdout, "dropped the content of 1 entry older than ") ||
		!strings.Contains(stdout, "chain verified: 6 entries, ") {
		t.Fatalf("retention: exit %d\n%s\n%s", exit, stdout, stderr)
	}
	t.Logf("timon audit retention:\n%s", stdout)
	if stdout, stderr, exit = h.timon("audit", "verify", "--allow-no-checkpoint"); exit != 0 || !strings.Contains(stdout, "OK: 6 entries") {
		t.Fatalf("verify after retention: exit %d\n%s\n%s", exit, stdout, stderr)
	}
	stdout, stderr, exit = h.timon("audit", "show", full)
	if exit != 0 || !strings.Contains(stdout, "content: content not kept: deleted by retention") || strings.Contains(stdout, "gravimetry") {
		t.Fatalf("audit show after retention: exit %d\n%s\n%s", exit, stdout, stderr)
	}

	// A tampered journal: retention says the chain does not verify.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(h.data, "timon.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_entries SET data = replace(data, '"bob"', '"mallory"') WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, exit = ret.timon("audit", "retention")
	if exit != 1 || strings.Contains(stdout, "chain verified") || !strings.Contains(stderr, "chain NOT verified after retention: TAMPERED at seq 2") {
		t.Fatalf("retention on a tampered journal: exit %d\n%s\n%s", exit, stdout, stderr)
	}
}

// TestAdminAuditWindow: since and until take the CLI's forms (7d, 24h,
// 90m, a date, an RFC 3339 time); a bad one is 400 naming the parameter
// and the forms; the answers echo the window, /admin/usage's default being
// the last 30 days and /admin/audit's the whole journal.
func TestAdminAuditWindow(t *testing.T) {
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	admin := h.token("root", "admin")
	user := h.token("ida", "physics")
	if code, out, _ := h.post("/v1/assist", user, map[string]any{"task": "explain", "input": "x := 1"}); code != 200 {
		t.Fatalf("assist: %d %v", code, out)
	}
	when := func(t *testing.T, v any) time.Time {
		t.Helper()
		ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(v))
		if err != nil {
			t.Fatalf("not an RFC 3339 time: %v", v)
		}
		return ts
	}
	for _, c := range []struct {
		path    string
		ago     time.Duration // since, this long before the request
		entries int           // -1: usage
	}{
		{"/admin/audit?since=7d", 7 * 24 * time.Hour, 1},
		{"/admin/audit?since=24h&until=2099-01-01", 24 * time.Hour, 1},
		{"/admin/usage?since=90m", 90 * time.Minute, -1},
		{"/admin/usage", 30 * 24 * time.Hour, -1},
	} {
		before := time.Now()
		status, body := adminGet(t, h, admin, c.path)
		after := time.Now()
		if status != 200 {
			t.Fatalf("%s: %d %v", c.path, status, body)
		}
		if since := when(t, body["since"]); since.Before(before.Add(-c.ago).Add(-time.Second)) || since.After(after.Add(-c.ago)) {
			t.Errorf("%s: since %v, want %v before the request", c.path, since, c.ago)
		}
		if strings.Contains(c.path, "until=") {
			if !when(t, body["until"]).Equal(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("%s: until %v", c.path, body["until"])
			}
		} else if body["until"] != nil {
			t.Errorf("%s: until %v, want null", c.path, body["until"])
		}
		if c.entries >= 0 {
			if n := len(body["entries"].([]any)); n != c.entries {
				t.Errorf("%s: %d entries", c.path, n)
			}
		} else if total := fmt.Sprint(body["stats"].(map[string]any)["total"].(map[string]any)["requests"]); total != "1" {
			t.Errorf("%s: %s requests: %v", c.path, total, body["stats"])
		}
	}
	status, body := adminGet(t, h, admin, "/admin/audit")
	if status != 200 || body["since"] != nil || body["until"] != nil || len(body["entries"].([]any)) != 1 {
		t.Fatalf("/admin/audit without a window: %d %v", status, body)
	}
	for _, bad := range []string{"/admin/audit?since=yesterday", "/admin/usage?until=7x", "/admin/audit?until=-3d"} {
		status, body := adminGet(t, h, admin, bad)
		name := strings.SplitN(strings.SplitN(bad, "?", 2)[1], "=", 2)[0]
		msg := fmt.Sprint(body["message"])
		if status != 400 || !strings.HasPrefix(msg, name+": ") || !strings.Contains(msg, "7d, 24h, 90m") || !strings.Contains(msg, "RFC 3339") {
			t.Errorf("%s: %d %v", bad, status, body)
		}
	}
}

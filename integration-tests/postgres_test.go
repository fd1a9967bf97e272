package integrationtests

import (
	"fmt"
	"strings"
	"testing"

	"timon.dev/timon/core/store/storetest"
)

// TestHubOnPostgres: the same binary on PostgreSQL (the several-replicas
// set-up): tokens, governed requests, the journal and its verification.
func TestHubOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	t.Setenv("TIMON_TEST_PG_DSN", dsn)
	fake := newFake(t)
	cfg := strings.Replace(fmt.Sprintf(hubConfig, fake.URL()), "server:\n", "store:\n  driver: postgres\n  dsn_env: TIMON_TEST_PG_DSN\nserver:\n", 1)
	h := startHubWith(t, fake, cfg)
	tok := h.token("kim", "physics")
	for _, task := range []string{"explain", "summarize"} {
		status, out, _ := h.post("/v1/assist", tok, map[string]any{"task": task, "input": "the ORION results"})
		if status != 200 || !strings.Contains(out["text"].(string), "ORION") {
			t.Fatalf("%s: %d %v", task, status, out)
		}
	}
	if !strings.Contains(h.logs.String(), `"store":"postgres"`) {
		t.Fatalf("the hub did not run on PostgreSQL:\n%s", h.logs.String())
	}
	out, errOut, code := h.timon("audit", "verify", "--allow-no-checkpoint") // the hub runs: no checkpoint yet
	if code != 0 || !strings.Contains(out, "OK: 2 entries") {
		t.Fatalf("verify: %d %s %s", code, out, errOut)
	}
}

package integrationtests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"timon.dev/timon/core/store/storetest"
)

// startReplicas starts two timon serve processes on one PostgreSQL
// database, sharing the configuration and the journal signing key, as a
// deployment behind a load balancer does.
func startReplicas(t *testing.T, extra string) (a, b *hub) {
	t.Helper()
	t.Setenv("TIMON_TEST_PG_DSN", storetest.PostgresDSN(t))
	fake := newFake(t)
	cfg := hubConfigWith(fake.URL(), "store:\n  driver: postgres\n  dsn_env: TIMON_TEST_PG_DSN\n"+extra)
	a = startHubWith(t, fake, cfg)
	key, err := os.ReadFile(filepath.Join(a.data, "audit-signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	bData := t.TempDir()
	if err := os.WriteFile(filepath.Join(bData, "audit-signing.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	b = launchHub(t, fake, a.cfg, bData)
	return a, b
}

// assist posts a chat request and returns the status and the request id.
func assist(client *http.Client, url, tok, text string) (int, string, error) {
	body, _ := json.Marshal(map[string]any{"task": "chat", "messages": []map[string]string{{"role": "user", "content": text}}})
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/assist", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out struct {
		RequestID string `json:"request_id"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.RequestID, nil
}

// journalIDs exports the journal and counts entries per request id.
func journalIDs(t *testing.T, h *hub) map[string]int {
	t.Helper()
	out, errOut, code := h.timon("audit", "export", "--format", "jsonl")
	if code != 0 {
		t.Fatalf("audit export: %d %s", code, errOut)
	}
	ids := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		ids[e.RequestID]++
	}
	return ids
}

// TestReplicasShareQuota: a user's quota is one budget across replicas,
// not one per replica.
func TestReplicasShareQuota(t *testing.T) {
	a, b := startReplicas(t, "quotas:\n  user: {requests_per_minute: 1000}\n  users: {capped: {requests_per_minute: 10}}\n")
	tok := a.token("capped")
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := a.url
			if i%2 == 1 {
				url = b.url
			}
			status, _, err := assist(http.DefaultClient, url, tok, fmt.Sprint("question ", i))
			switch {
			case err != nil:
				t.Error(err)
			case status == 200:
				ok.Add(1)
			case status == 429:
				refused.Add(1)
			default:
				t.Errorf("status %d", status)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 10 || refused.Load() != 14 {
		t.Fatalf("two replicas admitted %d and refused %d of 24 requests; the shared limit is 10 per minute", ok.Load(), refused.Load())
	}
	if out, errOut, code := b.timon("audit", "verify"); code != 0 || !strings.Contains(out, "OK: 24 entries") {
		t.Fatalf("one journal across replicas should verify with 24 entries: %d %s %s", code, out, errOut)
	}
}

// TestReplicaKilledMidLoadLosesNothing: while both replicas serve, one is
// killed with SIGKILL. Every request that was answered has exactly one
// journal entry, and the journal verifies.
func TestReplicaKilledMidLoadLosesNothing(t *testing.T) {
	a, b := startReplicas(t, "")
	tok := a.token("load")
	var (
		mu       sync.Mutex
		answered []string
		failedB  atomic.Int32
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				url := a.url
				if (w+i)%2 == 1 {
					url = b.url
				}
				status, id, err := assist(client, url, tok, fmt.Sprint("load ", w, " ", i))
				if err != nil || status != 200 {
					if url == b.url {
						failedB.Add(1)
						continue
					}
					t.Errorf("replica a: %d %v", status, err)
					continue
				}
				mu.Lock()
				answered = append(answered, id)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-b.waited
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()

	if len(answered) < 20 || failedB.Load() == 0 {
		t.Fatalf("the load did not run as planned: %d answered, %d failed on the killed replica", len(answered), failedB.Load())
	}
	ids := journalIDs(t, a)
	for _, id := range answered {
		if ids[id] != 1 {
			t.Errorf("answered request %s has %d journal entries, want 1", id, ids[id])
		}
	}
	if out, errOut, code := a.timon("audit", "verify"); code != 0 {
		t.Fatalf("the journal does not verify after a replica was killed: %s %s", out, errOut)
	}
	t.Logf("%d requests answered, %d failed on the killed replica, %d journal entries", len(answered), failedB.Load(), len(ids))
}

package integrationtests

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// readyz probes /readyz once.
func readyz(t *testing.T, h *hub) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(h.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.Ready != (resp.StatusCode == 200) {
		t.Fatalf("readyz: status %d with ready %v", resp.StatusCode, r.Ready)
	}
	return resp.StatusCode, r.Checks
}

// TestReadyNamesTheModelThatIsNotServed: an Ollama without "ollama pull"
// answers, but not for the configured model. /readyz says so, naming it
// and what is there; a request fails naming it; the recovery is logged
// once.
func TestReadyNamesTheModelThatIsNotServed(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.SetModels("codestral-latest")
	fake.ServeListedOnly(true)
	h := startHub(t, fake, fake.URL())

	status, checks := readyz(t, h)
	want := `model "mistral-small-latest" is not served (available: codestral-latest)`
	if status != 503 || checks["provider fake"] != want {
		t.Fatalf("readyz: %d %q, want 503 and %q", status, checks, want)
	}

	tok := h.token("ines")
	code, out, _ := h.post("/v1/assist", tok, map[string]any{"task": "explain", "input": "x"})
	msg, _ := out["message"].(string)
	if code != 503 || !strings.Contains(msg, `model "mistral-small-latest" is not served by provider fake`) {
		t.Fatalf("request: %d %v", code, out)
	}

	// The model is pulled: ready again, and said once.
	fake.SetModels("mistral-small-latest", "codestral-latest")
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, checks = readyz(t, h)
		if status == 200 && strings.Contains(h.logs.String(), "provider fake is ready again") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after the model was pulled: %d %v\n%s", status, checks, h.logs.String())
		}
		time.Sleep(100 * time.Millisecond) // polling /readyz, which runs its checks at most once a second
	}
	if checks["provider fake"] != "ok" {
		t.Fatalf("checks: %v", checks)
	}
	if n := strings.Count(h.logs.String(), "provider fake is ready again"); n != 1 {
		t.Fatalf("recovery logged %d times", n)
	}
	if code, out, _ := h.post("/v1/assist", tok, map[string]any{"task": "explain", "input": "x"}); code != 200 {
		t.Fatalf("after the pull: %d %v", code, out)
	}
}

// TestReadyWithoutModelList: a server that does not list its models cannot
// be checked; /readyz says so and stays ready.
func TestReadyWithoutModelList(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.HideModels(true)
	h := startHub(t, fake, fake.URL())
	status, checks := readyz(t, h)
	c := checks["provider fake"]
	if status != 200 || !strings.Contains(c, "does not list its models") || strings.Contains(c, "provider fake") {
		t.Fatalf("readyz: %d %v", status, checks)
	}
}

// TestReadyzDoesNotRepeatNames: a check's message does not start with the
// name it is shown under.
func TestReadyzDoesNotRepeatNames(t *testing.T) {
	h := startHub(t, nil, "http://"+freeAddr(t)+"/v1")
	status, checks := readyz(t, h)
	if status != 503 || checks["provider fake"] != "connection refused" {
		t.Fatalf("readyz: %d %q", status, checks)
	}
}

package integrationtests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/provider/fakellm"
)

// TestBadInputSendsNothing: every malformed or unauthorised request gets a
// 4xx JSON {code, message} and nothing reaches the model.
func TestBadInputSendsNothing(t *testing.T) {
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	tok := h.token("carol", "interns")
	revoked := h.token("dave")
	// A token for the editor only: the API's routes refuse it.
	out, errOut, code := h.timon("token", "create", "--user", "carol", "--groups", "interns", "--scope", "lsp")
	lspOnly := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(lspOnly, "timon_") {
		t.Fatalf("token create --scope lsp: %d %s %s", code, out, errOut)
	}
	list, _, _ := h.timon("token", "list", "--user", "dave")
	id := strings.Fields(strings.Split(strings.TrimSpace(list), "\n")[1])[0]
	if out, errOut, code := h.timon("token", "revoke", id); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %d %s %s", code, out, errOut)
	}

	cases := []struct {
		name   string
		path   string
		token  string
		body   any
		status int
		code   string
		says   string
	}{
		{"malformed JSON", "/v1/assist", tok, `{"task": "chat",`, 400, "invalid", "malformed JSON"},
		{"unknown field", "/v1/assist", tok, `{"task": "chat", "principal": {"user_id": "root"}}`, 400, "invalid", "principal"},
		{"unknown task", "/v1/assist", tok, map[string]any{"task": "dance", "input": "x"}, 400, "invalid", `unknown task "dance"`},
		{"task without input", "/v1/assist", tok, map[string]any{"task": "summarize"}, 400, "invalid", "needs an input"},
		{"missing token", "/v1/assist", "", map[string]any{"task": "explain", "input": "x"}, 401, "unauthenticated", "missing bearer token"},
		{"unknown token", "/v1/assist", "timon_nope", map[string]any{"task": "explain", "input": "x"}, 401, "unauthenticated", "unknown token"},
		{"revoked token", "/v1/assist", revoked, map[string]any{"task": "explain", "input": "x"}, 401, "unauthenticated", "revoked"},
		{"token scoped elsewhere", "/v1/assist", lspOnly, map[string]any{"task": "explain", "input": "x"}, 403, "denied", "may be used for lsp only, not api"},
		{"oversized body", "/v1/assist", tok, map[string]any{"task": "explain", "input": strings.Repeat("x", 70000)}, 413, "too_large", "limit"},
		{"denied by policy", "/v1/assist", tok, map[string]any{"task": "review", "input": "diff"}, 403, "denied", "reviews are for staff"},
		{"model not served", "/v1/chat/completions", tok, map[string]any{"model": "gpt-4o", "messages": []map[string]string{{"role": "user", "content": "hi"}}}, 404, "denied", "gpt-4o"},
		{"openai malformed", "/v1/chat/completions", tok, `[1,2`, 400, "invalid", "malformed JSON"},
		{"openai bad role", "/v1/chat/completions", tok, map[string]any{"model": "timon", "messages": []map[string]string{{"role": "wizard", "content": "hi"}}}, 400, "invalid", "unknown role"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := fake.Count()
			status, out, _ := h.post(c.path, c.token, c.body)
			if status != c.status || out["code"] != c.code {
				t.Fatalf("got %d %v, want %d %s", status, out, c.status, c.code)
			}
			if msg, _ := out["message"].(string); !strings.Contains(msg, c.says) {
				t.Fatalf("message %q does not say %q", msg, c.says)
			}
			if rule, ok := out["rule"]; c.code == "denied" && c.says == "reviews are for staff" && rule != "interns-no-review" {
				t.Fatalf("denial does not name the rule: %v (%v)", out, ok)
			}
			if fake.Count() != before {
				t.Fatalf("the provider was called %d time(s)", fake.Count()-before)
			}
		})
	}
}

// TestBlockedByRedactionSendsNothing: a profile that blocks secrets refuses
// the request, naming the type and never the value.
func TestBlockedByRedactionSendsNothing(t *testing.T) {
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	tok := h.token("erin", "strict")
	secret := "postgres://app:S3cr3t-Pa55w0rd@db.lab.example.org:5432/results"
	status, out, _ := h.post("/v1/assist", tok, map[string]any{"task": "explain", "input": "conn = " + secret})
	if status != 422 || out["code"] != "blocked" {
		t.Fatalf("got %d %v", status, out)
	}
	if strings.Contains(out["message"].(string), "S3cr3t") {
		t.Fatal("the error shows the secret")
	}
	if fake.Count() != 0 {
		t.Fatalf("the provider was called")
	}
}

// TestRedactionEndToEnd: the model receives placeholders only; the user
// sees the original values, in whole and streamed answers.
func TestRedactionEndToEnd(t *testing.T) {
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	tok := h.token("frank")
	values := []string{"ada.lovelace@lab-univ.fr", "06 12 34 56 78", "FR76 3000 6000 0112 3456 7890 189", "ORION", "AKIAZ3MSJV4WWNKWW5FI"}
	input := "Contact " + values[0] + " or " + values[1] + ", pay to " + values[2] + " for project ORION; key " + values[4]
	status, out, _ := h.post("/v1/assist", tok, map[string]any{"task": "chat", "messages": []map[string]string{{"role": "user", "content": input}}})
	if status != 200 {
		t.Fatalf("%d %v", status, out)
	}
	for _, v := range values {
		if !strings.Contains(out["text"].(string), v) {
			t.Errorf("answer lacks %q: %q", v, out["text"])
		}
	}
	sent := string(modelRequests(fake)[0].Body)
	for _, v := range values {
		if strings.Contains(sent, v) || strings.Contains(sent, strings.ReplaceAll(v, " ", "")) {
			t.Errorf("the model received %q", v)
		}
	}
	if !strings.Contains(sent, "[[") {
		t.Errorf("no placeholder in what the model received: %s", sent)
	}
	if red, _ := out["redactions"].(map[string]any); len(red) < 4 {
		t.Errorf("redaction counts: %v", out["redactions"])
	}
	_, done := h.stream(tok, map[string]any{"task": "chat", "stream": true, "messages": []map[string]string{{"role": "user", "content": input}}})
	for _, v := range values {
		if !strings.Contains(done["text"].(string), v) {
			t.Errorf("streamed answer lacks %q: %q", v, done["text"])
		}
	}
}

// TestProviderDown: 503 naming the provider; /readyz says why.
func TestProviderDown(t *testing.T) {
	h := startHub(t, nil, "http://"+freeAddr(t)+"/v1")
	tok := h.token("gina")
	status, out, _ := h.post("/v1/assist", tok, map[string]any{"task": "explain", "input": "x"})
	if status != 503 || out["code"] != "unavailable" || out["provider"] != "fake" || !strings.Contains(out["message"].(string), "fake") {
		t.Fatalf("got %d %v", status, out)
	}
	resp, err := http.Get(h.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ready map[string]any
	decodeJSON(t, resp, &ready)
	checks, _ := ready["checks"].(map[string]any)
	if resp.StatusCode != 503 || ready["ready"] != false || checks["store"] != "ok" || checks["provider fake"] == "ok" {
		t.Fatalf("readyz: %d %v", resp.StatusCode, ready)
	}
	if !strings.Contains(h.logs.String(), "no model answers") {
		t.Fatalf("the start-up log does not say that no model answers:\n%s", h.logs.String())
	}
}

// TestProviderTimeout: a provider slower than its timeout gives 504.
func TestProviderTimeout(t *testing.T) {
	fake := newFake(t)
	fake.Handle(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{FirstTokenDelay: 20 * time.Second} })
	h := startHub(t, fake, fake.URL())
	tok := h.token("hugo")
	status, out, _ := h.post("/v1/assist", tok, map[string]any{"task": "explain", "input": "x"})
	if status != 504 || out["code"] != "timeout" || out["provider"] != "fake" {
		t.Fatalf("got %d %v", status, out)
	}
}

// TestReadyWhenProviderAnswers: /readyz is green with a live model.
func TestReadyWhenProviderAnswers(t *testing.T) {
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	resp, err := http.Get(h.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ready map[string]any
	decodeJSON(t, resp, &ready)
	if resp.StatusCode != 200 || ready["ready"] != true {
		t.Fatalf("readyz: %d %v", resp.StatusCode, ready)
	}
}

// TestReadyWhileOneProviderAnswers: providers fail over to each other, so
// one that answers keeps the replica ready (a load balancer must not drop
// every replica because a secondary endpoint is down); none answering
// makes it not ready. Either way /readyz names the one that is down.
func TestReadyWhileOneProviderAnswers(t *testing.T) {
	fake := newFake(t)
	down := "http://" + freeAddr(t) + "/v1"
	providers := func(first, second string) string {
		return fmt.Sprintf("providers:\n"+
			"  - {name: primary, kind: mistral, base_url: %s, models: [mistral-small-latest, codestral-latest], sovereign: true}\n"+
			"  - {name: backup, kind: mistral, base_url: %s, models: [mistral-small-latest, codestral-latest], sovereign: true}\n", first, second)
	}
	for _, tc := range []struct {
		name          string
		first, second string
		status        int
	}{
		{"backup down", fake.URL(), down, 200},
		{"both down", down, down, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHubWith(t, fake, hubConfigWith(tc.first, providers(tc.first, tc.second)))
			resp, err := http.Get(h.url + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var ready struct {
				Ready  bool              `json:"ready"`
				Checks map[string]string `json:"checks"`
			}
			decodeJSON(t, resp, &ready)
			if resp.StatusCode != tc.status || ready.Ready != (tc.status == 200) {
				t.Fatalf("readyz: %d %+v", resp.StatusCode, ready)
			}
			if c := ready.Checks["provider backup"]; c == "ok" || c == "" {
				t.Fatalf("the down backup is not named: %+v", ready.Checks)
			}
		})
	}
}

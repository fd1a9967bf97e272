package integrationtests

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAssistDecodingErrors: a body /v1/assist cannot take gets 400 invalid
// with a message in JSON's terms — the field's path, the type expected and
// found — never Go's, and nothing reaches the model.
func TestAssistDecodingErrors(t *testing.T) {
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	tok := h.token("fatima", "physics")
	const tasks = "chat, complete, rewrite, summarize, explain, review"

	cases := []struct {
		name, body, says string
	}{
		{"unknown field", `{"task": "explain", "inptu": "x"}`, `unknown field "inptu"`},
		{"unknown nested field", `{"task": "explain", "input": "x", "origin": {"file": "a.go"}}`, `unknown field "file"`},
		{"string given a number", `{"task": "explain", "input": 42}`, `field "input": expected a string, got a number`},
		{"boolean given a string", `{"task": "explain", "input": "x", "stream": "yes"}`, `field "stream": expected true or false, got a string`},
		{"integer given a fraction", `{"task": "explain", "input": "x", "max_tokens": 1.5}`, `field "max_tokens": expected an integer, got the number 1.5`},
		{"array given an object", `{"task": "chat", "messages": {"role": "user"}}`, `field "messages": expected an array, got an object`},
		{"nested field", `{"task": "chat", "messages": [{"role": "user", "content": 7}]}`, `field "messages.content": expected a string, got a number`},
		{"body not an object", `["explain", "x"]`, `the body: expected an object, got an array`},
		{"trailing data", `{"task": "explain", "input": "x"} {"task": "chat"}`, `unexpected data after the JSON body`},
		{"trailing garbage", `{"task": "explain", "input": "x"}]`, `unexpected data after the JSON body`},
		{"truncated", `{"task": "explain", "input": "x"`, `malformed JSON body`},
		{"empty body", ``, `empty body: expected a JSON object`},
		{"missing task", `{"input": "x"}`, `missing "task": one of ` + tasks},
		{"unknown task", `{"task": "translate", "input": "x"}`, `unknown task "translate" (expected one of ` + tasks + `)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := fake.Count()
			status, out, _ := h.post("/v1/assist", tok, c.body)
			msg, _ := out["message"].(string)
			if status != http.StatusBadRequest || out["code"] != "invalid" {
				t.Fatalf("got %d %v, want 400 invalid", status, out)
			}
			if c.name == "truncated" {
				if !strings.HasPrefix(msg, c.says) {
					t.Fatalf("message %q does not start with %q", msg, c.says)
				}
			} else if msg != c.says {
				t.Fatalf("message %q, want %q", msg, c.says)
			}
			for _, goism := range []string{"Go struct", "json:", "cannot unmarshal", "AssistRequest", "remote.", "core.", "int ", "float64"} {
				if strings.Contains(msg, goism) {
					t.Fatalf("message %q speaks Go (%q)", msg, goism)
				}
			}
			if fake.Count() != before {
				t.Fatalf("the provider was called %d time(s)", fake.Count()-before)
			}
		})
	}

	// The same body without the trailing data is answered: the refusal
	// was about the trailing data alone.
	if status, out, _ := h.post("/v1/assist", tok, `{"task": "explain", "input": "x"}`+"\n"); status != http.StatusOK {
		t.Fatalf("a body with a trailing newline: %d %v", status, out)
	}
}

// TestOpenAPIServedByHub: the hub serves its OpenAPI 3.1 reference without
// a token, and the document describes /v1/assist's tasks.
func TestOpenAPIServedByHub(t *testing.T) {
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	resp, err := http.Get(h.url + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %s %s %.200s", resp.Status, resp.Header.Get("Content-Type"), data)
	}
	var doc struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	for _, p := range []string{"/v1/assist", "/v1/chat/completions", "/admin/audit", "/openapi.json"} {
		if doc.Paths[p] == nil {
			t.Errorf("the document has no %s", p)
		}
	}
}

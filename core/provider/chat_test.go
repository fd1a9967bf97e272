package provider_test

import (
	"encoding/json"
	"strings"
	"testing"

	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/provider/fakellm"
)

func TestChat(t *testing.T) {
	fake := startFake(t)
	c := newClient(t, provider.Config{Name: "local", BaseURL: fake.URL(), APIKey: "sk-test-key", Models: []string{"m1", "m2"}})
	zero := 0.0
	res, err := c.Chat(testContext(t), provider.ChatRequest{
		Messages: []provider.Message{
			{Role: "system", Content: "be brief"},
			{Role: "user", Content: "hello <PERSON_1>"},
		},
		MaxTokens:   64,
		Temperature: &zero,
		Stop:        []string{"\n\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "echo: hello <PERSON_1>" {
		t.Errorf("Text = %q", res.Text)
	}
	if res.Provider != "local" || res.Model != "m1" || res.FinishReason != "stop" {
		t.Errorf("Provider, Model, FinishReason = %q, %q, %q; want local, m1 (first configured), stop", res.Provider, res.Model, res.FinishReason)
	}
	if res.Usage.PromptTokens == 0 || res.Usage.CompletionTokens == 0 {
		t.Errorf("Usage = %+v, want counts", res.Usage)
	}

	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("fake got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Path != "/v1/chat/completions" || r.Model != "m1" || r.Stream {
		t.Errorf("request path, model, stream = %q, %q, %v", r.Path, r.Model, r.Stream)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer sk-test-key" {
		t.Errorf("Authorization = %q", got)
	}
	if len(r.Messages) != 2 || r.Messages[0] != (provider.Message{Role: "system", Content: "be brief"}) {
		t.Errorf("messages = %+v", r.Messages)
	}
	if r.MaxTokens != 64 || r.Temperature == nil || *r.Temperature != 0 || len(r.Stop) != 1 || r.Stop[0] != "\n\n" {
		t.Errorf("max_tokens, temperature, stop = %d, %v, %q", r.MaxTokens, r.Temperature, r.Stop)
	}
	if r.ResponseFormat != nil {
		t.Errorf("response_format sent without a schema: %s", r.ResponseFormat)
	}
}

func TestChatReportsServedModel(t *testing.T) {
	fake := startFake(t)
	fake.Enqueue(fakellm.Reply{Text: "ok", Model: "mistral-small-2506", FinishReason: "length"})
	c := newClient(t, provider.Config{BaseURL: fake.URL()})
	res, err := c.Chat(testContext(t), provider.ChatRequest{Model: "mistral-small-latest", Messages: userChat("hi").Messages})
	if err != nil {
		t.Fatal(err)
	}
	if res.Model != "mistral-small-2506" || res.FinishReason != "length" {
		t.Errorf("Model, FinishReason = %q, %q", res.Model, res.FinishReason)
	}
	if got := fake.Requests()[0].Model; got != "mistral-small-latest" {
		t.Errorf("requested model = %q", got)
	}
}

func TestChatJSONSchema(t *testing.T) {
	fake := startFake(t)
	fake.Enqueue(fakellm.Reply{Text: `{"ok":true}`})
	c := newClient(t, provider.Config{BaseURL: fake.URL()})
	schema := json.RawMessage(`{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]}`)
	req := userChat("review")
	req.JSONSchema = &provider.JSONSchema{Name: "review", Schema: schema, Strict: true}
	res, err := c.Chat(testContext(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != `{"ok":true}` {
		t.Errorf("Text = %q", res.Text)
	}
	var rf struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Name   string          `json:"name"`
			Strict bool            `json:"strict"`
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	}
	if err := json.Unmarshal(fake.Requests()[0].ResponseFormat, &rf); err != nil {
		t.Fatalf("response_format: %v", err)
	}
	if rf.Type != "json_schema" || rf.JSONSchema.Name != "review" || !rf.JSONSchema.Strict || !strings.Contains(string(rf.JSONSchema.Schema), `"required":["ok"]`) {
		t.Errorf("response_format = %+v (schema %s)", rf, rf.JSONSchema.Schema)
	}
}

func TestChatInvalidRequestSendsNothing(t *testing.T) {
	fake := startFake(t)
	c := newClient(t, provider.Config{BaseURL: fake.URL()})
	cases := map[string]provider.ChatRequest{
		"no messages":  {},
		"unknown role": {Messages: []provider.Message{{Role: "tool", Content: "x"}}},
		"bad schema":   {Messages: userChat("x").Messages, JSONSchema: &provider.JSONSchema{Schema: json.RawMessage(`{`)}},
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := c.Chat(testContext(t), req)
			e := asError(t, err)
			if e.Retryable || !strings.HasPrefix(e.Reason, "invalid request") {
				t.Errorf("error = %+v", e)
			}
		})
	}
	if n := fake.Count(); n != 0 {
		t.Errorf("fake got %d requests", n)
	}
}

func TestNoModelAnywhere(t *testing.T) {
	fake := startFake(t)
	c := newClient(t, provider.Config{BaseURL: fake.URL(), Models: []string{}})
	_, err := c.Chat(testContext(t), userChat("hi"))
	if e := asError(t, err); !strings.Contains(e.Reason, "no model") {
		t.Errorf("Reason = %q", e.Reason)
	}
	if !c.Serves("anything") {
		t.Error("an endpoint without listed models should serve any model")
	}
}

// An empty APIKey sends no Authorization header, even when OPENAI_API_KEY
// is set: the environment must never leak a key to another server.
func TestNoKeyFromEnvironment(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-from-env")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	t.Setenv("OPENAI_ORG_ID", "org-env")
	fake := startFake(t)
	c := newClient(t, provider.Config{BaseURL: fake.URL()})
	if _, err := c.Chat(testContext(t), userChat("hi")); err != nil {
		t.Fatal(err)
	}
	h := fake.Requests()[0].Header
	if h.Get("Authorization") != "" || h.Get("OpenAI-Organization") != "" {
		t.Errorf("headers leak the environment: %v", h)
	}
}

// Reasons never carry the key or the prompt, whatever went wrong.
func TestErrorsHoldNoSecrets(t *testing.T) {
	const key, prompt = "sk-very-secret", "my unpublished result 42"
	fake := startFake(t)
	c := newClient(t, provider.Config{BaseURL: fake.URL(), APIKey: key, MaxRetries: -1})
	for _, status := range []int{400, 401, 404, 422, 429, 500, 503} {
		fake.Enqueue(fakellm.Reply{Status: status})
		_, err := c.Chat(testContext(t), userChat(prompt))
		e := asError(t, err)
		if e.StatusCode != status {
			t.Errorf("StatusCode = %d, want %d", e.StatusCode, status)
		}
		for _, s := range []string{e.Error(), e.Reason} {
			if strings.Contains(s, key) || strings.Contains(s, prompt) || strings.Contains(s, "scripted") {
				t.Errorf("status %d: error %q holds a secret or upstream text", status, s)
			}
		}
	}
}

func TestPing(t *testing.T) {
	fake := startFake(t)
	c := newClient(t, provider.Config{BaseURL: fake.URL()})
	if err := c.Ping(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if r := fake.Requests(); len(r) != 1 || r[0].Path != "/v1/models" {
		t.Errorf("requests = %+v", r)
	}
	if fake.Count() != 0 {
		t.Error("/models counted as a model request")
	}

	down := newClient(t, provider.Config{BaseURL: closedURL(t)})
	err := down.Ping(testContext(t))
	if e := asError(t, err); e.Reason != "connection refused" || !e.Retryable {
		t.Errorf("error = %+v", e)
	}
}

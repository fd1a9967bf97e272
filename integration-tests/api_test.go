package integrationtests

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"timon.dev/timon/core/provider/fakellm"
)

func newFake(t *testing.T) *fakellm.Server { return newFakeB(t) }

// modelRequests are what fakellm received, without the readiness probes.
func modelRequests(f *fakellm.Server) []fakellm.Request {
	var out []fakellm.Request
	for _, r := range f.Requests() {
		if !strings.HasSuffix(r.Path, "/models") {
			out = append(out, r)
		}
	}
	return out
}

func newFakeB(t testing.TB) *fakellm.Server {
	f := fakellm.New()
	t.Cleanup(f.Close)
	return f
}

// TestAssistEveryTask: each task through /v1/assist, whole and streamed.
func TestAssistEveryTask(t *testing.T) {
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	tok := h.token("alice", "physics")

	// LaTeX rewrites (masked, verified, answered once whole) have their own
	// end-to-end test over the evaluation corpus: latex_eval_test.go.
	tasks := []map[string]any{
		{"task": "chat", "messages": []map[string]string{{"role": "user", "content": "Bonjour, qui es-tu ?"}}},
		{"task": "complete", "prefix": "func add(a, b int) int {", "suffix": "\n}\n", "origin": map[string]string{"path": "add.go", "language": "go"}},
		{"task": "rewrite", "input": "This results are very good.", "instruction": "grammar"},
		{"task": "summarize", "input": "A long thread about the cluster maintenance."},
		{"task": "explain", "input": "for i := range 10 { fmt.Println(i) }"},
		{"task": "review", "input": "--- a/x.go\n+++ b/x.go\n@@ -1 +1 @@\n-a\n+b\n"},
	}
	for _, body := range tasks {
		task := body["task"].(string)
		t.Run(task+"/whole", func(t *testing.T) {
			before := fake.Count()
			status, out, _ := h.post("/v1/assist", tok, body)
			if status != 200 {
				t.Fatalf("status %d: %v", status, out)
			}
			if text, _ := out["text"].(string); text == "" {
				t.Fatalf("empty answer: %v", out)
			}
			if id, _ := out["request_id"].(string); !strings.HasPrefix(id, "req_") {
				t.Fatalf("no request id: %v", out)
			}
			if fake.Count() != before+1 {
				t.Fatalf("the provider got %d requests, want 1", fake.Count()-before)
			}
			reqs := modelRequests(fake)
			last := reqs[len(reqs)-1]
			if task == "complete" {
				if last.Path != "/v1/fim/completions" || last.Prompt != "func add(a, b int) int {" || last.Suffix != "\n}\n" || last.Model != "codestral-latest" {
					t.Fatalf("FIM request: %+v", last)
				}
			} else if last.Path != "/v1/chat/completions" || last.Model != "mistral-small-latest" {
				t.Fatalf("chat request: path %s model %s", last.Path, last.Model)
			}
		})
		t.Run(task+"/stream", func(t *testing.T) {
			streamed := copyMap(body)
			streamed["stream"] = true
			deltas, done := h.stream(tok, streamed)
			if len(deltas) < 2 {
				t.Fatalf("expected several deltas, got %d", len(deltas))
			}
			if done["text"] == "" {
				t.Fatalf("the stream ended with an empty answer: %v", done)
			}
			if strings.Join(deltas, "") != done["text"] {
				t.Fatalf("deltas %q do not add up to the final text %q", strings.Join(deltas, ""), done["text"])
			}
		})
	}
}

func copyMap(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// stream posts a streaming request and reads its server-sent events.
func (h *hub) stream(tok string, body map[string]any) (deltas []string, done map[string]any) {
	h.t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, h.url+"/v1/assist", strings.NewReader(string(data)))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		h.t.Fatalf("stream answered %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = e
			continue
		}
		d, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		switch event {
		case "delta":
			var v struct{ Text string }
			json.Unmarshal([]byte(d), &v)
			deltas = append(deltas, v.Text)
		case "done":
			json.Unmarshal([]byte(d), &done)
			return deltas, done
		case "error":
			h.t.Fatalf("stream error event: %s", d)
		}
	}
	h.t.Fatalf("stream ended without a done event (%v)", sc.Err())
	return nil, nil
}

// TestOpenAICompatibleWithOfficialClient: a third-party OpenAI client goes
// through the same governance.
func TestOpenAICompatibleWithOfficialClient(t *testing.T) {
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	tok := h.token("bob")
	client := openai.NewClient(option.WithBaseURL(h.url+"/v1"), option.WithAPIKey(tok), option.WithMaxRetries(0))
	ctx := ctxT(t)

	params := openai.ChatCompletionNewParams{
		Model:    "timon",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("Write to ada@lab-univ.fr about ORION")},
	}
	resp, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Choices[0].Message.Content
	if !strings.Contains(got, "ada@lab-univ.fr") || !strings.Contains(got, "ORION") {
		t.Fatalf("answer not restored: %q", got)
	}
	if resp.Usage.TotalTokens == 0 {
		t.Fatalf("no usage reported")
	}
	reqs := modelRequests(fake)
	sent := reqs[len(reqs)-1]
	if strings.Contains(string(sent.Body), "ada@lab-univ.fr") || strings.Contains(string(sent.Body), "ORION") {
		t.Fatalf("the model received the raw values: %s", sent.Body)
	}

	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         "timon",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Stream a reply mentioning ada@lab-univ.fr please")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	acc := openai.ChatCompletionAccumulator{}
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if chunks < 3 || !strings.Contains(acc.Choices[0].Message.Content, "ada@lab-univ.fr") {
		t.Fatalf("stream: %d chunks, content %q", chunks, acc.Choices[0].Message.Content)
	}
	if acc.Usage.TotalTokens == 0 {
		t.Fatalf("streamed usage missing")
	}

	// An error reaches the client in OpenAI's shape: a model no provider
	// serves is OpenAI's 404.
	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: params.Messages})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" || !strings.Contains(apiErr.Message, "gpt-4o") {
		t.Fatalf("a model no provider serves: %v", err)
	}
}

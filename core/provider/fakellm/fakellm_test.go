package fakellm_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/provider/fakellm"
)

func start(t *testing.T) *fakellm.Server {
	t.Helper()
	s := fakellm.New()
	t.Cleanup(s.Close)
	return s
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// post sends body to path and returns the response, body read.
func post(t *testing.T, ctx context.Context, url, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// events splits an SSE body into its data payloads.
func events(t *testing.T, body []byte) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("line %q is not an SSE data line", line)
		}
		out = append(out, data)
	}
	return out
}

type chunk struct {
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

func decode(t *testing.T, s string) chunk {
	t.Helper()
	var c chunk
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return c
}

func TestStreamWire(t *testing.T) {
	const text = "héllo wörld ✓ 日本語\n\"quoted\"\t\\"
	for _, includeUsage := range []bool{true, false} {
		s := start(t)
		s.Enqueue(fakellm.Reply{Text: text, Usage: &provider.Usage{PromptTokens: 3, CompletionTokens: 5}})
		body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		if includeUsage {
			body = `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
		}
		res, b := post(t, testContext(t), s.URL()+"/chat/completions", body)
		if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("Content-Type = %q", ct)
		}
		evs := events(t, b)
		if evs[len(evs)-1] != "[DONE]" {
			t.Fatalf("last event %q, want [DONE]", evs[len(evs)-1])
		}
		evs = evs[:len(evs)-1]
		if first := decode(t, evs[0]); first.Choices[0].Delta.Role != "assistant" || first.Object != "chat.completion.chunk" || first.Model != "m" {
			t.Errorf("first chunk %s", evs[0])
		}
		var got strings.Builder
		var finish *chunk
		var usage *chunk
		for _, e := range evs[1:] {
			c := decode(t, e)
			switch {
			case len(c.Choices) == 0:
				usage = &c
			case c.Choices[0].FinishReason != nil:
				finish = &c
			default:
				d := *c.Choices[0].Delta.Content
				if !utf8.ValidString(d) || len(d) > 4+3 || len(d) == 0 {
					t.Errorf("chunk %q: want 4 bytes, extended to a rune boundary", d)
				}
				got.WriteString(d)
			}
		}
		if got.String() != text {
			t.Errorf("chunks join to %q", got.String())
		}
		if finish == nil || *finish.Choices[0].FinishReason != "stop" {
			t.Fatal("no finish chunk")
		}
		if includeUsage {
			if usage == nil || usage.Usage.PromptTokens != 3 || usage.Usage.CompletionTokens != 5 || finish.Usage != nil {
				t.Errorf("include_usage: want a separate usage chunk")
			}
		} else if usage != nil || finish.Usage == nil || finish.Usage.TotalTokens != 8 {
			t.Errorf("without include_usage: want usage on the finish chunk (Mistral style)")
		}
	}
}

func TestCompletionShapes(t *testing.T) {
	s := start(t)
	ctx := testContext(t)

	_, b := post(t, ctx, s.URL()+"/completions", `{"model":"c","prompt":"func add(a, b int) int {\n","suffix":"}"}`)
	c := decode(t, string(b))
	if c.Object != "text_completion" || c.Choices[0].Text != "\n\treturn a + b\n}" || c.Usage == nil {
		t.Errorf("completions answer %s", b)
	}

	_, b = post(t, ctx, s.URL()+"/fim/completions", `{"model":"codestral-latest","prompt":"x = ","suffix":"\n"}`)
	c = decode(t, string(b))
	if c.Object != "chat.completion" || c.Choices[0].Message.Content != "return nil" || c.Model != "codestral-latest" {
		t.Errorf("fim answer %s", b)
	}

	_, b = post(t, ctx, s.URL()+"/completions", `{"model":"c","prompt":"x","stream":true}`)
	var text strings.Builder
	for _, e := range events(t, b) {
		if e == "[DONE]" {
			break
		}
		if c := decode(t, e); len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Text)
		}
	}
	if text.String() != "return nil" {
		t.Errorf("streamed completion %q", text.String())
	}

	reqs := s.Requests()
	if len(reqs) != 3 || reqs[0].Prompt != "func add(a, b int) int {\n" || reqs[0].Suffix != "}" || reqs[1].Path != "/v1/fim/completions" {
		t.Errorf("requests %+v", reqs)
	}
}

func TestErrorReply(t *testing.T) {
	s := start(t)
	s.Enqueue(fakellm.Reply{Status: 429, RetryAfter: 1500 * time.Millisecond})
	res, b := post(t, testContext(t), s.URL()+"/chat/completions", `{"model":"m","messages":[]}`)
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "2" {
		t.Errorf("status %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	var e struct {
		Error struct {
			Message, Type string
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Type != "rate_limit_exceeded" || e.Error.Message == "" {
		t.Errorf("error body %s", b)
	}
}

func TestRoutes(t *testing.T) {
	s := start(t)
	s.SetModels("a", "b")
	res, err := http.Get(s.URL() + "/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Data []struct{ ID string } `json:"data"`
	}
	err = json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if err != nil || len(list.Data) != 2 || list.Data[1].ID != "b" {
		t.Errorf("models %+v, %v", list, err)
	}
	if res, _ := post(t, testContext(t), s.URL()+"/audio/speech", `{}`); res.StatusCode != 404 {
		t.Errorf("unknown route answered %d", res.StatusCode)
	}
	if res, _ := post(t, testContext(t), s.URL()+"/chat/completions", `{not json`); res.StatusCode != 400 {
		t.Errorf("bad JSON answered %d", res.StatusCode)
	}
	if s.Count() != 0 {
		t.Errorf("Count = %d; /models and undecodable bodies are not model requests", s.Count())
	}
}

func TestScriptOrder(t *testing.T) {
	s := start(t)
	s.Handle(func(r fakellm.Request) fakellm.Reply { return fakellm.Reply{Text: "handled " + r.LastUser()} })
	s.Enqueue(fakellm.Reply{Text: "one"}, fakellm.Reply{Text: "two"})
	ctx := testContext(t)
	var got []string
	for range 3 {
		_, b := post(t, ctx, s.URL()+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"text","text":"y"}]}]}`)
		got = append(got, decode(t, string(b)).Choices[0].Message.Content)
	}
	if strings.Join(got, ",") != "one,two,handled xy" {
		t.Errorf("answers %q", got)
	}
	s.Reset()
	_, b := post(t, ctx, s.URL()+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":"z"}]}`)
	if c := decode(t, string(b)); c.Choices[0].Message.Content != "echo: z" || s.Count() != 1 || len(s.Requests()) != 1 {
		t.Errorf("after Reset: %s, Count %d", b, s.Count())
	}
}

func TestConcurrentClients(t *testing.T) {
	s := start(t)
	ctx := testContext(t)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				_, b := post(t, ctx, s.URL()+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
				if c := decode(t, string(b)); c.Choices[0].Message.Content != "echo: hi" {
					t.Errorf("answer %s", b)
				}
			}
		})
	}
	wg.Wait()
	if s.Count() != 320 || len(s.Requests()) != 320 {
		t.Errorf("Count %d, %d recorded; want 320", s.Count(), len(s.Requests()))
	}
}

func TestHangUntilClientLeaves(t *testing.T) {
	s := start(t)
	s.Enqueue(fakellm.Reply{Hang: true})
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/chat/completions", strings.NewReader(`{}`))
		_, err := http.DefaultClient.Do(req)
		done <- err
	}()
	if err := s.WaitCount(testContext(t), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := s.WaitCancelled(testContext(t), 1); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Error("a hanging request returned")
	}
}

// Close does not wait for a request that hangs with its client still there.
func TestCloseReleasesHangs(t *testing.T) {
	s := fakellm.New()
	s.Handle(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{Hang: true} })
	go func() {
		res, err := http.Post(s.URL()+"/chat/completions", "application/json", strings.NewReader(`{}`))
		if err == nil {
			res.Body.Close()
		}
	}()
	if err := s.WaitCount(testContext(t), 1); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
}

// BenchmarkDirectChat is the baseline: a chat request with a 4 KB prompt
// sent straight to fakellm with net/http, no provider in between.
func BenchmarkDirectChat(b *testing.B) {
	s := fakellm.New()
	defer s.Close()
	s.Record(false)
	prompt := strings.Repeat("Summarise the attached lab notebook page. ", 4096/42+1)[:4096]
	body, _ := json.Marshal(map[string]any{
		"model":    "fake-model",
		"messages": []map[string]string{{"role": "user", "content": prompt}},
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := s.URL() + "/chat/completions"
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		res, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatal(res.Status)
		}
	}
}

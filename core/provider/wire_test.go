package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"
)

// The wire is checked against what openai-go sent and read.

// Texts with what JSON escapes, and what HTML escaping would.
const (
	controlText = "tab\tnew line\ncarriage\rbell\abs\bff\f\x00\x1f\x7f"
	htmlText    = "Bonjour <PERSON_1>, le résultat est 42 ✓ — voilà & co."
)

var answerSeeds = []string{
	`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"fake-model","choices":[{"index":0,"message":{"role":"assistant","content":"echo: hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`,
	`{"id":"cmpl-1","object":"text_completion","model":"m","choices":[{"index":0,"text":"\n\treturn a + b\n}","logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":10,"completion_tokens":20}}`,
	`{"choices":[{"message":{"content":"a \"quoted\" \u00e9 \ud83d\ude00 word","tool_calls":[{"id":"x","function":{"arguments":"{}"}}]},"finish_reason":null},{"message":{"content":"second"}}],"model":null}`,
	`{"choices":[]}`, `{}`, `null`, ` {"model" : "m" , "choices" : [ { } ] } `, `{"choices":null,"usage":null}`,
	`{"model":"m","choices":[{"message":null}],"usage":{"prompt_tokens":-0,"completion_tokens":1e2}}`,
	`{"model":"m1","model":"m2","choices":[{"finish_reason":"stop","finish_reason":"length"}]}`,
	`{"choices":[{"message":{"content":"x"}}]} trailing`, `{"a":[1,2,{"b":[true,false,null,-1.5e-3]}],"choices":[{}]}`,
	`{"model":"m\u0041","ch\u006fices":[{}]}`,
}

var chunkSeeds = []string{
	`{"id":"chatcmpl-fake-1","object":"chat.completion.chunk","created":1,"model":"fake-model","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n",
	`{"id":"c","model":"fake-model","choices":[{"index":0,"delta":{"content":"wo\nrd"},"finish_reason":null}]}`,
	`{"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":17}}`,
	`{"model":"m","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":17,"total_tokens":28}}`,
	`{"choices":[{"index":1,"delta":{"content":"other"}},{"delta":{"content":"first"},"index":0}]}`,
	`{"error":{"message":"overloaded","type":"server_error"}}`, `{"error":null}`, `{"error":"boom"}`,
	`{"choices":[{"index":0,"delta":{"content":"a"}}]} x`, `[]`, `{"choices":[{"index":0.0,"delta":null}]}`,
}

var sseSeeds = []string{
	"data: {\"a\":1}\n\ndata: [DONE]\n\n",
	"data:{\"a\":1}\r\n\r\n: comment\n\nevent: x\ndata: one\ndata: two\n\nid: 3\nretry: 10\n\n",
	"\n\n\ndata: a\n\ndata: unfinished",
	"data\n\ndata:  two spaces\n\nnocolon\ndata: x\n\n",
	"data: " + strings.Repeat("long ", 5000) + "\n\n",
}

// FuzzSSE checks sseReader against openai-go's event stream decoder, with
// the stream arriving in pieces of every size.
func FuzzSSE(f *testing.F) {
	for _, s := range sseSeeds {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, stream string, mode uint8) {
		var want []string
		dec := ssestream.NewDecoder(&http.Response{Body: io.NopCloser(strings.NewReader(stream))})
		for dec.Next() {
			want = append(want, string(dec.Event().Data))
		}
		var body io.Reader = strings.NewReader(stream)
		switch mode % 3 {
		case 1:
			body = iotest.OneByteReader(body)
		case 2:
			body = iotest.HalfReader(body)
		}
		var (
			s   sseReader
			got []string
		)
		s.buf = make([]byte, 16) // grows as needed
		s.reset(body)
		for {
			data, ok := s.next()
			if !ok {
				break
			}
			got = append(got, string(data))
		}
		if s.Err() != nil || dec.Err() != nil {
			t.Fatalf("errors %v, %v", s.Err(), dec.Err())
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: events %q, want %q", stream, got, want)
		}
	})
}

func TestSSEReadError(t *testing.T) {
	boom := errors.New("boom")
	var s sseReader
	s.reset(io.MultiReader(strings.NewReader("data: 1\n\ndata: 2"), iotest.ErrReader(boom)))
	if data, ok := s.next(); !ok || string(data) != "1\n" {
		t.Fatalf("first event %q, %v", data, ok)
	}
	if data, ok := s.next(); ok || s.Err() != boom {
		t.Fatalf("second event %q, %v, err %v; want none and boom", data, ok, s.Err())
	}
}

// refChatParams is how the client built its request with openai-go.
func refChatParams(model string, req ChatRequest, stream bool, kind Kind) openai.ChatCompletionNewParams {
	p := openai.ChatCompletionNewParams{Model: model}
	for _, m := range req.Messages {
		switch m.Role {
		case "system":
			p.Messages = append(p.Messages, openai.SystemMessage(m.Content))
		case "user":
			p.Messages = append(p.Messages, openai.UserMessage(m.Content))
		case "assistant":
			p.Messages = append(p.Messages, openai.AssistantMessage(m.Content))
		}
	}
	if req.MaxTokens > 0 {
		p.MaxTokens = param.NewOpt(int64(req.MaxTokens))
	}
	if req.Temperature != nil {
		p.Temperature = param.NewOpt(*req.Temperature)
	}
	if len(req.Stop) > 0 {
		p.Stop.OfStringArray = req.Stop
	}
	if s := req.JSONSchema; s != nil {
		name := s.Name
		if name == "" {
			name = "response"
		}
		js := shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: name, Schema: s.Schema}
		if s.Strict {
			js.Strict = param.NewOpt(true)
		}
		p.ResponseFormat.OfJSONSchema = &shared.ResponseFormatJSONSchemaParam{JSONSchema: js}
	}
	if stream && kind == KindOpenAI {
		p.StreamOptions.IncludeUsage = param.NewOpt(true)
	}
	return p
}

func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("reference %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body\n%s\nwant (as openai-go sent it)\n%s", got, want)
	}
}

// The bodies are the ones openai-go sent.
func TestBodiesMatchOpenAIGo(t *testing.T) {
	temp, zero := 0.7, 0.0
	chats := []ChatRequest{
		{Messages: []Message{{Role: "user", Content: "hi"}}},
		{Model: "mistral-small-latest", Messages: []Message{{"system", "be brief"}, {"user", controlText}, {"assistant", htmlText}, {"user", "ok"}},
			MaxTokens: 64, Temperature: &zero, Stop: []string{"\n\n", "END"}},
		{Messages: []Message{{"user", "review"}}, Temperature: &temp,
			JSONSchema: &JSONSchema{Schema: json.RawMessage("{\n  \"type\": \"object\",\n  \"properties\": {\"ok\": {\"type\": \"boolean\"}}\n}"), Strict: true}},
		{Messages: []Message{{"user", "x"}}, JSONSchema: &JSONSchema{Name: "n", Schema: json.RawMessage(`{"type":"string"}`)}},
	}
	for _, kind := range []Kind{KindOpenAI, KindMistral} {
		c, err := New(Config{Name: "t", Kind: kind, BaseURL: "http://127.0.0.1:1/v1", Models: []string{"fake-model"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, req := range chats {
			for _, stream := range []bool{false, true} {
				body, model, e := c.chatBody(&req, stream)
				if e != nil {
					t.Fatal(e)
				}
				want, err := json.Marshal(refChatParams(model, req, stream, kind))
				if err != nil {
					t.Fatal(err)
				}
				if stream { // openai-go's NewStreaming set it with WithJSONSet
					want = append(want[:len(want)-1], `,"stream":true}`...)
				}
				sameJSON(t, body, want)
			}
		}
		fims := []FIMRequest{
			{Prompt: "package m\n\nfunc add(a, b int) int {", Suffix: "\n}\n", MaxTokens: 32, Temperature: &zero, Stop: []string{"\nfunc "}},
			{Model: "codestral-latest", Prompt: "x := "},
		}
		for _, req := range fims {
			body, model, e := c.fimBody(&req)
			if e != nil {
				t.Fatal(e)
			}
			var want []byte
			if kind == KindMistral {
				want, err = json.Marshal(struct {
					Model       string   `json:"model"`
					Prompt      string   `json:"prompt"`
					Suffix      string   `json:"suffix,omitempty"`
					MaxTokens   int      `json:"max_tokens,omitempty"`
					Temperature *float64 `json:"temperature,omitempty"`
					Stop        []string `json:"stop,omitempty"`
				}{model, req.Prompt, req.Suffix, req.MaxTokens, req.Temperature, req.Stop})
			} else {
				p := openai.CompletionNewParams{
					Model:  openai.CompletionNewParamsModel(model),
					Prompt: openai.CompletionNewParamsPromptUnion{OfString: param.NewOpt(req.Prompt)},
				}
				if req.Suffix != "" {
					p.Suffix = param.NewOpt(req.Suffix)
				}
				if req.MaxTokens > 0 {
					p.MaxTokens = param.NewOpt(int64(req.MaxTokens))
				}
				if req.Temperature != nil {
					p.Temperature = param.NewOpt(*req.Temperature)
				}
				if len(req.Stop) > 0 {
					p.Stop.OfStringArray = req.Stop
				}
				want, err = json.Marshal(p)
			}
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, body, want)
		}
	}
}

// Bodies are not HTML-escaped, as the servers' own clients send them.
func TestBodyNotHTMLEscaped(t *testing.T) {
	c, err := New(Config{Name: "t", BaseURL: "http://127.0.0.1:1/v1", Models: []string{"m"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _, e := c.chatBody(&ChatRequest{Messages: []Message{{"user", htmlText}}}, false)
	if e != nil {
		t.Fatal(e)
	}
	if want := `{"model":"m","messages":[{"role":"user","content":"` + htmlText + `"}]}`; string(body) != want {
		t.Errorf("body %s, want %s", body, want)
	}
}

// answerServer answers every request with doc as JSON.
func answerServer(t *testing.T, doc string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, doc)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Plain answers read as openai-go read them, for what servers send; a value
// of the wrong type reads as its zero value.
func TestDecodeAnswer(t *testing.T) {
	for _, tc := range []struct {
		doc    string
		legacy bool
		want   Result // Provider is "t"
		err    error
	}{
		{doc: answerSeeds[0], want: Result{Text: "echo: hi", Model: "fake-model", FinishReason: "stop", Usage: Usage{1, 2}}},
		{doc: answerSeeds[1], legacy: true, want: Result{Text: "\n\treturn a + b\n}", Model: "m", FinishReason: "length", Usage: Usage{10, 20}}},
		{doc: answerSeeds[2], want: Result{Text: "a \"quoted\" é 😀 word", Model: "requested"}},
		{doc: answerSeeds[3], err: ErrEmptyAnswer},
		{doc: answerSeeds[4], err: ErrEmptyAnswer},
		{doc: answerSeeds[5], err: ErrEmptyAnswer},
		{doc: answerSeeds[10], want: Result{Text: "x", Model: "requested"}},
		{doc: `{"model":"m","choices":[{"message":{"content":"x"},"finish_reason":5}],"usage":{"prompt_tokens":"12","completion_tokens":3}}`,
			want: Result{Text: "x", Model: "m", Usage: Usage{CompletionTokens: 3}}},
	} {
		kind := KindMistral // FIM answers like a chat completion
		if tc.legacy {
			kind = KindOpenAI
		}
		c, err := New(Config{Name: "t", Kind: kind, BaseURL: answerServer(t, tc.doc), Models: []string{"requested"}, MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.FIM(context.Background(), FIMRequest{Prompt: "p"})
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: error %v, want %v", tc.doc, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.doc, err)
			continue
		}
		tc.want.Provider = "t"
		if *res != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.doc, *res, tc.want)
		}
	}
	// Not JSON at all.
	c, err := New(Config{Name: "t", BaseURL: answerServer(t, `{"choices":[`), Models: []string{"m"}, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Chat(context.Background(), ChatRequest{Messages: []Message{{"user", "x"}}})
	if e, ok := err.(*Error); !ok || e.Reason != "connection closed by upstream" {
		t.Errorf("truncated answer: %v", err)
	}
}

// streamServer answers every request with events as a server-sent stream.
func streamServer(t *testing.T, events ...string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range events {
			_, _ = io.WriteString(w, "data: "+e+"\n\n")
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Stream events: only choice 0 is read; an "error" member ends the stream.
func TestDecodeChunks(t *testing.T) {
	c, err := New(Config{Name: "t", BaseURL: streamServer(t, chunkSeeds[0], chunkSeeds[4], chunkSeeds[1], `{"choices":[{"index":0.0,"delta":null}]}`, chunkSeeds[2], "[DONE]"),
		Models: []string{"m"}, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	res, err := c.ChatStream(context.Background(), ChatRequest{Messages: []Message{{"user", "x"}}}, func(d string) error {
		got = append(got, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []string{"first", "wo\nrd"}) || res.Text != "firstwo\nrd" || res.Model != "m" || res.FinishReason != "stop" || res.Usage != (Usage{11, 17}) {
		t.Errorf("deltas %q, result %+v", got, res)
	}
	for _, ev := range []string{chunkSeeds[5], chunkSeeds[6], chunkSeeds[7]} {
		c, err := New(Config{Name: "t", BaseURL: streamServer(t, ev), Models: []string{"m"}, MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ChatStream(context.Background(), ChatRequest{Messages: []Message{{"user", "x"}}}, func(string) error { return nil })
		if e, ok := err.(*Error); !ok || e.Reason != "error reported by upstream mid-stream" || !e.Retryable {
			t.Errorf("%s: error %v", ev, err)
		}
	}
	// Trailing garbage after an event's JSON is refused.
	c, err = New(Config{Name: "t", BaseURL: streamServer(t, chunkSeeds[8]), Models: []string{"m"}, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ChatStream(context.Background(), ChatRequest{Messages: []Message{{"user", "x"}}}, func(string) error { return nil })
	if e, ok := err.(*Error); !ok || e.Reason != "invalid answer from upstream" {
		t.Errorf("trailing garbage: error %v", err)
	}
}

func TestTemperatureMustBeFinite(t *testing.T) {
	c, err := New(Config{Name: "t", BaseURL: "http://127.0.0.1:1/v1", Models: []string{"m"}})
	if err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	_, _, e := c.chatBody(&ChatRequest{Messages: []Message{{"user", "x"}}, Temperature: &nan}, false)
	if e == nil || e.Retryable || !strings.HasPrefix(e.Reason, "invalid request") {
		t.Errorf("error = %+v", e)
	}
}

// The watchdog fires Timeout after the last touch, not after the start.
func TestWatchdog(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w := startWatchdog(timeout, cancel)
	defer w.stop()
	start := time.Now()
	for time.Since(start) < 3*timeout {
		time.Sleep(timeout / 5) // the activity under test: a touch every fifth of the timeout
		w.touch()
		if ctx.Err() != nil {
			t.Fatalf("cancelled after %v despite touches", time.Since(start))
		}
	}
	touched := time.Now()
	<-ctx.Done()
	if idle := time.Since(touched); idle < timeout || !errors.Is(context.Cause(ctx), errAttemptTimeout) {
		t.Errorf("cancelled %v after the last touch with cause %v; want %v and errAttemptTimeout", idle, context.Cause(ctx), timeout)
	}
}

func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json": true, "application/json; charset=utf-8": true, "Application/JSON": true,
		"application/problem+json": true, "text/html": false, "": false, "text/plain; charset=utf-8": false,
	} {
		if isJSON(ct) != want {
			t.Errorf("isJSON(%q) = %v", ct, !want)
		}
	}
}

// A stream whose body ends a little after [DONE] leaves its connection to
// the next call.
func TestStreamConnectionReused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: "+chunkSeeds[1]+"\n\ndata: "+chunkSeeds[2]+"\n\ndata: [DONE]\n\n")
		w.(http.Flusher).Flush()
		time.Sleep(5 * time.Millisecond) // the end of the body comes later
	}))
	defer srv.Close()
	c, err := New(Config{Name: "t", BaseURL: srv.URL, Models: []string{"m"}})
	if err != nil {
		t.Fatal(err)
	}
	reused := 0
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if info.Reused {
				reused++
			}
		},
	})
	for range 3 {
		res, err := c.ChatStream(ctx, ChatRequest{Messages: []Message{{"user", "hi"}}}, func(string) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if res.Text != "wo\nrd" || res.FinishReason != "stop" || res.Usage.CompletionTokens != 17 {
			t.Fatalf("Result = %+v", res)
		}
	}
	if reused != 2 {
		t.Errorf("%d of 2 later calls reused the connection", reused)
	}
}

// The decoding of a 4 KB chat answer and of a stream event, as the
// hand-written reader measured it before (same names, same input).

func BenchmarkReadAnswer(b *testing.B) {
	benchAnswer(b, `"echo: `+strings.Repeat("Summarise the attached lab notebook page. ", 100)[:4096]+`"`)
}

func BenchmarkReadAnswerEscaped(b *testing.B) {
	benchAnswer(b, `"`+strings.Repeat(`Le résultat \"final\" est:\n\t- 42 ✓\n`, 120)+`"`) // JSON escapes
}

func benchAnswer(b *testing.B, content string) {
	data := []byte(`{"id":"chatcmpl-fake-1","object":"chat.completion","created":1764216000,"model":"fake-model","choices":[{"index":0,"message":{"role":"assistant","content":` +
		content + `},"finish_reason":"stop"}],"usage":{"prompt_tokens":1024,"completion_tokens":1026,"total_tokens":2050}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var a chatAnswer
		if err := json.NewDecoder(bytes.NewReader(data)).Decode(&a); err != nil || len(a.Choices) != 1 {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadChunk(b *testing.B) {
	data := []byte(chunkSeeds[1])
	b.ReportAllocs()
	for b.Loop() {
		var ch chunk
		if err := json.Unmarshal(data, &ch); err != nil || len(ch.Choices) != 1 {
			b.Fatal(err)
		}
	}
}

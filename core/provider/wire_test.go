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
	"unicode/utf8"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	"timon.dev/timon/core/provider/internal/jsonw"
)

// The hand-written wire code is checked against encoding/json and against
// what openai-go sent and read.

var stringSeeds = []string{
	"", "a", "plain ASCII text that is long enough to use the word path",
	`quote " backslash \ slash /`, "tab\tnew line\ncarriage\rbell\abs\bff\f\x00\x1f\x7f",
	"Bonjour <PERSON_1>, le résultat est 42 ✓ — voilà & co.", "emoji 😀 and 𝄞",
	"line sep \u2028 para sep \u2029", "bad utf8 \xff\xfe end", "truncated \xe2\x82",
	"surrogate-ish \xed\xa0\x80", strings.Repeat("Summarise the attached lab notebook page. ", 100),
	"<script>alert('x')</script>",
}

// encodeStd is encoding/json's encoding of v without HTML escaping.
func encodeStd(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendString(t *testing.T) {
	for _, s := range stringSeeds {
		if got, want := jsonw.AppendString(nil, s), encodeStd(t, s); !bytes.Equal(got, want) {
			t.Errorf("jsonw.AppendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := jsonw.AppendString([]byte("x"), s), append([]byte("x"), encodeStd(t, s)...); !bytes.Equal(got, want) {
			t.Errorf("jsonw.AppendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func TestAppendFloat(t *testing.T) {
	for _, f := range []float64{0, 1, 0.7, -0.2, 1e-7, 1.5e-9, 2e21, 123456789, 1e20, math.SmallestNonzeroFloat64, math.MaxFloat64} {
		if got, want := appendFloat(nil, f), encodeStd(t, f); !bytes.Equal(got, want) {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

// FuzzReadString checks jsonReader's strings against encoding/json: same
// verdict on validity, same value.
func FuzzReadString(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add(string(encodeStd(f, s)))
	}
	for _, s := range []string{`"\ud83d\ude00"`, `"\ud83d"`, `"\ude00\ud83d"`, `"\ud83d\u0041"`, `"\u00e9\/\b"`, `"\x"`, `"\u12"`, "\"a\x01\"", `"abc`, `"\"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var want string
		wantErr := json.Unmarshal([]byte(doc), &want)
		if !strings.HasPrefix(doc, `"`) {
			return
		}
		var r jsonReader
		r.reset([]byte(doc))
		got := r.str()
		ok := r.err == nil && r.atEnd()
		if ok != (wantErr == nil) {
			t.Fatalf("%q: read ok %v, encoding/json error %v", doc, ok, wantErr)
		}
		if ok && string(got) != want {
			t.Fatalf("%q: read %q, encoding/json %q", doc, got, want)
		}
	})
}

// oracle extracts from an answer or chunk decoded by encoding/json into
// generic values what jsonReader extracts. skip reports a value whose
// reading is openai-go's rather than encoding/json's (not a string where a
// string is meant, a fraction or huge number where an integer is meant).
type oracle struct {
	skip bool
}

func (o *oracle) text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	}
	o.skip = true
	return ""
}

func (o *oracle) integer(v any) int {
	switch v := v.(type) {
	case nil:
		return 0
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int(v)
		}
	}
	o.skip = true
	return 0
}

func (o *oracle) object(v any) map[string]any {
	switch v := v.(type) {
	case nil:
		return nil
	case map[string]any:
		return v
	}
	o.skip = true
	return nil
}

func (o *oracle) usage(v any) Usage {
	m := o.object(v)
	return Usage{PromptTokens: o.integer(m["prompt_tokens"]), CompletionTokens: o.integer(m["completion_tokens"])}
}

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

// FuzzReadAnswer checks readAnswer against encoding/json on plain answers.
func FuzzReadAnswer(f *testing.F) {
	for _, s := range answerSeeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, doc string, legacy bool) {
		var r jsonReader
		got, ok := readAnswer(&r, []byte(doc), "requested", legacy)
		var v any
		stdErr := json.NewDecoder(strings.NewReader(doc)).Decode(&v)
		if stdErr != nil {
			if ok {
				t.Fatalf("%q: read %+v, encoding/json error %v", doc, got, stdErr)
			}
			return
		}
		if !ok {
			// A value of the wrong type in place of an object or array:
			// the encoding/json fallback reads it.
			if _, err := decodeAnswer(&r, []byte(doc), "requested", legacy); err != nil {
				t.Fatalf("%q: valid JSON refused: %v", doc, err)
			}
			return
		}
		var (
			o    oracle
			want answer
		)
		root := o.object(v)
		want.model = o.text(root["model"])
		if chs, isArray := root["choices"].([]any); isArray {
			want.choices = len(chs)
			if len(chs) > 0 {
				ch := o.object(chs[0])
				want.finish = o.text(ch["finish_reason"])
				if legacy {
					want.text = o.text(ch["text"])
				} else {
					want.text = o.text(o.object(ch["message"])["content"])
				}
			}
		} else if root["choices"] != nil {
			o.skip = true
		}
		want.usage = o.usage(root["usage"])
		if !o.skip && got != want {
			t.Fatalf("%q: read %+v, want %+v", doc, got, want)
		}
	})
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

// FuzzReadChunk checks readChunk against encoding/json on stream events.
func FuzzReadChunk(f *testing.F) {
	for _, s := range chunkSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var (
			r  jsonReader
			ch chunk
		)
		ok := readChunk(&r, []byte(doc), &ch, "known")
		var v any
		stdErr := json.Unmarshal([]byte(doc), &v)
		if stdErr != nil {
			if ok {
				t.Fatalf("%q: read %+v, encoding/json error %v", doc, ch, stdErr)
			}
			return
		}
		if !ok {
			if err := decodeChunk(&r, []byte(doc), &ch, "known"); err != nil {
				t.Fatalf("%q: valid JSON refused: %v", doc, err)
			}
			return
		}
		var (
			o    oracle
			want chunk
		)
		root := o.object(v)
		want.model = o.text(root["model"])
		if chs, isArray := root["choices"].([]any); isArray {
			for _, c := range chs {
				cm := o.object(c)
				if o.integer(cm["index"]) != 0 {
					continue
				}
				if d := o.text(o.object(cm["delta"])["content"]); d != "" {
					want.deltas = append(want.deltas, d)
				}
				if f := o.text(cm["finish_reason"]); f != "" {
					want.finish = f
				}
			}
		} else if root["choices"] != nil {
			o.skip = true
		}
		want.usage = o.usage(root["usage"])
		if e, has := root["error"]; has {
			want.hasError = true
			if s, isString := e.(string); isString {
				want.errorText = s
			} else if e != nil {
				want.errorText = ch.errorText // raw JSON: not compared
			}
		}
		if len(ch.deltas) == 0 {
			ch.deltas = nil
		}
		if !o.skip && !reflect.DeepEqual(ch, want) {
			t.Fatalf("%q: read %+v, want %+v", doc, ch, want)
		}
	})
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
		{Model: "mistral-small-latest", Messages: []Message{{"system", "be brief"}, {"user", stringSeeds[4]}, {"assistant", stringSeeds[5]}, {"user", "ok"}},
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
	const timeout = 200 * time.Millisecond
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w := startWatchdog(timeout, cancel)
	defer w.stop()
	start := time.Now()
	for time.Since(start) < 3*timeout {
		time.Sleep(timeout / 5)
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

func TestHasControl(t *testing.T) {
	for i := 0; i < 40; i++ {
		for _, c := range []byte{0, 0x1f, 0x20, 0x7f, 0x80, 0xff} {
			b := bytes.Repeat([]byte{'a'}, 40)
			b[i] = c
			if got, want := hasControl(b), c < 0x20; got != want {
				t.Errorf("byte %#x at %d: hasControl = %v", c, i, got)
			}
		}
	}
	if !utf8.ValidString(stringSeeds[5]) {
		t.Fatal("seed")
	}
}

func BenchmarkAppendString(b *testing.B) {
	s := strings.Repeat("Summarise the attached lab notebook page. ", 100)[:4096]
	buf := make([]byte, 0, 8192)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = jsonw.AppendString(buf[:0], s)
	}
}

func BenchmarkReadAnswer(b *testing.B) {
	data := []byte(`{"id":"chatcmpl-fake-1","object":"chat.completion","created":1764216000,"model":"fake-model","choices":[{"index":0,"message":{"role":"assistant","content":"echo: ` +
		strings.Repeat("Summarise the attached lab notebook page. ", 100)[:4096] + `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1024,"completion_tokens":1026,"total_tokens":2050}}`)
	var r jsonReader
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, ok := readAnswer(&r, data, "fake-model", false); !ok {
			b.Fatal("refused")
		}
	}
}

func BenchmarkReadAnswerEscaped(b *testing.B) {
	text := strings.Repeat(`Le résultat \"final\" est:\n\t- 42 ✓\n`, 120) // JSON escapes
	data := []byte(`{"id":"chatcmpl-fake-1","object":"chat.completion","created":1764216000,"model":"fake-model","choices":[{"index":0,"message":{"role":"assistant","content":"` +
		text + `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1024,"completion_tokens":1026,"total_tokens":2050}}`)
	var r jsonReader
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, ok := readAnswer(&r, data, "fake-model", false); !ok {
			b.Fatal("refused")
		}
	}
}

func BenchmarkReadChunk(b *testing.B) {
	data := []byte(chunkSeeds[1])
	var (
		r  jsonReader
		ch chunk
	)
	b.ReportAllocs()
	for b.Loop() {
		if !readChunk(&r, data, &ch, "fake-model") {
			b.Fatal("refused")
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

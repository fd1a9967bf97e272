package fakellm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/provider/internal/jsonw"
)

// route is the dialect of a model endpoint.
type route int

const (
	routeChat route = iota + 1
	routeFIM        // Mistral: answer shaped like a chat completion
	routeCompletions
	routeEmbeddings
	routeModerations     // POST /moderations: texts
	routeChatModerations // POST /chat/moderations: conversations (Mistral)
)

// wireRequest is the union of the JSON bodies the server accepts.
type wireRequest struct {
	Model         string          `json:"model"`
	Messages      []wireMessage   `json:"messages"`
	Prompt        flexText        `json:"prompt"`
	Suffix        string          `json:"suffix"`
	Stream        bool            `json:"stream"`
	MaxTokens     int             `json:"max_tokens"`
	Temperature   *float64        `json:"temperature"`
	Stop          flexList        `json:"stop"`
	StreamOptions *streamOptions  `json:"stream_options"`
	ResponseFmt   json.RawMessage `json:"response_format"`
	Input         json.RawMessage `json:"input"`
	Dimensions    int             `json:"dimensions"`
	OutputDim     int             `json:"output_dimension"`
}

type wireMessage struct {
	Role    string   `json:"role"`
	Content flexText `json:"content"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// flexText is a string, or an array of strings or of {"text": ...} parts,
// joined.
type flexText string

func (t *flexText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] == 'n' {
		*t = ""
		return nil
	}
	if b[0] == '"' {
		// b was checked by the enclosing decode: without escapes or invalid
		// UTF-8 it is its own content, and decoding it again would double
		// the cost of reading a request.
		if len(b) >= 2 {
			if inner := b[1 : len(b)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
				*t = flexText(inner)
				return nil
			}
		}
		var s string
		err := json.Unmarshal(b, &s)
		*t = flexText(s)
		return err
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil {
		return err
	}
	var sb strings.Builder
	for _, p := range parts {
		var s string
		if json.Unmarshal(p, &s) != nil {
			var part struct {
				Text string `json:"text"`
			}
			if err := json.Unmarshal(p, &part); err != nil {
				return err
			}
			s = part.Text
		}
		sb.WriteString(s)
	}
	*t = flexText(sb.String())
	return nil
}

// flexList is a string or an array of strings.
type flexList []string

func (l *flexList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || b[0] == 'n':
		*l = nil
		return nil
	case b[0] == '"':
		var s string
		err := json.Unmarshal(b, &s)
		*l = flexList{s}
		return err
	}
	return json.Unmarshal(b, (*[]string)(l))
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	var rt route
	switch strings.TrimPrefix(r.URL.Path, "/v1") {
	case "/chat/completions":
		rt = routeChat
	case "/fim/completions":
		rt = routeFIM
	case "/completions":
		rt = routeCompletions
	case "/embeddings":
		rt = routeEmbeddings
	case "/moderations":
		rt = routeModerations
	case "/chat/moderations":
		rt = routeChatModerations
	case "/models":
		if r.Method != http.MethodGet {
			writeError(w, http.StatusMethodNotAllowed, 0, "use GET")
			return
		}
		s.arrived(Request{Path: r.URL.Path, Header: r.Header}, false)
		s.mu.Lock()
		unlisted := s.unlisted
		s.mu.Unlock()
		if unlisted {
			writeError(w, http.StatusNotFound, 0, "no route "+r.URL.Path)
			return
		}
		s.writeModels(w)
		return
	default:
		writeError(w, http.StatusNotFound, 0, "no route "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, 0, "use POST")
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, 0, "cannot read body")
		return
	}
	var wr wireRequest
	if err := json.Unmarshal(body, &wr); err != nil {
		writeError(w, http.StatusBadRequest, 0, "body is not valid JSON for this route")
		return
	}
	req := Request{
		Path:           r.URL.Path,
		Model:          wr.Model,
		Prompt:         string(wr.Prompt),
		Suffix:         wr.Suffix,
		Stream:         wr.Stream,
		IncludeUsage:   wr.StreamOptions != nil && wr.StreamOptions.IncludeUsage,
		MaxTokens:      wr.MaxTokens,
		Temperature:    wr.Temperature,
		Stop:           wr.Stop,
		Header:         r.Header,
		Body:           body,
		ResponseFormat: wr.ResponseFmt,
		Dimensions:     max(wr.Dimensions, wr.OutputDim),
	}
	if err := decodeInput(rt, wr.Input, &req); err != nil {
		writeError(w, http.StatusBadRequest, 0, "body is not valid JSON for this route")
		return
	}
	if len(wr.Messages) > 0 {
		req.Messages = make([]provider.Message, len(wr.Messages))
		for i, m := range wr.Messages {
			req.Messages[i] = provider.Message{Role: m.Role, Content: string(m.Content)}
		}
	}
	reply, _ := s.arrived(req, true)
	if s.refuses(req.Model) {
		// Ollama's answer for a model that was not pulled.
		writeError(w, http.StatusNotFound, 0, fmt.Sprintf("model %q not found, try pulling it first", req.Model))
		return
	}
	if rt == routeEmbeddings {
		s.mu.Lock()
		off := s.noEmbeddings
		s.mu.Unlock()
		if off {
			writeError(w, http.StatusNotFound, 0, "no route "+r.URL.Path)
			return
		}
	}
	s.answer(w, r, rt, &req, &reply)
}

// readBody reads the whole body in one allocation when its length is known.
func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n < 64<<20 {
		b := make([]byte, n)
		_, err := io.ReadFull(r.Body, b)
		return b, err
	}
	return io.ReadAll(io.LimitReader(r.Body, 64<<20))
}

// answer serves reply to req.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, rt route, req *Request, reply *Reply) {
	ctx := r.Context()
	if reply.Hang {
		select {
		case <-ctx.Done():
			s.gone()
		case <-s.done:
		}
		return
	}
	if reply.Status != 0 && reply.Status != http.StatusOK {
		if !s.pause(ctx, reply.FirstTokenDelay) {
			s.goneIf(ctx)
			return
		}
		writeError(w, reply.Status, reply.RetryAfter, "scripted error")
		return
	}
	if rt == routeEmbeddings {
		if !s.pause(ctx, reply.FirstTokenDelay) {
			s.goneIf(ctx)
			return
		}
		writeEmbeddings(w, req, reply)
		return
	}
	if rt == routeModerations || rt == routeChatModerations {
		if !s.pause(ctx, reply.FirstTokenDelay) {
			s.goneIf(ctx)
			return
		}
		s.writeModeration(w, req, reply)
		return
	}
	text := reply.Text
	if text == "" {
		text = defaultText(rt, req)
	}
	model := reply.Model
	if model == "" {
		model = req.Model
	}
	if model == "" {
		model = "fake-model"
	}
	finish := reply.FinishReason
	if finish == "" {
		finish = "stop"
	}
	usage := provider.Usage{PromptTokens: tokens(promptLen(req)), CompletionTokens: tokens(len(text))}
	if reply.Usage != nil {
		usage = *reply.Usage
	}
	a := answerParts{
		rt: rt, id: s.seq.Add(1), created: time.Now().Unix(),
		model: model, text: text, finish: finish, usage: usage,
	}
	if reply.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(reply.RetryAfter))
	}
	if req.Stream {
		s.stream(w, r, &a, req.IncludeUsage, reply)
		return
	}
	if !s.pause(ctx, reply.FirstTokenDelay) {
		s.goneIf(ctx)
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	b := a.appendFull((*buf)[:0])
	*buf = b
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if reply.CutAfter > 0 {
		_, _ = w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	if _, err := w.Write(b); err != nil {
		s.goneIf(ctx)
	}
}

// goneIf counts the request as abandoned when its client went away.
func (s *Server) goneIf(ctx interface{ Err() error }) {
	if ctx.Err() != nil {
		s.gone()
	}
}

// stream serves a as server-sent events.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, a *answerParts, includeUsage bool, reply *Reply) {
	ctx := r.Context()
	fl := w.(http.Flusher)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	if !s.pause(ctx, reply.FirstTokenDelay) {
		s.goneIf(ctx)
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	send := func(b []byte) bool {
		*buf = b
		if _, err := w.Write(b); err != nil {
			s.goneIf(ctx)
			return false
		}
		fl.Flush()
		return true
	}
	if a.rt != routeCompletions && !send(a.appendChunk((*buf)[:0], "", true, "", false)) {
		return
	}
	size := reply.ChunkSize
	if size <= 0 {
		size = 4
	}
	text := a.text
	for n := 0; len(text) > 0; n++ {
		if n > 0 && !s.pause(ctx, reply.ChunkDelay) {
			s.goneIf(ctx)
			return
		}
		if ctx.Err() != nil {
			s.gone()
			return
		}
		cut := min(size, len(text))
		for cut < len(text) && !utf8.RuneStart(text[cut]) {
			cut++
		}
		if !send(a.appendChunk((*buf)[:0], text[:cut], false, "", false)) {
			return
		}
		text = text[cut:]
		if reply.CutAfter > 0 && n+1 >= reply.CutAfter {
			panic(http.ErrAbortHandler)
		}
	}
	if !send(a.appendChunk((*buf)[:0], "", false, a.finish, !includeUsage)) {
		return
	}
	if includeUsage && !send(a.appendUsageChunk((*buf)[:0])) {
		return
	}
	send(append((*buf)[:0], "data: [DONE]\n\n"...))
}

// defaultText is the unscripted answer.
func defaultText(rt route, req *Request) string {
	if rt == routeChat {
		if verdict, ok := guardVerdict(req.LastUser()); ok {
			return verdict
		}
		return "echo: " + req.LastUser()
	}
	if strings.HasSuffix(strings.TrimRight(req.Prompt, " \t\r\n"), "func add(a, b int) int {") {
		return "\n\treturn a + b\n}"
	}
	return "return nil"
}

func promptLen(req *Request) int {
	n := len(req.Prompt) + len(req.Suffix)
	for _, m := range req.Messages {
		n += len(m.Content)
	}
	return n
}

// tokens estimates a token count: about one per 4 bytes, at least 1.
func tokens(n int) int { return max(1, (n+3)/4) }

func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// writeError answers an OpenAI-style JSON error.
func writeError(w http.ResponseWriter, status int, retryAfter time.Duration, msg string) {
	typ := "invalid_request_error"
	switch {
	case status == http.StatusTooManyRequests:
		typ = "rate_limit_exceeded"
	case status >= 500:
		typ = "server_error"
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if retryAfter > 0 {
		h.Set("Retry-After", retryAfterSeconds(retryAfter))
	}
	w.WriteHeader(status)
	b := []byte(`{"error":{"message":`)
	b = jsonw.AppendString(b, "fakellm: "+msg+" ("+strconv.Itoa(status)+")")
	b = append(b, `,"type":`...)
	b = jsonw.AppendString(b, typ)
	b = append(b, `,"param":null,"code":`...)
	b = jsonw.AppendString(b, strconv.Itoa(status))
	b = append(b, "}}"...)
	_, _ = w.Write(b)
}

func (s *Server) writeModels(w http.ResponseWriter) {
	s.mu.Lock()
	models := s.models
	s.mu.Unlock()
	b := []byte(`{"object":"list","data":[`)
	for i, m := range models {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = jsonw.AppendString(b, m)
		b = append(b, `,"object":"model","created":0,"owned_by":"fakellm"}`...)
	}
	b = append(b, "]}"...)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// answerParts is everything an answer says, encoded by hand to keep the
// server cheap next to the code it measures.
type answerParts struct {
	rt      route
	id      int64
	created int64
	model   string
	text    string
	finish  string
	usage   provider.Usage
}

func (a *answerParts) appendHead(b []byte, object string) []byte {
	b = append(b, `{"id":"`...)
	if a.rt == routeCompletions {
		b = append(b, "cmpl-fake-"...)
	} else {
		b = append(b, "chatcmpl-fake-"...)
	}
	b = strconv.AppendInt(b, a.id, 10)
	b = append(b, `","object":"`...)
	b = append(b, object...)
	b = append(b, `","created":`...)
	b = strconv.AppendInt(b, a.created, 10)
	b = append(b, `,"model":`...)
	b = jsonw.AppendString(b, a.model)
	return b
}

func (a *answerParts) appendUsage(b []byte) []byte {
	b = append(b, `"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(a.usage.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(a.usage.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(a.usage.PromptTokens+a.usage.CompletionTokens), 10)
	return append(b, '}')
}

// appendFull encodes a non-streamed answer.
func (a *answerParts) appendFull(b []byte) []byte {
	if a.rt == routeCompletions {
		b = a.appendHead(b, "text_completion")
		b = append(b, `,"choices":[{"index":0,"text":`...)
		b = jsonw.AppendString(b, a.text)
		b = append(b, `,"logprobs":null,"finish_reason":`...)
	} else {
		b = a.appendHead(b, "chat.completion")
		b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
		b = jsonw.AppendString(b, a.text)
		b = append(b, `},"finish_reason":`...)
	}
	b = jsonw.AppendString(b, a.finish)
	b = append(b, `}],`...)
	b = a.appendUsage(b)
	return append(b, '}')
}

// appendChunk encodes one SSE event: the role announcement, a piece of
// text, or the finish (with usage when withUsage).
func (a *answerParts) appendChunk(b []byte, text string, role bool, finish string, withUsage bool) []byte {
	b = append(b, "data: "...)
	if a.rt == routeCompletions {
		b = a.appendHead(b, "text_completion")
		b = append(b, `,"choices":[{"index":0,"text":`...)
		b = jsonw.AppendString(b, text)
		b = append(b, `,"logprobs":null`...)
	} else {
		b = a.appendHead(b, "chat.completion.chunk")
		b = append(b, `,"choices":[{"index":0,"delta":{`...)
		switch {
		case role:
			b = append(b, `"role":"assistant","content":""`...)
		case finish == "":
			b = append(b, `"content":`...)
			b = jsonw.AppendString(b, text)
		}
		b = append(b, '}')
	}
	b = append(b, `,"finish_reason":`...)
	if finish == "" {
		b = append(b, "null"...)
	} else {
		b = jsonw.AppendString(b, finish)
	}
	b = append(b, "}]"...)
	if withUsage {
		b = append(b, ',')
		b = a.appendUsage(b)
	}
	return append(b, "}\n\n"...)
}

// appendUsageChunk encodes the include_usage chunk: no choices, usage.
func (a *answerParts) appendUsageChunk(b []byte) []byte {
	b = append(b, "data: "...)
	if a.rt == routeCompletions {
		b = a.appendHead(b, "text_completion")
	} else {
		b = a.appendHead(b, "chat.completion.chunk")
	}
	b = append(b, `,"choices":[],`...)
	b = a.appendUsage(b)
	return append(b, "}\n\n"...)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 1<<20 {
		bufPool.Put(b)
	}
}

// Package fakellm is a wire-level test double for the LLM endpoints of
// package provider: a real HTTP server on 127.0.0.1 speaking the OpenAI chat
// completions wire (plain and server-sent events), OpenAI legacy completions,
// Mistral FIM and the model list, with scripted answers, errors, delays, cut
// streams and hangs. Every test and benchmark of the project that needs a
// model uses it.
//
// Routes, under {URL()} = http://127.0.0.1:PORT/v1:
//
//	POST /chat/completions  chat; default answer "echo: <last user message>"
//	POST /fim/completions   Mistral FIM; answer shaped like a chat completion
//	POST /completions       OpenAI legacy completions (prompt, suffix); choices[0].text
//	POST /embeddings        embeddings: one Vector(input, dimensions) per input
//	                        (dimensions or output_dimension; default 8)
//	POST /moderations       moderation of texts: Mistral's shape, or OpenAI's for a
//	                        model named omni-moderation-* or text-moderation-*, or
//	                        after OpenAIModeration(true); scores from SetModeration
//	POST /chat/moderations  Mistral's moderation of conversations
//	GET  /models            the model list (mistral-small-latest, codestral-latest,
//	                        fake-model unless SetModels says otherwise)
//
// A chat request whose last user message is a guard model prompt (it lists
// "<BEGIN UNSAFE CONTENT CATEGORIES>") is answered as a guard model would:
// "safe", or "unsafe" and the codes of the categories named by markers
// "[flag:NAME]" in the conversation (see moderation.go).
//
// The default FIM answer is "\n\treturn a + b\n}" after a prompt ending in
// "func add(a, b int) int {", else "return nil".
//
// Streams send one chunk per ChunkSize bytes of text (default 4, never
// splitting a UTF-8 rune), then a chunk with finish_reason, then, when the
// client set stream_options.include_usage, a usage chunk with no choices (the
// OpenAI way), otherwise usage rides on the finish chunk (the Mistral way);
// then "data: [DONE]".
//
// A Server is safe for concurrent use.
package fakellm

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"timon.dev/timon/core/provider"
)

// Request is what the server received, decoded.
type Request struct {
	// Path is the URL path, e.g. "/v1/chat/completions".
	Path     string
	Model    string
	Messages []provider.Message
	// Prompt and Suffix are those of FIM and legacy completions.
	Prompt, Suffix string
	// Inputs are the texts of an embeddings or moderation request;
	// Dimensions the embeddings' dimensions (or Mistral's
	// output_dimension).
	Inputs     []string
	Dimensions int
	// Conversations are those of a Mistral chat moderation request
	// (POST /chat/moderations).
	Conversations [][]provider.Message
	Stream        bool
	// IncludeUsage is stream_options.include_usage.
	IncludeUsage bool
	MaxTokens    int
	Temperature  *float64
	Stop         []string
	Header       http.Header
	// Body is the raw JSON body.
	Body []byte
	// ResponseFormat is the raw response_format, nil when absent.
	ResponseFormat json.RawMessage
}

// LastUser returns the content of the last user message, "" if none.
func (r Request) LastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	return ""
}

// Handler scripts the answer to a request; returning Reply{} gives the
// default answer. It may be called concurrently.
type Handler func(Request) Reply

// Reply is a scripted answer. The zero Reply is the default answer.
type Reply struct {
	// Text is the answer; "" means the default answer for the route.
	Text string
	// Model is the model reported; "" means the requested one.
	Model string
	// FinishReason is reported at the end; "" means "stop".
	FinishReason string
	// Status, when not 0 or 200, makes an error answer with an OpenAI-style
	// JSON body {"error":{...}}.
	Status int
	// RetryAfter sets the Retry-After header (seconds, rounded up).
	RetryAfter time.Duration
	// FirstTokenDelay is waited before anything is sent (non-streaming, or
	// an error) or, for a stream, after the headers and before the first
	// chunk.
	FirstTokenDelay time.Duration
	// ChunkSize is the stream chunk size in bytes; 0 means 4. A chunk never
	// ends inside a UTF-8 rune.
	ChunkSize int
	// ChunkDelay is waited between two text chunks.
	ChunkDelay time.Duration
	// CutAfter > 0 closes the connection abruptly after that many text
	// chunks, without finish_reason or [DONE]. Without streaming, it cuts
	// the JSON answer in the middle.
	CutAfter int
	// Hang never answers until the client goes away (or Close).
	Hang bool
	// Usage is reported as is; nil means about one token per 4 bytes.
	Usage *provider.Usage
}

// defaultModels are listed by GET /v1/models unless SetModels says otherwise.
var defaultModels = []string{"mistral-small-latest", "codestral-latest", "fake-model"}

// Server is a running fake endpoint.
type Server struct {
	ts        *httptest.Server
	done      chan struct{} // closed by Close: releases waiting handlers
	closeOnce sync.Once

	count     atomic.Int64
	cancelled atomic.Int64
	seq       atomic.Int64

	mu       sync.Mutex
	handler  Handler
	queue    []Reply
	requests []Request
	noRecord bool
	models   []string
	// servedOnly refuses model requests for models not in models (404);
	// unlisted answers /models with 404.
	servedOnly, unlisted bool
	// noEmbeddings answers /embeddings with 404.
	noEmbeddings bool
	// moderation scripts moderation scores; openAIModeration answers
	// moderations in OpenAI's shape.
	moderation       func(text string) map[string]float64
	openAIModeration bool
	waiters          int
	changed          chan struct{} // closed and replaced on a count change while waiters > 0
}

// New starts a server on 127.0.0.1; Close it when done.
func New() *Server {
	s := &Server{
		done:    make(chan struct{}),
		models:  defaultModels,
		changed: make(chan struct{}),
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL returns the base URL including /v1, e.g. http://127.0.0.1:PORT/v1.
func (s *Server) URL() string { return s.ts.URL + "/v1" }

// Close stops the server: hanging and delayed answers are abandoned and
// client connections closed.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
}

// Requests returns a copy of the requests received so far, in arrival
// order, /models included.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count returns the number of model requests received (chat, FIM,
// completions, embeddings and moderations; not /models, nor bodies that
// are not JSON, which get a 400 and are not recorded).
func (s *Server) Count() int { return int(s.count.Load()) }

// Cancelled returns the number of model requests whose client went away
// before the answer was complete.
func (s *Server) Cancelled() int { return int(s.cancelled.Load()) }

// Reset forgets recorded requests, counters, queued replies, the handler
// and scripted moderation scores.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.queue, s.handler, s.moderation = nil, nil, nil, nil
	s.count.Store(0)
	s.cancelled.Store(0)
}

// Handle sets the handler for requests that no queued reply answers; nil
// restores the default answers.
func (s *Server) Handle(h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handler = h
}

// Enqueue queues replies: the next model requests get them in order, then
// the handler answers again.
func (s *Server) Enqueue(replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, replies...)
}

// SetModels sets what GET /v1/models lists.
func (s *Server) SetModels(models ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.models = slices.Clone(models)
}

// ServeListedOnly makes model requests for a model that GET /v1/models
// does not list fail with 404, as Ollama does before "ollama pull" (off by
// default: any model is answered).
func (s *Server) ServeListedOnly(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servedOnly = on
}

// HideModels makes GET /v1/models answer 404, as servers that do not list
// their models do.
func (s *Server) HideModels(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unlisted = on
}

// NoEmbeddings makes POST /v1/embeddings answer 404, as chat-only
// servers do (off by default).
func (s *Server) NoEmbeddings(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noEmbeddings = on
}

// refuses reports whether a request for model gets a 404.
func (s *Server) refuses(model string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.servedOnly && !slices.Contains(s.models, model)
}

// Record turns the recording of requests on (the default) or off, for
// benchmarks that send many.
func (s *Server) Record(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noRecord = !on
}

// WaitCount blocks until Count() >= n or ctx ends.
func (s *Server) WaitCount(ctx context.Context, n int) error {
	return s.wait(ctx, func() bool { return s.Count() >= n })
}

// WaitCancelled blocks until Cancelled() >= n or ctx ends.
func (s *Server) WaitCancelled(ctx context.Context, n int) error {
	return s.wait(ctx, func() bool { return s.Cancelled() >= n })
}

func (s *Server) wait(ctx context.Context, cond func() bool) error {
	s.mu.Lock()
	s.waiters++
	defer func() {
		s.mu.Lock()
		s.waiters--
		s.mu.Unlock()
	}()
	for {
		if cond() {
			s.mu.Unlock()
			return nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
		s.mu.Lock()
	}
}

// notify wakes the waiters after a counter changed.
func (s *Server) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiters > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// arrived records req and picks its reply.
func (s *Server) arrived(req Request, model bool) (Reply, bool) {
	s.mu.Lock()
	if !s.noRecord {
		req.Header = req.Header.Clone()
		s.requests = append(s.requests, req)
	}
	if !model {
		s.mu.Unlock()
		return Reply{}, false
	}
	s.count.Add(1)
	var (
		reply  Reply
		queued bool
	)
	if len(s.queue) > 0 {
		reply, queued = s.queue[0], true
		s.queue = s.queue[1:]
	}
	h := s.handler
	if s.waiters > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	s.mu.Unlock()
	if !queued && h != nil {
		reply = h(req)
	}
	return reply, true
}

// gone counts a request abandoned by its client.
func (s *Server) gone() {
	s.cancelled.Add(1)
	s.notify()
}

// pause waits d, or until the client goes away or the server closes; it
// reports whether the client is still there.
func (s *Server) pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

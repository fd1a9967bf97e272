package server

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"timon.dev/timon/core"
)

// AssistRequest is the body of POST /v1/assist: a core.Request without the
// principal (the token defines it) and without an id (the hub assigns it),
// plus whether to stream.
type AssistRequest struct {
	Task           core.Task           `json:"task"`
	Messages       []core.Message      `json:"messages,omitempty"`
	Input          string              `json:"input,omitempty"`
	Instruction    string              `json:"instruction,omitempty"`
	Format         string              `json:"format,omitempty"`
	Prefix         string              `json:"prefix,omitempty"`
	Suffix         string              `json:"suffix,omitempty"`
	Origin         core.Origin         `json:"origin,omitzero"`
	Classification core.Classification `json:"classification,omitempty"`
	Model          string              `json:"model,omitempty"`
	MaxTokens      int                 `json:"max_tokens,omitempty"`
	Temperature    *float64            `json:"temperature,omitempty"`
	ConversationID string              `json:"conversation_id,omitempty"`
	Stream         bool                `json:"stream,omitempty"`
}

// Request turns the body into a core.Request for p.
func (a *AssistRequest) Request(p core.Principal) *core.Request {
	return &core.Request{
		Principal: p, Task: a.Task, Messages: a.Messages, Input: a.Input, Instruction: a.Instruction,
		Format: a.Format, Prefix: a.Prefix, Suffix: a.Suffix, Origin: a.Origin, Classification: a.Classification,
		Model: a.Model, MaxTokens: a.MaxTokens, Temperature: a.Temperature, ConversationID: a.ConversationID,
	}
}

// SSE events of a streamed /v1/assist answer.
const (
	EventDelta = "delta" // data: {"text": "..."}
	EventDone  = "done"  // data: the core.Response
	EventError = "error" // data: {code, message, ...}
)

// Delta is the data of a delta event.
type Delta struct {
	Text string `json:"text"`
}

func (s *Server) assist(c *gin.Context) {
	var body AssistRequest
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeError(c, decodeError(err))
		return
	}
	req := body.Request(principal(c))
	if !body.Stream {
		resp, err := s.o.Assistant.Do(c.Request.Context(), req)
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, resp)
		return
	}
	// Errors found before the first byte of the answer still get their
	// HTTP status; later ones arrive as an error event.
	sse := newSSE(c)
	resp, err := s.o.Assistant.Stream(c.Request.Context(), req, func(d string) error {
		return sse.event(EventDelta, Delta{Text: d})
	})
	if err != nil {
		if !sse.started {
			writeError(c, err)
			return
		}
		sse.event(EventError, bodyOf(core.AsError(err, "internal error")))
		return
	}
	sse.event(EventDone, resp)
}

// sse writes server-sent events, starting the response on the first one.
type sse struct {
	c       *gin.Context
	started bool
}

func newSSE(c *gin.Context) *sse { return &sse{c: c} }

func (s *sse) start() {
	if s.started {
		return
	}
	s.started = true
	h := s.c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	s.c.Status(http.StatusOK)
}

func (s *sse) event(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.start()
	w := s.c.Writer
	if name != "" {
		w.WriteString("event: " + name + "\n")
	}
	w.WriteString("data: ")
	w.Write(data)
	if _, err := w.WriteString("\n\n"); err != nil {
		return err
	}
	w.Flush()
	return s.c.Request.Context().Err()
}

func (s *sse) raw(line string) error {
	s.start()
	if _, err := s.c.Writer.WriteString(line); err != nil {
		return err
	}
	s.c.Writer.Flush()
	return s.c.Request.Context().Err()
}

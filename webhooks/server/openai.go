package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"timon.dev/timon/core"
)

// The OpenAI-compatible face of the hub (docs/openai.md): chat completions
// (openai.go), completions with a suffix (openai_completions.go) and
// embeddings (openai_embeddings.go), each a governed core request; their
// parameters (openai_params.go) and errors (openai_errors.go) follow
// OpenAI's API.

// AutoModel asks the policy's route to choose the model.
const AutoModel = "timon"

// chatCompletionRequest is what timon reads of OpenAI's chat completion
// request; decodeOpenAI refuses the parameters it does not honour.
type chatCompletionRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Stream              bool           `json:"stream"`
	StreamOptions       *streamOptions `json:"stream_options"`
	MaxTokens           int            `json:"max_tokens"`
	MaxCompletionTokens int            `json:"max_completion_tokens"`
	Temperature         *float64       `json:"temperature"`
	TopP                *float64       `json:"top_p"`
	Stop                stopList       `json:"stop"`
	N                   *int           `json:"n"`
	ResponseFormat      *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict bool            `json:"strict"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

// messageText reads content given as a string or as an array of parts.
func messageText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Errorf("content must be a string or an array of text parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("content part of type %q is not supported (text only)", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

type ocMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ocDelta is a streamed piece of a message: the role only in the first.
type ocDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type ocChoice struct {
	Index        int        `json:"index"`
	Message      *ocMessage `json:"message,omitempty"`
	Delta        *ocDelta   `json:"delta,omitempty"`
	Logprobs     *struct{}  `json:"logprobs"`
	FinishReason *string    `json:"finish_reason"`
}

type ocUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type ocResponse struct {
	ID      string     `json:"id"`
	Object  string     `json:"object"`
	Created int64      `json:"created"`
	Model   string     `json:"model"`
	Choices []ocChoice `json:"choices"`
	Usage   *ocUsage   `json:"usage,omitempty"`
	// Notices are timon's own (core.Response.Notices, such as a moderation
	// warning): on the answer, or on the stream's chunk with the
	// finish_reason; absent when there are none. OpenAI's clients ignore
	// a member they do not know.
	Notices []string `json:"notices,omitempty"`
}

// chatRequest turns an OpenAI chat request into a core request.
func chatRequest(r *http.Request, body *chatCompletionRequest) (*core.Request, error) {
	if err := checkChoices("n", body.N); err != nil {
		return nil, err
	}
	req := &core.Request{Principal: principal(r), Task: core.TaskChat, Temperature: body.Temperature, TopP: body.TopP,
		Stop: body.Stop, MaxTokens: body.MaxTokens, Model: requestedModel(body.Model)}
	if body.MaxCompletionTokens > 0 {
		req.MaxTokens = body.MaxCompletionTokens
	}
	if f := body.ResponseFormat; f != nil {
		switch f.Type {
		case "", "text":
		case "json_schema":
			if f.JSONSchema == nil {
				return nil, invalidParam("response_format", "response_format of type json_schema needs a json_schema")
			}
			req.ResponseFormat = &core.JSONSchema{Name: f.JSONSchema.Name, Schema: f.JSONSchema.Schema, Strict: f.JSONSchema.Strict}
		default:
			return nil, unsupportedValue("response_format", "response_format of type %q (timon supports text and json_schema)", f.Type)
		}
	}
	for i, m := range body.Messages {
		text, err := messageText(m.Content)
		if err != nil {
			return nil, invalidParam(fmt.Sprintf("messages[%d].content", i), "messages[%d]: %v", i, err)
		}
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		req.Messages = append(req.Messages, core.Message{Role: role, Content: text})
	}
	return req, nil
}

// requestedModel is the model a request names, "" for the policy's choice.
func requestedModel(m string) string {
	if m == AutoModel {
		return ""
	}
	return m
}

// assistError is err as the OpenAI routes report it: a request denied for
// naming a model that no provider serves is the 404 OpenAI's clients know.
func (s *Server) assistError(model string, err error) error {
	if model != "" && core.ErrorKind(err) == core.KindDenied && !slices.Contains(s.o.Models, model) {
		return &modelNotFound{err}
	}
	return err
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	var body chatCompletionRequest
	if err := decodeOpenAI(r, chatParams, &body); err != nil {
		openAIError(w, r, err)
		return
	}
	req, err := chatRequest(r, &body)
	if err != nil {
		openAIError(w, r, err)
		return
	}
	created := time.Now().Unix()
	if !body.Stream {
		s.answer(w, r, req, func(resp *core.Response, finish *string) any {
			return ocResponse{
				ID: resp.RequestID, Object: "chat.completion", Created: created, Model: resp.Model,
				Choices: []ocChoice{{Message: &ocMessage{Role: "assistant", Content: resp.Text}, FinishReason: finish}},
				Usage:   usage(resp.Usage), Notices: resp.Notices,
			}
		})
		return
	}
	// Every chunk carries the same id, created and model: the model asked
	// for ("timon" when the policy chooses, since the choice is known only
	// at the end).
	st := &openAIStream{sse: newSSE(w, r), object: "chat.completion.chunk", created: created, model: streamModel(body.Model)}
	first := true
	delta := func(d string) *ocDelta {
		out := &ocDelta{Content: &d}
		if first {
			out.Role, first = "assistant", false
		}
		return out
	}
	resp, err := s.o.Assistant.Stream(r.Context(), req, func(d string) error {
		return st.chunk(req.ID, ocChoice{Delta: delta(d)})
	})
	if err != nil {
		st.fail(w, r, s.assistError(req.Model, err), func(reason string) error {
			return st.chunk(req.ID, ocChoice{Delta: &ocDelta{}, FinishReason: &reason})
		})
		return
	}
	finish := finishReason(resp.FinishReason)
	last := &ocDelta{}
	if first { // an empty answer: the role still comes first
		last = delta("")
	}
	st.chunk(resp.RequestID, ocChoice{Delta: last, FinishReason: &finish}, resp.Notices...)
	st.end(resp, body.StreamOptions)
}

// answer asks for the whole answer to req and writes the body that shape
// makes of it and of its finish_reason (in OpenAI's words), or the error
// as the OpenAI routes report it.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, req *core.Request, shape func(resp *core.Response, finish *string) any) {
	resp, err := s.o.Assistant.Do(r.Context(), req)
	if err != nil {
		openAIError(w, r, s.assistError(req.Model, err))
		return
	}
	finish := finishReason(resp.FinishReason)
	writeJSON(w, http.StatusOK, shape(resp, &finish))
}

// openAIStream writes the chunks of a streamed OpenAI answer.
type openAIStream struct {
	sse     *sse
	object  string
	created int64
	model   string
}

func (st *openAIStream) chunk(id string, ch ocChoice, notices ...string) error {
	return st.sse.event("", ocResponse{ID: id, Object: st.object, Created: st.created, Model: st.model,
		Choices: []ocChoice{ch}, Notices: notices})
}

// filteredReason is the finish_reason of a stream whose answer was
// refused after part of it was sent (moderation blocked a later part):
// OpenAI's own word for content its filters stopped.
const filteredReason = "content_filter"

// fail reports err: with its status before the stream started, as an
// error event after. A refusal of the answer after part of it was sent
// first ends the choice with finish_reason content_filter, written by
// finish, so that a client reading only finish_reason knows the text is
// cut, then the error event says why.
func (st *openAIStream) fail(w http.ResponseWriter, r *http.Request, err error, finish func(reason string) error) {
	if !st.sse.started {
		openAIError(w, r, err)
		return
	}
	if core.ErrorKind(err) == core.KindBlocked {
		finish(filteredReason)
	}
	st.sse.event("", openAIStreamError(err))
}

// end writes the usage chunk when asked for, then [DONE].
func (st *openAIStream) end(resp *core.Response, opts *streamOptions) {
	if opts != nil && opts.IncludeUsage {
		st.sse.event("", ocResponse{ID: resp.RequestID, Object: st.object, Created: st.created, Model: st.model,
			Choices: []ocChoice{}, Usage: usage(resp.Usage)})
	}
	st.sse.raw("data: [DONE]\n\n")
}

// streamModel is the model every chunk of a stream names.
func streamModel(requested string) string {
	if requested == "" {
		return AutoModel
	}
	return requested
}

// finishReason is a provider's finish reason in OpenAI's words.
func finishReason(r string) string {
	switch r {
	case "":
		return "stop"
	case "model_length":
		return "length"
	}
	return r
}

func usage(u core.Usage) *ocUsage {
	return &ocUsage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.PromptTokens + u.CompletionTokens}
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	out := []model{{ID: AutoModel, Object: "model", OwnedBy: "timon"}}
	for _, m := range s.o.Models {
		out = append(out, model{ID: m, Object: "model", OwnedBy: "timon"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out})
}

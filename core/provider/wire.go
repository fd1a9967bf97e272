package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// This file holds the wire: one struct per request and answer body, encoded
// and decoded with encoding/json. Request bodies are written without HTML
// escaping, as the servers' own clients write them.

// wireMessage is a Message on the wire.
type wireMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func wireMessages(msgs []Message) []wireMessage {
	out := make([]wireMessage, len(msgs))
	for i, m := range msgs {
		out[i] = wireMessage(m)
	}
	return out
}

// sampling holds the options shared by chat and FIM requests.
type sampling struct {
	MaxTokens   int      `json:"max_tokens,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	Stop        []string `json:"stop,omitempty"`
}

// chatRequest is the body of POST /chat/completions.
type chatRequest struct {
	Model    string        `json:"model"`
	Messages []wireMessage `json:"messages"`
	sampling
	ResponseFormat *responseFormat `json:"response_format,omitempty"`
	Stream         bool            `json:"stream,omitempty"`
	StreamOptions  *streamOptions  `json:"stream_options,omitempty"`
}

type responseFormat struct {
	Type       string         `json:"type"` // "json_schema"
	JSONSchema jsonSchemaWire `json:"json_schema"`
}

type jsonSchemaWire struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
	Strict bool            `json:"strict,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// fimRequest is the body of Mistral's POST /fim/completions and of OpenAI's
// legacy POST /completions: they take the same fields.
type fimRequest struct {
	Model  string `json:"model"`
	Prompt string `json:"prompt"`
	Suffix string `json:"suffix,omitempty"`
	sampling
}

// textsRequest is the body of POST /embeddings and POST /moderations.
type textsRequest struct {
	Model           string   `json:"model"`
	Input           []string `json:"input"`
	Dimensions      int      `json:"dimensions,omitempty"`       // OpenAI-compatible embeddings
	OutputDimension int      `json:"output_dimension,omitempty"` // Mistral embeddings
}

// conversationRequest is the body of Mistral's POST /chat/moderations.
type conversationRequest struct {
	Model string          `json:"model"`
	Input [][]wireMessage `json:"input"`
}

// usage is the token count of every answer that has one.
type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// tokens returns what u counts as a Usage.
func (u usage) tokens() Usage {
	return Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens}
}

// chatAnswer is a chat completion or a Mistral FIM answer (the text in
// Message.Content), or an OpenAI legacy completion (the text in Text).
type chatAnswer struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		Text         string `json:"text"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage usage `json:"usage"`
}

// chunk is one event of a streamed chat completion.
type chunk struct {
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage usage `json:"usage"`
	// Error, when present (null included), ends the stream.
	Error json.RawMessage `json:"error"`
}

// modelList is the answer of GET /models.
type modelList struct {
	Data []struct {
		ID string `json:"id"`
	} `json:"data"`
}

// encodeJSON returns v as JSON without HTML escaping. The request structs
// hold nothing that fails to encode: numbers are checked finite and schemas
// valid beforehand.
func encodeJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// chatBody encodes a chat completion request.
func (c *Client) chatBody(req *ChatRequest, stream bool) (body []byte, model string, e *Error) {
	model, e = c.model(req.Model)
	if e != nil {
		return nil, "", e
	}
	if len(req.Messages) == 0 {
		return nil, "", c.invalidRequest("no messages")
	}
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user", "assistant":
		default:
			return nil, "", c.invalidRequest("message %d has role %q (want system, user or assistant)", i, m.Role)
		}
	}
	opts, e := c.sampling(req.MaxTokens, req.Temperature, req.TopP, req.Stop)
	if e != nil {
		return nil, "", e
	}
	w := chatRequest{Model: model, Messages: wireMessages(req.Messages), sampling: opts}
	if s := req.JSONSchema; s != nil {
		if !json.Valid(s.Schema) {
			return nil, "", c.invalidRequest("JSON schema is not valid JSON")
		}
		name := s.Name
		if name == "" {
			name = "response"
		}
		w.ResponseFormat = &responseFormat{Type: "json_schema", JSONSchema: jsonSchemaWire{Name: name, Schema: s.Schema, Strict: s.Strict}}
	}
	if stream {
		w.Stream = true
		// Mistral sends usage unasked and may refuse unknown fields.
		if c.cfg.Kind == KindOpenAI {
			w.StreamOptions = &streamOptions{IncludeUsage: true}
		}
	}
	return encodeJSON(&w), model, nil
}

// fimBody encodes a fill-in-the-middle request.
func (c *Client) fimBody(req *FIMRequest) (body []byte, model string, e *Error) {
	model, e = c.model(req.Model)
	if e != nil {
		return nil, "", e
	}
	opts, e := c.sampling(req.MaxTokens, req.Temperature, req.TopP, req.Stop)
	if e != nil {
		return nil, "", e
	}
	return encodeJSON(&fimRequest{Model: model, Prompt: req.Prompt, Suffix: req.Suffix, sampling: opts}), model, nil
}

// sampling checks the sampling options of a request, refusing values that
// JSON cannot carry.
func (c *Client) sampling(maxTokens int, temperature, topP *float64, stop []string) (sampling, *Error) {
	if maxTokens < 0 {
		return sampling{}, c.invalidRequest("max tokens is negative")
	}
	if temperature != nil && (math.IsNaN(*temperature) || math.IsInf(*temperature, 0)) {
		return sampling{}, c.invalidRequest("temperature is not a finite number")
	}
	if topP != nil && (math.IsNaN(*topP) || math.IsInf(*topP, 0)) {
		return sampling{}, c.invalidRequest("top_p is not a finite number")
	}
	return sampling{MaxTokens: maxTokens, Temperature: temperature, TopP: topP, Stop: stop}, nil
}

// errNotJSON is the cause of an answer that is not JSON at all.
type errNotJSON struct{ contentType string }

func (e errNotJSON) Error() string {
	return fmt.Sprintf("answer has content type %q, not JSON", e.contentType)
}

// streamError is the cause of a stream event carrying an "error" member.
type streamError struct{ message string }

func (e *streamError) Error() string { return "received error while streaming: " + e.message }

// chunkError returns the error a chunk reports, nil when it has none.
func (ch *chunk) chunkError() error {
	if ch.Error == nil {
		return nil
	}
	var s string
	if json.Unmarshal(ch.Error, &s) != nil && string(ch.Error) != "null" {
		s = string(ch.Error)
	}
	return &streamError{message: s}
}

func isTypeError(err error) bool {
	var typ *json.UnmarshalTypeError
	return errors.As(err, &typ)
}

package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/shared"
)

// Message is one turn of a conversation. Role is "system", "user" or
// "assistant".
type Message struct {
	Role, Content string
}

// JSONSchema asks for structured output (response_format json_schema).
type JSONSchema struct {
	// Name names the format for the model; "" means "response".
	Name string
	// Schema is a JSON Schema object.
	Schema json.RawMessage
	// Strict asks the server to enforce the schema exactly.
	Strict bool
}

// ChatRequest is one chat completion.
type ChatRequest struct {
	// Model is the model to use; "" means the endpoint's first model.
	Model    string
	Messages []Message
	// MaxTokens bounds the answer; 0 leaves it to the server.
	MaxTokens int
	// Temperature is sent when set, 0 included.
	Temperature *float64
	Stop        []string
	// JSONSchema, when set, asks for an answer that follows it.
	JSONSchema *JSONSchema
}

// Usage counts tokens as reported by the server (0 when it did not say).
type Usage struct {
	PromptTokens, CompletionTokens int
}

// Result is a completed answer.
type Result struct {
	// Text is the whole answer.
	Text string
	// Model is the model the server reports, else the one requested.
	Model string
	// Provider is the Name of the endpoint that answered.
	Provider string
	// FinishReason is the server's, e.g. "stop" or "length".
	FinishReason string
	Usage        Usage
}

// Chat asks for a chat completion (POST {base}/chat/completions), retrying
// on this endpoint as configured.
func (c *Client) Chat(ctx context.Context, req ChatRequest) (*Result, error) {
	params, e := c.chatParams(req)
	if e != nil {
		return nil, e
	}
	return c.run(ctx, callOptions{}, func(ctx context.Context, _ func()) (*Result, error) {
		cc, err := c.chat.New(ctx, params)
		if err != nil {
			return nil, err
		}
		if len(cc.Choices) == 0 {
			return nil, ErrEmptyAnswer
		}
		ch := cc.Choices[0]
		return c.result(cc.Model, params.Model, ch.Message.Content, ch.FinishReason, cc.Usage), nil
	})
}

// ChatStream asks for a chat completion streamed as server-sent events and
// gives each piece of text to emit as it arrives. It returns the whole text
// in Result.Text, with the usage the server reports at the end (asked for
// with stream_options.include_usage on OpenAI-compatible servers; Mistral
// sends it unasked).
//
// If emit returns an error, the upstream request is aborted and that error
// is returned unchanged, not wrapped in an *Error.
//
// A stream that ends before the server said it was finished (connection cut,
// no finish_reason) is an error, never a truncated success. Failures before
// any text was emitted are retried here like any call and are Retryable, so
// [Failover] may move the call to the next endpoint. Once text has been
// emitted, a failure is an *Error with Partial set and Retryable cleared:
// neither this endpoint nor the next one is tried again, since the caller
// has already shown part of an answer. So Failover over ChatStream is safe
// as it is:
//
//	res, err := provider.Failover(ctx, candidates, func(ctx context.Context, c *provider.Client) (*provider.Result, error) {
//		return c.ChatStream(ctx, req, emit)
//	})
//
// Timeout bounds the wait for the first byte and every silence between two
// chunks, not the whole stream. On error the Result is nil.
func (c *Client) ChatStream(ctx context.Context, req ChatRequest, emit func(delta string) error) (*Result, error) {
	params, e := c.chatParams(req)
	if e != nil {
		return nil, e
	}
	if c.cfg.Kind == KindOpenAI {
		params.StreamOptions.IncludeUsage = param.NewOpt(true)
	}
	emitted := false
	opts := callOptions{emitted: func() bool { return emitted }}
	return c.run(ctx, opts, func(ctx context.Context, touch func()) (*Result, error) {
		stream := c.chat.NewStreaming(ctx, params)
		defer stream.Close()
		var (
			text   strings.Builder
			model  string
			finish string
			usage  openai.CompletionUsage
		)
		started := false
		for stream.Next() {
			touch()
			started = true
			chunk := stream.Current()
			if chunk.Model != "" {
				model = chunk.Model
			}
			if chunk.Usage.PromptTokens != 0 || chunk.Usage.CompletionTokens != 0 {
				usage = chunk.Usage
			}
			for _, choice := range chunk.Choices {
				if choice.Index != 0 {
					continue
				}
				if d := choice.Delta.Content; d != "" {
					text.WriteString(d)
					emitted = true
					if err := emit(d); err != nil {
						return nil, &emitError{err}
					}
				}
				if choice.FinishReason != "" {
					finish = choice.FinishReason
				}
			}
		}
		if err := stream.Err(); err != nil {
			var apiErr *openai.Error
			if started && !errors.As(err, &apiErr) {
				err = fmt.Errorf("%w: %w", ErrStreamCut, err)
			}
			return nil, err
		}
		if finish == "" {
			return nil, ErrStreamCut
		}
		return c.result(model, params.Model, text.String(), finish, usage), nil
	})
}

// chatParams builds the wire request, refusing what no server would accept.
func (c *Client) chatParams(req ChatRequest) (openai.ChatCompletionNewParams, *Error) {
	var p openai.ChatCompletionNewParams
	model, e := c.model(req.Model)
	if e != nil {
		return p, e
	}
	if len(req.Messages) == 0 {
		return p, c.invalidRequest("no messages")
	}
	p.Model = model
	p.Messages = make([]openai.ChatCompletionMessageParamUnion, len(req.Messages))
	for i, m := range req.Messages {
		switch m.Role {
		case "system":
			p.Messages[i] = openai.SystemMessage(m.Content)
		case "user":
			p.Messages[i] = openai.UserMessage(m.Content)
		case "assistant":
			p.Messages[i] = openai.AssistantMessage(m.Content)
		default:
			return p, c.invalidRequest("message %d has role %q (want system, user or assistant)", i, m.Role)
		}
	}
	if req.MaxTokens < 0 {
		return p, c.invalidRequest("max tokens is negative")
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
		if !json.Valid(s.Schema) {
			return p, c.invalidRequest("JSON schema is not valid JSON")
		}
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
	return p, nil
}

// result assembles a Result; reported is the model named by the server.
func (c *Client) result(reported, requested, text, finish string, u openai.CompletionUsage) *Result {
	if reported == "" {
		reported = requested
	}
	return &Result{
		Text:         text,
		Model:        reported,
		Provider:     c.cfg.Name,
		FinishReason: finish,
		Usage:        Usage{PromptTokens: int(u.PromptTokens), CompletionTokens: int(u.CompletionTokens)},
	}
}

package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
	// Temperature and TopP are sent when set, 0 included.
	Temperature *float64
	TopP        *float64
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
	body, model, e := c.chatBody(&req, false)
	if e != nil {
		return nil, e
	}
	return c.run(ctx, &call{kind: callChat, url: c.chatURL, body: body, model: model})
}

// plain performs one attempt of a call answered in one piece.
func (c *Client) plain(ctx context.Context, cl *call) (*Result, error) {
	var a chatAnswer
	// A value of the wrong type reads as its zero value.
	if err := c.postJSON(ctx, cl, &a); err != nil && !isTypeError(err) {
		return nil, err
	}
	if len(a.Choices) == 0 {
		return nil, ErrEmptyAnswer
	}
	ch := a.Choices[0]
	text := ch.Message.Content
	if cl.kind == callLegacy {
		text = ch.Text
	}
	return c.result(a.Model, cl.model, text, ch.FinishReason, a.Usage.tokens()), nil
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
	body, model, e := c.chatBody(&req, true)
	if e != nil {
		return nil, e
	}
	return c.run(ctx, &call{kind: callStream, url: c.chatURL, body: body, model: model, emit: emit})
}

// stream performs one attempt of ChatStream.
func (c *Client) stream(ctx context.Context, cl *call) (*Result, error) {
	res, err := c.post(ctx, cl.url, cl.body)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	st := getStreamState(res.Body)
	defer putStreamState(st)
	var (
		model, finish string
		usage         Usage
		started, done bool
	)
	for {
		data, ok := st.sse.next()
		if !ok {
			err = st.sse.Err()
			break
		}
		if bytes.HasPrefix(data, []byte("[DONE]")) {
			done = true
			break
		}
		var ch chunk
		// A value of the wrong type reads as its zero value.
		if err = json.Unmarshal(data, &ch); err != nil && !isTypeError(err) {
			break
		}
		if err = ch.chunkError(); err != nil {
			break
		}
		cl.wd.touch()
		started = true
		if ch.Model != "" {
			model = ch.Model
		}
		if u := ch.Usage.tokens(); u != (Usage{}) {
			usage = u
		}
		for _, choice := range ch.Choices {
			if choice.Index != 0 {
				continue
			}
			if d := choice.Delta.Content; d != "" {
				st.text = append(st.text, d...)
				cl.emitted = true
				if err := cl.emit(d); err != nil {
					return nil, &emitError{err}
				}
			}
			if choice.FinishReason != "" {
				finish = choice.FinishReason
			}
		}
	}
	if err != nil {
		if started {
			err = fmt.Errorf("%w: %w", ErrStreamCut, err)
		}
		return nil, err
	}
	if finish == "" {
		return nil, ErrStreamCut
	}
	if done {
		st.drain(res.Body, cl.wd.cancel)
	}
	return c.result(model, cl.model, string(st.text), finish, usage), nil
}

// result assembles a Result; reported is the model named by the server.
func (c *Client) result(reported, requested, text, finish string, u Usage) *Result {
	if reported == "" {
		reported = requested
	}
	return &Result{
		Text:         text,
		Model:        reported,
		Provider:     c.cfg.Name,
		FinishReason: finish,
		Usage:        u,
	}
}

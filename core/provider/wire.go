package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"timon.dev/timon/core/provider/internal/jsonw"
)

// This file encodes requests and decodes answers. Bodies are written by
// hand into one buffer, and answers read with jsonReader: openai-go's
// reflection-driven encoding and decoding (apijson, gjson) cost about 80% of
// the allocations and most of the CPU of a call. The wire format is the one
// openai-go sent for the same calls.

// chatBody encodes a chat completion request.
func (c *Client) chatBody(req *ChatRequest, stream bool) (body []byte, model string, e *Error) {
	model, e = c.model(req.Model)
	if e != nil {
		return nil, "", e
	}
	if len(req.Messages) == 0 {
		return nil, "", c.invalidRequest("no messages")
	}
	size := 96 + len(model)
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user", "assistant":
		default:
			return nil, "", c.invalidRequest("message %d has role %q (want system, user or assistant)", i, m.Role)
		}
		size += 32 + len(m.Content) + len(m.Content)/16
	}
	if req.MaxTokens < 0 {
		return nil, "", c.invalidRequest("max tokens is negative")
	}
	if e := c.checkTemperature(req.Temperature, req.TopP); e != nil {
		return nil, "", e
	}
	for _, s := range req.Stop {
		size += 8 + len(s)
	}
	s := req.JSONSchema
	if s != nil {
		if !json.Valid(s.Schema) {
			return nil, "", c.invalidRequest("JSON schema is not valid JSON")
		}
		size += 96 + len(s.Name) + len(s.Schema)
	}

	b := make([]byte, 0, size)
	b = append(b, `{"model":`...)
	b = jsonw.AppendString(b, model)
	b = append(b, `,"messages":[`...)
	for i, m := range req.Messages {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"role":"`...)
		b = append(b, m.Role...)
		b = append(b, `","content":`...)
		b = jsonw.AppendString(b, m.Content)
		b = append(b, '}')
	}
	b = append(b, ']')
	b = appendOptions(b, req.MaxTokens, req.Temperature, req.TopP, req.Stop)
	if s != nil {
		name := s.Name
		if name == "" {
			name = "response"
		}
		b = append(b, `,"response_format":{"type":"json_schema","json_schema":{"name":`...)
		b = jsonw.AppendString(b, name)
		b = append(b, `,"schema":`...)
		var buf bytes.Buffer
		_ = json.Compact(&buf, s.Schema) // valid, checked above
		b = append(b, buf.Bytes()...)
		if s.Strict {
			b = append(b, `,"strict":true`...)
		}
		b = append(b, "}}"...)
	}
	if stream {
		b = append(b, `,"stream":true`...)
		// Mistral sends usage unasked and may refuse unknown fields.
		if c.cfg.Kind == KindOpenAI {
			b = append(b, `,"stream_options":{"include_usage":true}`...)
		}
	}
	return append(b, '}'), model, nil
}

// fimBody encodes a fill-in-the-middle request: Mistral's
// /fim/completions and OpenAI's legacy /completions take the same fields.
func (c *Client) fimBody(req *FIMRequest) (body []byte, model string, e *Error) {
	model, e = c.model(req.Model)
	if e != nil {
		return nil, "", e
	}
	if req.MaxTokens < 0 {
		return nil, "", c.invalidRequest("max tokens is negative")
	}
	if e := c.checkTemperature(req.Temperature, req.TopP); e != nil {
		return nil, "", e
	}
	size := 128 + len(model) + len(req.Prompt) + len(req.Suffix) + (len(req.Prompt)+len(req.Suffix))/16
	for _, s := range req.Stop {
		size += 8 + len(s)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"model":`...)
	b = jsonw.AppendString(b, model)
	b = append(b, `,"prompt":`...)
	b = jsonw.AppendString(b, req.Prompt)
	if req.Suffix != "" {
		b = append(b, `,"suffix":`...)
		b = jsonw.AppendString(b, req.Suffix)
	}
	b = appendOptions(b, req.MaxTokens, req.Temperature, req.TopP, req.Stop)
	return append(b, '}'), model, nil
}

// checkTemperature refuses sampling values that JSON cannot carry.
func (c *Client) checkTemperature(t, topP *float64) *Error {
	if t != nil && (math.IsNaN(*t) || math.IsInf(*t, 0)) {
		return c.invalidRequest("temperature is not a finite number")
	}
	if topP != nil && (math.IsNaN(*topP) || math.IsInf(*topP, 0)) {
		return c.invalidRequest("top_p is not a finite number")
	}
	return nil
}

// appendOptions appends max_tokens, temperature, top_p and stop when set.
func appendOptions(b []byte, maxTokens int, temperature, topP *float64, stop []string) []byte {
	if maxTokens > 0 {
		b = append(b, `,"max_tokens":`...)
		b = strconv.AppendInt(b, int64(maxTokens), 10)
	}
	if temperature != nil {
		b = append(b, `,"temperature":`...)
		b = appendFloat(b, *temperature)
	}
	if topP != nil {
		b = append(b, `,"top_p":`...)
		b = appendFloat(b, *topP)
	}
	if len(stop) > 0 {
		b = append(b, `,"stop":[`...)
		for i, s := range stop {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonw.AppendString(b, s)
		}
		b = append(b, ']')
	}
	return b
}

// appendFloat appends a finite f as encoding/json does.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// answer is what a plain answer says.
type answer struct {
	choices             int
	model, text, finish string
	usage               Usage
}

// errNotJSON is the cause of a plain answer that is not JSON at all.
type errNotJSON struct{ contentType string }

func (e errNotJSON) Error() string {
	return fmt.Sprintf("answer has content type %q, not JSON", e.contentType)
}

// decodeAnswer reads a chat completion or Mistral FIM answer (the text in
// choices[0].message.content) or, when legacy, an OpenAI legacy completion
// (choices[0].text). requested is the model asked for, reused when the
// server reports the same. Values of the wrong type read as openai-go read
// them; what follows the top-level value is ignored, as openai-go did.
func decodeAnswer(r *jsonReader, data []byte, requested string, legacy bool) (answer, error) {
	if a, ok := readAnswer(r, data, requested, legacy); ok {
		return a, nil
	}
	r.reset(data)
	if r.peek() == 0 {
		return answer{}, fmt.Errorf("error parsing response json: %w", io.EOF)
	}
	return decodeAnswerStd(data, requested, legacy)
}

// readAnswer is decodeAnswer with jsonReader alone; it reports false for
// what jsonReader refuses.
func readAnswer(r *jsonReader, data []byte, requested string, legacy bool) (answer, bool) {
	var a answer
	r.reset(data)
	if r.object() {
		for first := true; ; first = false {
			key, ok := r.member(first)
			if !ok {
				break
			}
			switch string(key) {
			case "model":
				a.model = intern(r.text(), requested)
			case "choices":
				a.choices = 0
				if r.array() {
					for first := true; r.element(first); first = false {
						if a.choices == 0 {
							r.choice(&a, legacy)
						} else {
							r.skip()
						}
						a.choices++
					}
				}
			case "usage":
				r.usage(&a.usage)
			default:
				r.skip()
			}
		}
	}
	return a, r.err == nil
}

func (r *jsonReader) choice(a *answer, legacy bool) {
	if !r.object() {
		return
	}
	for first := true; ; first = false {
		key, ok := r.member(first)
		if !ok {
			return
		}
		switch {
		case string(key) == "finish_reason":
			a.finish = internFinish(r.text())
		case string(key) == "text" && legacy:
			a.text = string(r.text())
		case string(key) == "message" && !legacy:
			if !r.object() {
				continue
			}
			for first := true; ; first = false {
				key, ok := r.member(first)
				if !ok {
					break
				}
				if string(key) == "content" {
					a.text = string(r.text())
				} else {
					r.skip()
				}
			}
		default:
			r.skip()
		}
	}
}

func (r *jsonReader) usage(u *Usage) {
	if !r.object() {
		return
	}
	for first := true; ; first = false {
		key, ok := r.member(first)
		if !ok {
			return
		}
		switch string(key) {
		case "prompt_tokens":
			u.PromptTokens = r.integer()
		case "completion_tokens":
			u.CompletionTokens = r.integer()
		default:
			r.skip()
		}
	}
}

// stdAnswer is decodeAnswer's fallback, with encoding/json, for what
// jsonReader refused.
type stdAnswer struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		Text         string `json:"text"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

func decodeAnswerStd(data []byte, requested string, legacy bool) (answer, error) {
	var (
		a   answer
		std stdAnswer
	)
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&std); err != nil && !isTypeError(err) {
		return a, fmt.Errorf("error parsing response json: %w", err)
	}
	a.model, a.choices = std.Model, len(std.Choices)
	if a.model == requested {
		a.model = requested
	}
	if len(std.Choices) > 0 {
		ch := std.Choices[0]
		a.text, a.finish = ch.Message.Content, ch.FinishReason
		if legacy {
			a.text = ch.Text
		}
	}
	a.usage = Usage{PromptTokens: std.Usage.PromptTokens, CompletionTokens: std.Usage.CompletionTokens}
	return a, nil
}

func isTypeError(err error) bool {
	var typ *json.UnmarshalTypeError
	return errors.As(err, &typ)
}

// chunk is what one stream event says.
type chunk struct {
	// model is the model reported, "" when none.
	model string
	// deltas are the pieces of text of choice 0 (one per event in practice).
	deltas []string
	finish string
	usage  Usage
	// hasError reports an "error" member, errorText its value.
	hasError  bool
	errorText string
}

// decodeChunk reads one stream event's JSON into ch. known is the model
// reported so far, reused when the event reports the same.
func decodeChunk(r *jsonReader, data []byte, ch *chunk, known string) error {
	if readChunk(r, data, ch, known) {
		return nil
	}
	return decodeChunkStd(data, ch)
}

// readChunk is decodeChunk with jsonReader alone; it reports false for what
// jsonReader refuses.
func readChunk(r *jsonReader, data []byte, ch *chunk, known string) bool {
	*ch = chunk{deltas: ch.deltas[:0]}
	r.reset(data)
	if r.object() {
		for first := true; ; first = false {
			key, ok := r.member(first)
			if !ok {
				break
			}
			switch string(key) {
			case "model":
				ch.model = intern(r.text(), known)
			case "choices":
				if r.array() {
					for first := true; r.element(first); first = false {
						r.chunkChoice(ch)
					}
				}
			case "usage":
				r.usage(&ch.usage)
			case "error":
				ch.hasError = true
				ch.errorText = string(r.text())
			default:
				r.skip()
			}
		}
	}
	return r.err == nil && r.atEnd()
}

func (r *jsonReader) chunkChoice(ch *chunk) {
	if !r.object() {
		return
	}
	var (
		index           int
		content, finish string
	)
	for first := true; ; first = false {
		key, ok := r.member(first)
		if !ok {
			break
		}
		switch string(key) {
		case "index":
			index = r.integer()
		case "finish_reason":
			finish = internFinish(r.text())
		case "delta":
			if !r.object() {
				continue
			}
			for first := true; ; first = false {
				key, ok := r.member(first)
				if !ok {
					break
				}
				if string(key) == "content" {
					content = string(r.text())
				} else {
					r.skip()
				}
			}
		default:
			r.skip()
		}
	}
	if index != 0 {
		return
	}
	if content != "" {
		ch.deltas = append(ch.deltas, content)
	}
	if finish != "" {
		ch.finish = finish
	}
}

// stdChunk is decodeChunk's fallback, with encoding/json.
type stdChunk struct {
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

func decodeChunkStd(data []byte, ch *chunk) error {
	var std stdChunk
	*ch = chunk{deltas: ch.deltas[:0]}
	if err := json.Unmarshal(data, &std); err != nil && !isTypeError(err) {
		return err
	}
	ch.model = std.Model
	for _, c := range std.Choices {
		if c.Index != 0 {
			continue
		}
		if c.Delta.Content != "" {
			ch.deltas = append(ch.deltas, c.Delta.Content)
		}
		if c.FinishReason != "" {
			ch.finish = c.FinishReason
		}
	}
	ch.usage = Usage{PromptTokens: std.Usage.PromptTokens, CompletionTokens: std.Usage.CompletionTokens}
	if std.Error != nil {
		ch.hasError = true
		var s string
		if json.Unmarshal(std.Error, &s) == nil {
			ch.errorText = s
		} else if string(std.Error) != "null" {
			ch.errorText = string(std.Error)
		}
	}
	return nil
}

// intern returns b as a string, reusing known when equal.
func intern(b []byte, known string) string {
	if string(b) == known {
		return known
	}
	return string(b)
}

// internFinish returns a finish reason without allocating for the usual
// ones.
func internFinish(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "stop":
		return "stop"
	case "length":
		return "length"
	case "tool_calls":
		return "tool_calls"
	case "content_filter":
		return "content_filter"
	case "model_length":
		return "model_length"
	case "error":
		return "error"
	}
	return string(b)
}

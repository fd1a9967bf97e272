package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
)

// A parameter of an OpenAI-compatible request is honoured (decoded and
// passed on), ignored (accepted, without effect: listed in docs/openai.md
// with the reason), or refused with a 400 naming it. Refusing is the rule
// for every parameter not listed, so that a client never believes it got
// what it asked for (tools, several choices, log probabilities…). A
// refused parameter sent with its default value (null, false, 0, "", [],
// {}, or 1 for n and best_of) asks for nothing and is accepted.

// use says what a route does with a parameter.
type use uint8

const (
	honoured use = iota + 1
	ignored
)

// Parameters of each route. "user" and "safety_identifier" are ignored
// because who asks is the token's person, never the payload's claim; the
// others because they do not change the answer a client gets.
var (
	chatParams = map[string]use{
		"model": honoured, "messages": honoured, "stream": honoured, "stream_options": honoured,
		"max_tokens": honoured, "max_completion_tokens": honoured, "temperature": honoured,
		"top_p": honoured, "stop": honoured, "response_format": honoured, "n": honoured,
		"user": ignored, "safety_identifier": ignored, "seed": ignored, "metadata": ignored,
		"store": ignored, "service_tier": ignored, "prompt_cache_key": ignored, "parallel_tool_calls": ignored,
	}
	completionParams = map[string]use{
		"model": honoured, "prompt": honoured, "suffix": honoured, "stream": honoured, "stream_options": honoured,
		"max_tokens": honoured, "temperature": honoured, "top_p": honoured, "stop": honoured,
		"n": honoured, "best_of": honoured,
		"user": ignored, "seed": ignored,
	}
	embeddingParams = map[string]use{
		"model": honoured, "input": honoured, "encoding_format": honoured, "dimensions": honoured,
		"user": ignored,
	}
)

// refusalHints say why some well-known parameters are refused.
var refusalHints = map[string]string{
	"tools":              "timon does not run tools or functions",
	"tool_choice":        "timon does not run tools or functions",
	"functions":          "timon does not run tools or functions",
	"function_call":      "timon does not run tools or functions",
	"n":                  "timon answers one choice",
	"best_of":            "timon answers one choice",
	"logprobs":           "log probabilities are not returned",
	"top_logprobs":       "log probabilities are not returned",
	"logit_bias":         "not passed to the models",
	"presence_penalty":   "not passed to the models",
	"frequency_penalty":  "not passed to the models",
	"echo":               "the prompt is not echoed",
	"audio":              "text only",
	"modalities":         "text only",
	"prediction":         "predicted outputs are not supported",
	"web_search_options": "timon does not search the web",
	"reasoning_effort":   "not passed to the models",
}

// decodeOpenAI reads r's JSON body into v after checking its parameters
// against params.
func decodeOpenAI(r *http.Request, params map[string]use, v any) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return decodeError(err)
	}
	for _, k := range sortedKeys(fields) {
		if params[k] != 0 || isDefault(k, fields[k]) {
			continue
		}
		return unsupported(k, refusalHints[k])
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var pe *paramError
		if errors.As(err, &pe) {
			return err
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return invalidParam(te.Field, "%s must be %s", te.Field, jsonType(te.Type))
		}
		return decodeError(err)
	}
	return nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// isDefault reports whether raw is a parameter's value that asks for
// nothing.
func isDefault(name string, raw json.RawMessage) bool {
	switch s := string(bytes.TrimSpace(raw)); s {
	case "null", "false", "0", `""`, "[]", "{}":
		return true
	case "1":
		return name == "n" || name == "best_of"
	}
	return false
}

// stopList is "stop": a string or an array of strings.
type stopList []string

func (l *stopList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*l = stopList{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return invalidParam("stop", "stop must be a string or an array of strings")
	}
	*l = list
	return nil
}

// streamOptions is "stream_options".
type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// checkChoices refuses n or best_of other than 1.
func checkChoices(name string, n *int) error {
	switch {
	case n == nil || *n == 1:
		return nil
	case *n < 1:
		return invalidParam(name, "%s must be at least 1", name)
	}
	return unsupported(name, refusalHints[name])
}

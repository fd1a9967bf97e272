package server

import (
	"encoding/json"
	"net/http"
	"time"

	"timon.dev/timon/core"
)

// completionRequest is what timon reads of OpenAI's (legacy) completion
// request: a prompt and a suffix, the fill-in-the-middle that editors'
// autocompletion (Continue's tab completion) asks for. It is governed as
// task complete, the editor's own.
type completionRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	Suffix        string          `json:"suffix"`
	Stream        bool            `json:"stream"`
	StreamOptions *streamOptions  `json:"stream_options"`
	MaxTokens     int             `json:"max_tokens"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	Stop          stopList        `json:"stop"`
	N             *int            `json:"n"`
	BestOf        *int            `json:"best_of"`
}

// completionChoice is one choice of a text_completion object.
type completionChoice struct {
	Index        int       `json:"index"`
	Text         string    `json:"text"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type completionResponse struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   *ocUsage           `json:"usage,omitempty"`
	Notices []string           `json:"notices,omitempty"` // as ocResponse's
}

// promptText reads "prompt": a string, or an array of exactly one string.
func promptText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", invalidParam("prompt", "prompt is required")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", invalidParam("prompt", "prompt must be a string or an array of one string")
	}
	for _, item := range list {
		if err := json.Unmarshal(item, &s); err != nil {
			return "", unsupportedValue("prompt", "prompt must be text: token arrays are not supported")
		}
	}
	if len(list) != 1 {
		return "", unsupportedValue("prompt", "prompt holds %d prompts; timon completes one per request", len(list))
	}
	return s, nil
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	var body completionRequest
	if err := decodeOpenAI(r, completionParams, &body); err != nil {
		openAIError(w, r, err)
		return
	}
	prompt, err := promptText(body.Prompt)
	if err == nil {
		err = checkChoices("n", body.N)
	}
	if err == nil {
		err = checkChoices("best_of", body.BestOf)
	}
	if err == nil && prompt == "" && body.Suffix == "" {
		err = invalidParam("prompt", "prompt and suffix are both empty: there is nothing to complete")
	}
	if err != nil {
		openAIError(w, r, err)
		return
	}
	req := &core.Request{Principal: principal(r), Task: core.TaskComplete, Prefix: prompt, Suffix: body.Suffix,
		Model: requestedModel(body.Model), MaxTokens: body.MaxTokens, Temperature: body.Temperature, TopP: body.TopP, Stop: body.Stop}
	created := time.Now().Unix()
	if !body.Stream {
		s.answer(w, r, req, func(resp *core.Response, finish *string) any {
			return completionResponse{
				ID: resp.RequestID, Object: "text_completion", Created: created, Model: resp.Model,
				Choices: []completionChoice{{Text: resp.Text, FinishReason: finish}},
				Usage:   usage(resp.Usage), Notices: resp.Notices,
			}
		})
		return
	}
	st := &openAIStream{sse: newSSE(w, r), object: "text_completion", created: created, model: streamModel(body.Model)}
	chunk := func(id string, ch completionChoice, notices ...string) error {
		return st.sse.event("", completionResponse{ID: id, Object: st.object, Created: created, Model: st.model,
			Choices: []completionChoice{ch}, Notices: notices})
	}
	resp, err := s.o.Assistant.Stream(r.Context(), req, func(d string) error {
		return chunk(req.ID, completionChoice{Text: d})
	})
	if err != nil {
		st.fail(w, r, s.assistError(req.Model, err), func(reason string) error {
			return chunk(req.ID, completionChoice{FinishReason: &reason})
		})
		return
	}
	finish := finishReason(resp.FinishReason)
	chunk(resp.RequestID, completionChoice{FinishReason: &finish}, resp.Notices...)
	if body.StreamOptions != nil && body.StreamOptions.IncludeUsage {
		st.sse.event("", completionResponse{ID: resp.RequestID, Object: st.object, Created: created, Model: st.model,
			Choices: []completionChoice{}, Usage: usage(resp.Usage)})
	}
	st.sse.raw("data: [DONE]\n\n")
}

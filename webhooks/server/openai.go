package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"timon.dev/timon/core"
)

// AutoModel asks the policy's route to choose the model.
const AutoModel = "timon"

// chatCompletionRequest is the subset of OpenAI's chat completion request
// that timon honours; other fields are accepted and ignored.
type chatCompletionRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           int      `json:"max_tokens"`
	MaxCompletionTokens int      `json:"max_completion_tokens"`
	Temperature         *float64 `json:"temperature"`
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

type ocChoice struct {
	Index        int        `json:"index"`
	Message      *ocMessage `json:"message,omitempty"`
	Delta        *ocMessage `json:"delta,omitempty"`
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
}

// openAIError writes an error in OpenAI's shape, with timon's code and
// message also at the top level.
func openAIError(c *gin.Context, err error) {
	e := core.AsError(err, "internal error")
	if !e.RetryAt.IsZero() {
		c.Header("Retry-After", strconv.Itoa(max(1, int(time.Until(e.RetryAt).Seconds())+1)))
	}
	c.AbortWithStatusJSON(Status(e.Kind), gin.H{
		"code":       e.Kind,
		"message":    e.Message,
		"request_id": e.RequestID,
		"error":      gin.H{"message": e.Message, "type": string(e.Kind), "code": string(e.Kind), "param": nil},
	})
}

func (s *Server) chatCompletions(c *gin.Context) {
	var body chatCompletionRequest
	if err := json.NewDecoder(c.Request.Body).Decode(&body); err != nil {
		openAIError(c, decodeError(err))
		return
	}
	req := &core.Request{Principal: principal(c), Task: core.TaskChat, Temperature: body.Temperature}
	if body.Model != "" && body.Model != AutoModel {
		req.Model = body.Model
	}
	req.MaxTokens = body.MaxTokens
	if body.MaxCompletionTokens > 0 {
		req.MaxTokens = body.MaxCompletionTokens
	}
	for i, m := range body.Messages {
		text, err := messageText(m.Content)
		if err != nil {
			openAIError(c, core.Errorf(core.KindInvalid, "messages[%d]: %v", i, err))
			return
		}
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		req.Messages = append(req.Messages, core.Message{Role: role, Content: text})
	}
	if !body.Stream {
		resp, err := s.o.Assistant.Do(c.Request.Context(), req)
		if err != nil {
			openAIError(c, err)
			return
		}
		finish := finishReason(resp.FinishReason)
		c.JSON(http.StatusOK, ocResponse{
			ID: resp.RequestID, Object: "chat.completion", Created: time.Now().Unix(), Model: resp.Model,
			Choices: []ocChoice{{Message: &ocMessage{Role: "assistant", Content: resp.Text}, FinishReason: &finish}},
			Usage:   usage(resp.Usage),
		})
		return
	}
	sse := newSSE(c)
	created := time.Now().Unix()
	model := body.Model
	first := true
	resp, err := s.o.Assistant.Stream(c.Request.Context(), req, func(d string) error {
		delta := &ocMessage{Content: d}
		if first {
			delta.Role, first = "assistant", false
		}
		return sse.event("", ocResponse{ID: req.ID, Object: "chat.completion.chunk", Created: created, Model: model,
			Choices: []ocChoice{{Delta: delta}}})
	})
	if err != nil {
		if !sse.started {
			openAIError(c, err)
			return
		}
		e := core.AsError(err, "internal error")
		sse.event("", gin.H{"error": gin.H{"message": e.Message, "type": string(e.Kind), "code": string(e.Kind)}})
		return
	}
	finish := finishReason(resp.FinishReason)
	sse.event("", ocResponse{ID: resp.RequestID, Object: "chat.completion.chunk", Created: created, Model: resp.Model,
		Choices: []ocChoice{{Delta: &ocMessage{}, FinishReason: &finish}}})
	if body.StreamOptions != nil && body.StreamOptions.IncludeUsage {
		sse.event("", ocResponse{ID: resp.RequestID, Object: "chat.completion.chunk", Created: created, Model: resp.Model,
			Choices: []ocChoice{}, Usage: usage(resp.Usage)})
	}
	sse.raw("data: [DONE]\n\n")
}

func finishReason(r string) string {
	if r == "" {
		return "stop"
	}
	return r
}

func usage(u core.Usage) *ocUsage {
	return &ocUsage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.PromptTokens + u.CompletionTokens}
}

func (s *Server) models(c *gin.Context) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		OwnedBy string `json:"owned_by"`
	}
	out := []model{{ID: AutoModel, Object: "model", OwnedBy: "timon"}}
	for _, m := range s.o.Models {
		out = append(out, model{ID: m, Object: "model", OwnedBy: "timon"})
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": out})
}

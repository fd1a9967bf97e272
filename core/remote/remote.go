// Package remote is the core.Assistant that talks to a timon hub over HTTPS
// with a personal token: what timon lsp uses in the institutional set-up,
// where governance (policy, redaction, quotas, journal) is enforced by the
// hub. It behaves like the in-process engine: same requests, same responses,
// same *core.Error kinds.
package remote

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"timon.dev/timon/core"
)

// Client is a remote core.Assistant. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

var _ core.Assistant = (*Client)(nil)

// New returns a client of the hub at baseURL (e.g. https://timon.example.org)
// authenticating with token. A nil httpClient uses one that honours system
// CAs and HTTPS_PROXY, with no overall timeout (streams can be long; the
// caller's context bounds each request).
func New(baseURL, token string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("hub URL: expected http(s)://host[:port], got %q", baseURL)
	}
	if token == "" {
		return nil, errors.New("hub token: none given (create one with timon token create on the hub)")
	}
	if httpClient == nil {
		httpClient = &http.Client{Transport: http.DefaultTransport}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: httpClient}, nil
}

// AssistRequest is the body of POST /v1/assist, the hub's native API: a
// core.Request without the principal (the token defines it) and without an
// id (the hub assigns it), plus whether to stream.
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
	ResponseFormat *core.JSONSchema    `json:"response_format,omitempty"`
	Untrusted      []string            `json:"untrusted,omitempty"`
	LaTeX          *core.LaTeXContext  `json:"latex,omitempty"`
	Stream         bool                `json:"stream,omitempty"`
}

// NewAssistRequest is the wire form of req.
func NewAssistRequest(req *core.Request, stream bool) AssistRequest {
	return AssistRequest{
		Task: req.Task, Messages: req.Messages, Input: req.Input, Instruction: req.Instruction, Format: req.Format,
		Prefix: req.Prefix, Suffix: req.Suffix, Origin: req.Origin, Classification: req.Classification, Model: req.Model,
		MaxTokens: req.MaxTokens, Temperature: req.Temperature, ConversationID: req.ConversationID,
		ResponseFormat: req.ResponseFormat, Untrusted: req.Untrusted, LaTeX: req.LaTeX, Stream: stream,
	}
}

// Request turns the wire form back into a core.Request for p. Of the
// origin it keeps only what an editor describes of its own file (path,
// language): a channel, thread, project or merge request is the hub's own
// front ends' to state, so a caller cannot claim one to match a policy rule
// scoped to it (authenticated scope, not the payload, decides).
func (a *AssistRequest) Request(p core.Principal) *core.Request {
	origin := core.Origin{Path: a.Origin.Path, Language: a.Origin.Language}
	return &core.Request{
		Principal: p, Task: a.Task, Messages: a.Messages, Input: a.Input, Instruction: a.Instruction,
		Format: a.Format, Prefix: a.Prefix, Suffix: a.Suffix, Origin: origin, Classification: a.Classification,
		Model: a.Model, MaxTokens: a.MaxTokens, Temperature: a.Temperature, ConversationID: a.ConversationID,
		ResponseFormat: a.ResponseFormat, Untrusted: a.Untrusted, LaTeX: a.LaTeX,
	}
}

// Server-sent events of a streamed /v1/assist answer.
const (
	EventDelta = "delta" // data: Delta
	EventDone  = "done"  // data: the core.Response
	EventError = "error" // data: the *core.Error, as {code, message, …}
)

// Delta is the data of a delta event.
type Delta struct {
	Text string `json:"text"`
}

// IntegrationHeader lets a personal-token client say which integration it
// is; the hub honours lsp (and api, the default) only.
const IntegrationHeader = "X-Timon-Integration"

func (c *Client) post(ctx context.Context, req *core.Request, stream bool) (*http.Response, error) {
	body, err := json.Marshal(NewAssistRequest(req, stream))
	if err != nil {
		return nil, core.Errorf(core.KindInvalid, "encoding request: %v", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/assist", bytes.NewReader(body))
	if err != nil {
		return nil, core.Errorf(core.KindInvalid, "building request: %v", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+c.token)
	if req.Principal.Integration != "" {
		hr.Header.Set(IntegrationHeader, string(req.Principal.Integration))
	}
	if stream {
		hr.Header.Set("Accept", "text/event-stream")
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &core.Error{Kind: core.KindCanceled, Message: "the request was canceled", Err: ctx.Err()}
		}
		return nil, &core.Error{Kind: core.KindUnavailable, Message: "the timon hub at " + c.base + " is unreachable", Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

// decodeError reads a hub's JSON error into a *core.Error.
func decodeError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e core.Error
	if json.Unmarshal(data, &e) == nil && e.Kind != "" {
		return &e
	}
	return &core.Error{Kind: kindOfStatus(resp.StatusCode), Message: fmt.Sprintf("the timon hub answered %s", resp.Status)}
}

func kindOfStatus(status int) core.Kind {
	switch status {
	case http.StatusBadRequest:
		return core.KindInvalid
	case http.StatusUnauthorized:
		return core.KindUnauthenticated
	case http.StatusForbidden:
		return core.KindDenied
	case http.StatusTooManyRequests:
		return core.KindQuota
	case http.StatusGatewayTimeout:
		return core.KindTimeout
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return core.KindUnavailable
	}
	return core.KindInternal
}

// Do answers req as a whole.
func (c *Client) Do(ctx context.Context, req *core.Request) (*core.Response, error) {
	resp, err := c.post(ctx, req, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out core.Response
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, &core.Error{Kind: core.KindUnavailable, Message: "the timon hub sent an unreadable answer", Err: err}
	}
	req.ID = out.RequestID
	return &out, nil
}

// Stream answers req incrementally through emit.
func (c *Client) Stream(ctx context.Context, req *core.Request, emit func(string) error) (*core.Response, error) {
	resp, err := c.post(ctx, req, true)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	var event string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := []byte(strings.TrimPrefix(line, "data: "))
			switch event {
			case EventDelta:
				var d Delta
				if err := json.Unmarshal(data, &d); err != nil {
					return nil, badStream(err)
				}
				if err := emit(d.Text); err != nil {
					return nil, err
				}
			case EventDone:
				var out core.Response
				if err := json.Unmarshal(data, &out); err != nil {
					return nil, badStream(err)
				}
				req.ID = out.RequestID
				return &out, nil
			case EventError:
				var e core.Error
				if err := json.Unmarshal(data, &e); err != nil || e.Kind == "" {
					return nil, badStream(err)
				}
				return nil, &e
			}
			event = ""
		}
	}
	if ctx.Err() != nil {
		return nil, &core.Error{Kind: core.KindCanceled, Message: "the request was canceled", Err: ctx.Err()}
	}
	return nil, &core.Error{Kind: core.KindUnavailable, Message: "the timon hub ended the answer early", Err: sc.Err()}
}

func badStream(err error) error {
	return &core.Error{Kind: core.KindUnavailable, Message: "the timon hub sent an unreadable stream", Err: err}
}

// Ping checks that the hub is reachable and ready.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	hr, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/readyz", nil)
	resp, err := c.http.Do(hr)
	if err != nil {
		return fmt.Errorf("reaching the timon hub at %s: %w", c.base, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the timon hub at %s is not ready (%s)", c.base, resp.Status)
	}
	return nil
}

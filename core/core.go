// Package core holds timon's domain types: the Assistant interface every front
// end talks to, requests and responses, principals, tasks and error kinds. It
// imports nothing of timon's; everything else imports it.
package core

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Assistant is the one interface every front end (editor, chat bots, GitLab,
// HTTP API) uses. Two implementations exist: the governed engine
// (core/assistant) and a remote client (core/remote) that talks to a hub.
// Both behave the same; errors are *Error.
type Assistant interface {
	// Do answers a request as a whole.
	Do(ctx context.Context, req *Request) (*Response, error)
	// Stream answers a request incrementally: emit is called with each piece
	// of the answer as it arrives (already restored and checked), then the
	// complete Response is returned. If emit returns an error, the request is
	// aborted and that error returned.
	Stream(ctx context.Context, req *Request, emit func(delta string) error) (*Response, error)
}

// Integration names the front end a request came through.
type Integration string

// Integrations.
const (
	IntegrationLSP        Integration = "lsp"
	IntegrationMattermost Integration = "mattermost"
	IntegrationSlack      Integration = "slack"
	IntegrationGitLab     Integration = "gitlab"
	IntegrationAPI        Integration = "api"
)

// Integrations lists every known integration.
var Integrations = []Integration{IntegrationLSP, IntegrationMattermost, IntegrationSlack, IntegrationGitLab, IntegrationAPI}

// Valid reports whether i is a known integration.
func (i Integration) Valid() bool { return slices.Contains(Integrations, i) }

// Task is what the assistant is asked to do.
type Task string

// Tasks.
const (
	TaskChat      Task = "chat"      // a conversation (Messages)
	TaskComplete  Task = "complete"  // fill-in-the-middle code completion (Prefix, Suffix)
	TaskRewrite   Task = "rewrite"   // rewrite Input (plain text or LaTeX) following Instruction
	TaskSummarize Task = "summarize" // summarize Input (a thread, a document)
	TaskExplain   Task = "explain"   // explain Input (code)
	TaskReview    Task = "review"    // review Input (a diff)
	// TaskEmbed turns texts into vectors: it is answered by an Embedder
	// (see embed.go), never as text by Do or Stream.
	TaskEmbed Task = "embed"
	// TaskRefs searches bibliographic sources: it is answered by a
	// Bibliographer (see refs.go) with records, never as text.
	TaskRefs Task = "refs"
)

// Tasks lists every known task: what policy rules match.
var Tasks = append(slices.Clip(TextTasks), TaskEmbed, TaskRefs)

// TextTasks lists the tasks answered as text (Do and Stream, /v1/assist).
var TextTasks = []Task{TaskChat, TaskComplete, TaskRewrite, TaskSummarize, TaskExplain, TaskReview}

// Valid reports whether t is a known task.
func (t Task) Valid() bool { return slices.Contains(Tasks, t) }

// Classification is the sensitivity of the data in a request.
type Classification string

// Classifications, from least to most sensitive.
const (
	ClassPublic       Classification = "public"
	ClassInternal     Classification = "internal"
	ClassConfidential Classification = "confidential"
	ClassSecret       Classification = "secret"
)

// Classifications lists every classification, least sensitive first.
var Classifications = []Classification{ClassPublic, ClassInternal, ClassConfidential, ClassSecret}

// Valid reports whether c is a known classification.
func (c Classification) Valid() bool { return slices.Contains(Classifications, c) }

// Principal is who is asking, and through which integration.
type Principal struct {
	UserID      string      `json:"user_id"`
	Email       string      `json:"email,omitempty"`
	Groups      []string    `json:"groups,omitempty"`
	Integration Integration `json:"integration"`
}

// InGroup reports whether p belongs to group g.
func (p Principal) InGroup(g string) bool { return slices.Contains(p.Groups, g) }

// Origin tells where the input comes from.
type Origin struct {
	Path     string `json:"path,omitempty"`     // file path (editor, MR)
	Language string `json:"language,omitempty"` // language id: go, python, latex…
	Channel  string `json:"channel,omitempty"`  // chat channel
	Thread   string `json:"thread,omitempty"`   // chat thread
	Project  string `json:"project,omitempty"`  // GitLab project path
	MR       int    `json:"mr,omitempty"`       // merge request iid
}

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"` // system, user, assistant
	Content string `json:"content"`
}

// Format of a rewrite's input.
const (
	FormatText  = "text"
	FormatLaTeX = "latex"
)

// Request is one request to the assistant.
type Request struct {
	// ID is the journal request id; set by the engine when empty.
	ID        string    `json:"id,omitempty"`
	Principal Principal `json:"principal"`
	Task      Task      `json:"task"`

	Messages    []Message `json:"messages,omitempty"`    // chat
	Input       string    `json:"input,omitempty"`       // rewrite, summarize, explain, review
	Instruction string    `json:"instruction,omitempty"` // rewrite: reformulate, grammar, shorten, translate…; free text otherwise
	Format      string    `json:"format,omitempty"`      // rewrite: text (default) or latex
	Prefix      string    `json:"prefix,omitempty"`      // complete: text before the cursor
	Suffix      string    `json:"suffix,omitempty"`      // complete: text after the cursor

	Origin         Origin         `json:"origin,omitzero"`
	Classification Classification `json:"classification,omitempty"` // a hint; policy may raise it
	Model          string         `json:"model,omitempty"`          // a model the caller asks for; policy decides
	MaxTokens      int            `json:"max_tokens,omitempty"`
	Temperature    *float64       `json:"temperature,omitempty"`
	TopP           *float64       `json:"top_p,omitempty"`
	// Stop lists sequences at which the model stops writing.
	Stop []string `json:"stop,omitempty"`
	// ConversationID ties requests of one conversation together (chat threads).
	ConversationID string `json:"conversation_id,omitempty"`
	// ResponseFormat asks for structured output: an answer that is JSON
	// following the schema (response_format json_schema on the wire).
	ResponseFormat *JSONSchema `json:"response_format,omitempty"`
	// Untrusted lists material inside the request's text written by
	// someone other than the person asking (earlier messages of a chat
	// thread, a merge request's description or diff): each an exact
	// substring of Input or of a message's content. A policy rule that
	// moderates untrusted material has each checked (for jailbreaking,
	// typically) and may set aside one flagged.
	Untrusted []string `json:"untrusted,omitempty"`
	// LaTeX is what the editor knows of a LaTeX rewrite's document: the
	// writer's definitions and a translation's glossary.
	LaTeX *LaTeXContext `json:"latex,omitempty"`
}

// MaxUntrusted bounds the pieces of untrusted material a request lists.
const MaxUntrusted = 256

// JSONSchema names a JSON Schema the answer must follow.
type JSONSchema struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
	// Strict asks the server to enforce the schema exactly.
	Strict bool `json:"strict,omitempty"`
}

// MaxInputBytes bounds the text a single request may carry, all fields together.
const MaxInputBytes = 4 << 20

// Validate checks the request's shape; it does not check who may do what.
func (r *Request) Validate() error {
	if r.Task == "" {
		return Errorf(KindInvalid, "missing \"task\": one of %s", joinTasks())
	}
	if !r.Task.Valid() {
		return Errorf(KindInvalid, "unknown task %q (expected one of %s)", r.Task, joinTasks())
	}
	if r.Principal.UserID == "" {
		return Errorf(KindUnauthenticated, "request has no user")
	}
	if !r.Principal.Integration.Valid() {
		return Errorf(KindInvalid, "unknown integration %q", r.Principal.Integration)
	}
	if r.Classification != "" && !r.Classification.Valid() {
		return Errorf(KindInvalid, "unknown classification %q (expected public, internal, confidential or secret)", r.Classification)
	}
	if r.MaxTokens < 0 {
		return Errorf(KindInvalid, "max_tokens must not be negative")
	}
	switch r.Task {
	case TaskChat:
		if len(r.Messages) == 0 {
			return Errorf(KindInvalid, "task chat needs at least one message")
		}
		for i, m := range r.Messages {
			switch m.Role {
			case "system", "user", "assistant":
			default:
				return Errorf(KindInvalid, "message %d: unknown role %q (expected system, user or assistant)", i, m.Role)
			}
		}
	case TaskEmbed:
		return Errorf(KindInvalid, "task embed answers vectors, not text: use POST /v1/embeddings")
	case TaskRefs:
		return Errorf(KindInvalid, "task refs answers bibliographic records, not text")
	case TaskComplete:
		if r.Prefix == "" && r.Suffix == "" {
			return Errorf(KindInvalid, "task complete needs a prefix or a suffix")
		}
	default:
		if strings.TrimSpace(r.Input) == "" {
			return Errorf(KindInvalid, "task %s needs an input", r.Task)
		}
	}
	if r.Task == TaskRewrite && r.Format != "" && r.Format != FormatText && r.Format != FormatLaTeX {
		return Errorf(KindInvalid, "unknown format %q (expected text or latex)", r.Format)
	}
	if f := r.ResponseFormat; f != nil && (len(f.Schema) == 0 || !json.Valid(f.Schema)) {
		return Errorf(KindInvalid, "response_format needs a valid JSON schema")
	}
	if err := r.validateUntrusted(); err != nil {
		return err
	}
	if err := r.LaTeX.validate(); err != nil {
		return err
	}
	if r.Size() > MaxInputBytes {
		return Errorf(KindInvalid, "request text is %d bytes, more than the %d allowed", r.Size(), MaxInputBytes)
	}
	return nil
}

func (r *Request) validateUntrusted() error {
	if len(r.Untrusted) > MaxUntrusted {
		return Errorf(KindInvalid, "untrusted lists %d pieces of material, more than the %d allowed", len(r.Untrusted), MaxUntrusted)
	}
	total := 0
	for _, u := range r.Untrusted {
		total += len(u)
	}
	if total > MaxInputBytes {
		// Each piece is redacted and classified on its own: listing the
		// same text many times must not multiply that work.
		return Errorf(KindInvalid, "untrusted lists %d bytes of material, more than the %d allowed", total, MaxInputBytes)
	}
	for i, u := range r.Untrusted {
		if strings.TrimSpace(u) == "" {
			return Errorf(KindInvalid, "untrusted[%d] is empty", i)
		}
		if !r.contains(u) {
			return Errorf(KindInvalid, "untrusted[%d] is not part of the request's input or messages", i)
		}
	}
	return nil
}

// contains reports whether s is part of the request's input or of one
// of its messages.
func (r *Request) contains(s string) bool {
	if strings.Contains(r.Input, s) {
		return true
	}
	return slices.ContainsFunc(r.Messages, func(m Message) bool { return strings.Contains(m.Content, s) })
}

// Size is the number of bytes of text the request carries.
func (r *Request) Size() int {
	n := len(r.Input) + len(r.Instruction) + len(r.Prefix) + len(r.Suffix)
	for _, s := range r.Stop {
		n += len(s)
	}
	for _, m := range r.Messages {
		n += len(m.Content)
	}
	return n
}

func joinTasks() string {
	s := make([]string, len(TextTasks))
	for i, t := range TextTasks {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// Usage counts tokens as reported by the provider.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// Response is the assistant's answer.
type Response struct {
	RequestID    string         `json:"request_id"`
	Text         string         `json:"text"`
	Model        string         `json:"model,omitempty"`
	Provider     string         `json:"provider,omitempty"`
	FinishReason string         `json:"finish_reason,omitempty"`
	Usage        Usage          `json:"usage"`
	Redactions   map[string]int `json:"redactions,omitempty"` // counts by type, never values
	Rule         string         `json:"rule,omitempty"`       // the policy rule that allowed it
	// Notices are for the person who asked, e.g. a moderation warning
	// ("moderation: category health flagged (output)"); never content.
	Notices []string `json:"notices,omitempty"`
}

// String describes p for messages (never secrets).
func (p Principal) String() string {
	return fmt.Sprintf("%s via %s", p.UserID, p.Integration)
}

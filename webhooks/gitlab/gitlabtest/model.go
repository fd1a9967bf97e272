package gitlabtest

import (
	"encoding/json"
	"strings"

	"timon.dev/timon/core/provider/fakellm"
)

// ModelFinding is a finding the fake reviewer model returns.
type ModelFinding struct {
	File       string  `json:"file"`
	Line       string  `json:"line"`
	Severity   string  `json:"severity"`
	Confidence float64 `json:"confidence"`
	Message    string  `json:"message"`
	Suggestion *string `json:"suggestion"`
	Category   string  `json:"category,omitempty"`
}

// Rule makes the fake reviewer report a finding on every diff line that
// contains Needle (after its +, - or space marker, which Kind selects:
// '+', '-' or ' ').
type Rule struct {
	Kind       byte
	Needle     string
	Severity   string
	Message    string
	Suggestion string // "" for none
	Category   string // "" for none
}

// DefaultRules flag panics on added lines (with a suggestion), removed
// defers and TODOs in context lines.
var DefaultRules = []Rule{
	{Kind: '+', Needle: "panic(", Severity: "major", Message: "Do not panic on bad input; return an error.", Suggestion: "\treturn err", Category: "error-handling"},
	{Kind: '-', Needle: "defer ", Severity: "minor", Message: "Removing this defer leaks the resource.", Category: "resource-leak"},
	{Kind: ' ', Needle: "TODO", Severity: "minor", Message: "This TODO is still open next to the change."},
}

// Reviewer is a fakellm handler that behaves like a model asked for a
// structured review: for requests carrying a response_format it reads the
// diff in the prompt and answers JSON findings following the rules; other
// requests (describe, explain) get a short plain answer.
func Reviewer(rules []Rule) fakellm.Handler {
	return func(req fakellm.Request) fakellm.Reply {
		user := req.LastUser()
		if len(req.ResponseFormat) == 0 {
			return fakellm.Reply{Text: "This merge request changes " + itoa(strings.Count(user, "<file ")) + " files."}
		}
		return fakellm.Reply{Text: ReviewJSON("Looks reasonable overall.", FindingsIn(user, rules))}
	}
}

// FindingsIn applies rules to the diff blocks of a prompt.
func FindingsIn(prompt string, rules []Rule) []ModelFinding {
	var out []ModelFinding
	file := ""
	for _, l := range strings.Split(prompt, "\n") {
		if strings.HasPrefix(l, "<file path=\"") {
			rest := strings.TrimPrefix(l, "<file path=\"")
			file = rest[:strings.Index(rest, "\"")]
			continue
		}
		if l == "</file>" {
			file = ""
			continue
		}
		if file == "" || l == "" || strings.HasPrefix(l, "@@") {
			continue
		}
		for _, r := range rules {
			if l[0] == r.Kind && strings.Contains(l[1:], r.Needle) {
				f := ModelFinding{File: file, Line: l[1:], Severity: r.Severity, Confidence: 0.9, Message: r.Message, Category: r.Category}
				if r.Suggestion != "" {
					s := r.Suggestion
					f.Suggestion = &s
				}
				out = append(out, f)
			}
		}
	}
	return out
}

// ReviewJSON renders an answer in the review schema.
func ReviewJSON(summary string, fs []ModelFinding) string {
	if fs == nil {
		fs = []ModelFinding{}
	}
	b, _ := json.Marshal(map[string]any{"summary": summary, "findings": fs})
	return string(b)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

package core_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"timon.dev/timon/core"
)

func TestValidate(t *testing.T) {
	p := core.Principal{UserID: "alice", Integration: core.IntegrationAPI}
	ok := []*core.Request{
		{Principal: p, Task: core.TaskChat, Messages: []core.Message{{Role: "user", Content: "hi"}}},
		{Principal: p, Task: core.TaskComplete, Prefix: "func f() {"},
		{Principal: p, Task: core.TaskRewrite, Input: "x", Format: core.FormatLaTeX},
		{Principal: p, Task: core.TaskReview, Input: "diff", Classification: core.ClassConfidential},
	}
	for _, r := range ok {
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v", r.Task, err)
		}
	}
	bad := []struct {
		req  *core.Request
		kind core.Kind
		says string
	}{
		{&core.Request{Principal: p, Task: "dance"}, core.KindInvalid, `unknown task "dance"`},
		{&core.Request{Principal: core.Principal{Integration: core.IntegrationAPI}, Task: core.TaskExplain, Input: "x"}, core.KindUnauthenticated, "no user"},
		{&core.Request{Principal: core.Principal{UserID: "a", Integration: "irc"}, Task: core.TaskExplain, Input: "x"}, core.KindInvalid, "integration"},
		{&core.Request{Principal: p, Task: core.TaskChat}, core.KindInvalid, "at least one message"},
		{&core.Request{Principal: p, Task: core.TaskChat, Messages: []core.Message{{Role: "wizard", Content: "x"}}}, core.KindInvalid, "unknown role"},
		{&core.Request{Principal: p, Task: core.TaskComplete}, core.KindInvalid, "prefix or a suffix"},
		{&core.Request{Principal: p, Task: core.TaskSummarize, Input: "  "}, core.KindInvalid, "needs an input"},
		{&core.Request{Principal: p, Task: core.TaskRewrite, Input: "x", Format: "docx"}, core.KindInvalid, "unknown format"},
		{&core.Request{Principal: p, Task: core.TaskExplain, Input: "x", Classification: "top"}, core.KindInvalid, "classification"},
		{&core.Request{Principal: p, Task: core.TaskExplain, Input: "x", MaxTokens: -1}, core.KindInvalid, "max_tokens"},
		{&core.Request{Principal: p, Task: core.TaskExplain, Input: strings.Repeat("x", core.MaxInputBytes+1)}, core.KindInvalid, "bytes"},
	}
	for _, c := range bad {
		err := c.req.Validate()
		if core.ErrorKind(err) != c.kind || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: got %v, want %s saying %q", c.req.Task, err, c.kind, c.says)
		}
	}
}

func TestErrorKind(t *testing.T) {
	e := core.Errorf(core.KindDenied, "no")
	if core.ErrorKind(fmt.Errorf("wrapped: %w", e)) != core.KindDenied {
		t.Error("wrapped *Error lost its kind")
	}
	if core.ErrorKind(context.Canceled) != core.KindCanceled || core.ErrorKind(context.DeadlineExceeded) != core.KindTimeout {
		t.Error("context errors")
	}
	if core.ErrorKind(errors.New("x")) != core.KindInternal || core.ErrorKind(nil) != "" {
		t.Error("other errors")
	}
	if a := core.AsError(errors.New("disk"), "store down"); a.Kind != core.KindInternal || a.Message != "store down" {
		t.Errorf("AsError: %+v", a)
	}
}

// TestSuggestionLanguageBounded: the labels of the suggestion counters are
// the known language ids; anything an editor invents counts as "other",
// so that a client cannot grow /metrics or the counters' rows without end.
func TestSuggestionLanguageBounded(t *testing.T) {
	for id, want := range map[string]string{
		"go": "go", " LaTeX ": "latex", "python": "python", "typescriptreact": "typescriptreact", "sh": "sh",
		"lang42": "other", "": "other", "<script>": "other", strings.Repeat("x", 300): "other",
	} {
		if got := core.SuggestionLanguage(id); got != want {
			t.Errorf("SuggestionLanguage(%q) = %q, want %q", id, got, want)
		}
	}
}

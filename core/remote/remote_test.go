package remote

import (
	"encoding/json"
	"reflect"
	"testing"

	"timon.dev/timon/core"
)

// A caller of the hub's API cannot claim a chat channel, thread, GitLab
// project or merge request: policy rules scoped to those must only match
// what the hub's own front ends state.
func TestRequestKeepsOnlyTheEditorsOrigin(t *testing.T) {
	a := AssistRequest{Task: core.TaskExplain, Input: "x", Origin: core.Origin{
		Path: "src/main.go", Language: "go", Channel: "mattermost:team/#lab-private",
		Thread: "t1", Project: "secret/vault", MR: 7,
	}}
	got := a.Request(core.Principal{UserID: "u", Integration: core.IntegrationAPI}).Origin
	want := core.Origin{Path: "src/main.go", Language: "go"}
	if got != want {
		t.Fatalf("origin = %+v, want %+v", got, want)
	}
}

// A LaTeX rewrite's context (the writer's definitions, a translation's
// glossary) crosses to the hub whole.
func TestLaTeXContextCrossesTheWire(t *testing.T) {
	c := &core.LaTeXContext{
		Definitions: []core.LaTeXDefinition{{Name: "todo", Role: "prose", Args: 1}, {Name: "eq", Environment: true, Role: "math"}},
		Glossary:    []core.GlossaryTerm{{Source: "apprentissage profond", Target: "deep learning"}, {Source: "PyTorch", Keep: true}},
	}
	req := &core.Request{Task: core.TaskRewrite, Format: core.FormatLaTeX, Instruction: "translate-en", Input: "x", LaTeX: c}
	a := NewAssistRequest(req, false)
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back AssistRequest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got := back.Request(core.Principal{UserID: "u", Integration: core.IntegrationLSP}).LaTeX
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("latex = %+v, want %+v", got, c)
	}
}

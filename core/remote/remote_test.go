package remote

import (
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

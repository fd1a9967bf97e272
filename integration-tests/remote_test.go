package integrationtests

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"timon.dev/timon/core"
	"timon.dev/timon/core/remote"
)

// TestRemoteClientBehavesLikeTheEngine: core/remote, what timon lsp uses in
// remote mode, gives the same answers and the same error kinds as the
// in-process engine does behind the hub.
func TestRemoteClientBehavesLikeTheEngine(t *testing.T) {
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	var a core.Assistant
	a, err := remote.New(h.url, h.token("jules", "interns"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := core.Principal{UserID: "ignored-the-token-decides", Integration: core.IntegrationLSP}

	resp, err := a.Do(ctx, &core.Request{Principal: p, Task: core.TaskExplain, Input: "mail ada@lab-univ.fr"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.RequestID, "req_") || resp.Provider != "fake" || !strings.Contains(resp.Text, "ada@lab-univ.fr") || resp.Redactions["email"] != 1 {
		t.Fatalf("Do: %+v", resp)
	}
	var deltas []string
	resp, err = a.Stream(ctx, &core.Request{Principal: p, Task: core.TaskChat, Messages: []core.Message{{Role: "user", Content: "Bonjour à tous, ceci est un message assez long pour être découpé"}}},
		func(d string) error { deltas = append(deltas, d); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(deltas) < 2 || strings.Join(deltas, "") != resp.Text {
		t.Fatalf("Stream: %d deltas %q, final %q", len(deltas), deltas, resp.Text)
	}
	// The integration the client claims is journaled (lsp), the user is the token's.
	out, _, _ := h.timon("audit", "export", "--user", "jules")
	if !strings.Contains(out, `"integration":"lsp"`) || strings.Contains(out, "ignored-the-token-decides") {
		t.Fatalf("journal: %s", out)
	}

	// Structured output reaches the model through the hub too.
	schema := &core.JSONSchema{Name: "findings", Schema: json.RawMessage(`{"type":"object"}`), Strict: true}
	if _, err := a.Do(ctx, &core.Request{Principal: p, Task: core.TaskExplain, Input: "x := 1", ResponseFormat: schema}); err != nil {
		t.Fatal(err)
	}
	if reqs := modelRequests(fake); !strings.Contains(string(reqs[len(reqs)-1].ResponseFormat), `"findings"`) {
		t.Fatalf("response_format sent to the model: %s", reqs[len(reqs)-1].ResponseFormat)
	}

	// Errors keep their kind and their details.
	_, err = a.Do(ctx, &core.Request{Principal: p, Task: core.TaskReview, Input: "diff"})
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Kind != core.KindDenied || ce.Rule != "interns-no-review" || ce.RequestID == "" {
		t.Fatalf("denied: %#v", err)
	}
	_, err = a.Stream(ctx, &core.Request{Principal: p, Task: "dance"}, func(string) error { return nil })
	if core.ErrorKind(err) != core.KindInvalid {
		t.Fatalf("invalid in a stream: %v", err)
	}
	bad, _ := remote.New(h.url, "timon_wrong", nil)
	if _, err := bad.Do(ctx, &core.Request{Principal: p, Task: core.TaskExplain, Input: "x"}); core.ErrorKind(err) != core.KindUnauthenticated {
		t.Fatalf("bad token: %v", err)
	}
	down, _ := remote.New("http://"+freeAddr(t), "timon_x", nil)
	if _, err := down.Do(ctx, &core.Request{Principal: p, Task: core.TaskExplain, Input: "x"}); core.ErrorKind(err) != core.KindUnavailable {
		t.Fatalf("hub down: %v", err)
	}
	if err := a.(*remote.Client).Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

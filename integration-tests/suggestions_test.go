package integrationtests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"go.lsp.dev/protocol"

	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/lsp/lsptest"
)

// The acceptance signal end to end: timon lsp in remote mode (VS Code's
// capabilities) counts the suggestions it shows and those accepted (the
// editor runs the suggestion's timon.accepted), reports the counts at
// shutdown to the real hub, which shows them in /admin/usage and /metrics,
// by language and integration, with no content anywhere. The same session
// checks that a rewrite reaches VS Code as a previewed edit.
func TestSuggestionCountsReachTheHub(t *testing.T) {
	fake := fakellm.New()
	t.Cleanup(fake.Close)
	p, h := startRemoteLSP(t, fake, lsptest.VSCode)
	ctx := ctxT(t)
	c := p.c

	u := p.file("add.go")
	c.Open(u, "go", lspAddGo+"\n}\n")
	inline := func() protocol.InlineCompletionItem {
		t.Helper()
		var res protocol.InlineCompletionList
		if err := c.Call(ctx, "textDocument/inlineCompletion", map[string]any{
			"textDocument": map[string]any{"uri": u}, "position": c.Pos(u, len(lspAddGo)), "context": map[string]any{"triggerKind": 1},
		}, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != 1 || res.Items[0].Command.Command != "timon.accepted" {
			t.Fatalf("inline completion %+v", res)
		}
		return res.Items[0]
	}
	first := inline()
	inline()
	inline()
	if err := c.Call(ctx, "workspace/executeCommand", map[string]any{"command": first.Command.Command, "arguments": first.Command.Arguments}, nil); err != nil {
		t.Fatal(err)
	}

	// A rewrite: one edit under a change annotation needing confirmation.
	fake.Handle(lspRewriter)
	tex := p.file("paper.tex")
	c.Open(tex, "latex", lspPaper)
	cur := strings.Index(lspPaper, "results")
	var acts []protocol.CodeAction
	if err := c.Call(ctx, "textDocument/codeAction", map[string]any{
		"textDocument": map[string]any{"uri": tex}, "range": c.Range(tex, cur, cur), "context": map[string]any{"diagnostics": []any{}},
	}, &acts); err != nil {
		t.Fatal(err)
	}
	var grammar protocol.CodeAction
	for _, a := range acts {
		if strings.Contains(a.Title, "grammar") {
			grammar = a
		}
	}
	var resolved protocol.CodeAction
	if err := c.Call(ctx, "codeAction/resolve", &grammar, &resolved); err != nil {
		t.Fatal(err)
	}
	if resolved.Edit == nil || !lsptest.NeedsConfirmation(*resolved.Edit) || c.Text(tex) != lspPaper {
		t.Fatalf("a previewed edit expected, the document unchanged: %+v", resolved.Edit)
	}
	fake.Handle(nil)

	p.shutdown(t)

	admin := h.token("root", "admin")
	req, _ := http.NewRequest(http.MethodGet, h.url+"/admin/usage?integration=lsp", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/admin/usage: %d %s", resp.StatusCode, raw)
	}
	var usage struct {
		Suggestions struct {
			Total      struct{ Shown, Accepted int64 }
			ByLanguage map[string]struct{ Shown, Accepted int64 } `json:"by_language"`
		}
	}
	if err := json.Unmarshal(raw, &usage); err != nil {
		t.Fatal(err)
	}
	if g := usage.Suggestions.ByLanguage["go"]; g.Shown != 3 || g.Accepted != 1 || usage.Suggestions.Total.Shown != 3 {
		t.Fatalf("/admin/usage suggestions: %s", raw)
	}
	if strings.Contains(string(raw), "return a + b") || strings.Contains(string(raw), "add.go") {
		t.Fatalf("/admin/usage carries content: %s", raw)
	}
	// Filtered to another user: nothing.
	req, _ = http.NewRequest(http.MethodGet, h.url+"/admin/usage?user=bob", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), `"suggestions":{"total":{"shown":0,"accepted":0`) {
		t.Fatalf("/admin/usage?user=bob: %s", raw)
	}

	resp, err = http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`timon_suggestions_shown_total{integration="lsp",language="go"} 3`,
		`timon_suggestions_accepted_total{integration="lsp",language="go"} 1`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, regexp.MustCompile(`(?m)^timon_suggestions.*$`).FindAllString(string(raw), -1))
		}
	}

	// The route refuses a request without a token and malformed counts.
	code, _, _ := h.post("/v1/telemetry/completions", "", map[string]any{"counts": []any{}})
	if code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", code)
	}
	tok := h.token("ada", "researchers")
	code, body, _ := h.post("/v1/telemetry/completions", tok, map[string]any{"counts": []any{map[string]any{"language": "go", "shown": -4}}})
	if code != http.StatusBadRequest {
		t.Errorf("a negative count: %d %v", code, body)
	}
	code, body, _ = h.post("/v1/telemetry/completions", tok, map[string]any{"counts": []any{map[string]any{"language": "go", "shown": 1, "text": "leak"}}})
	if code != http.StatusBadRequest {
		t.Errorf("a field that is not a count: %d %v", code, body)
	}
	// A hostile editor can neither inflate the counters without bound nor
	// grow /metrics' labels: counts beyond one report's bound, more
	// languages than a report holds are refused, and a made-up language
	// is counted under "other".
	code, body, _ = h.post("/v1/telemetry/completions", tok, map[string]any{"counts": []any{map[string]any{"language": "go", "shown": 1_000_001}}})
	if code != http.StatusBadRequest {
		t.Errorf("a count beyond a report's bound: %d %v", code, body)
	}
	many := make([]any, 65)
	for i := range many {
		many[i] = map[string]any{"language": fmt.Sprintf("lang%d", i), "shown": 1}
	}
	if code, body, _ = h.post("/v1/telemetry/completions", tok, map[string]any{"counts": many}); code != http.StatusBadRequest {
		t.Errorf("65 languages in one report: %d %v", code, body)
	}
	odd := "<script>" + strings.Repeat("x", 300)
	oddBody, _ := json.Marshal(map[string]any{"counts": []any{map[string]any{"language": odd, "shown": 3}}})
	oreq, _ := http.NewRequest(http.MethodPost, h.url+"/v1/telemetry/completions", strings.NewReader(string(oddBody)))
	oreq.Header.Set("Authorization", "Bearer "+tok)
	oreq.Header.Set("Content-Type", "application/json")
	oresp, err := http.DefaultClient.Do(oreq)
	if err != nil {
		t.Fatal(err)
	}
	oresp.Body.Close()
	if oresp.StatusCode != http.StatusNoContent {
		t.Fatalf("a made-up language: %d", oresp.StatusCode)
	}
	mresp, err := http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if strings.Contains(string(metrics), "xxxxxxxxxx") || !regexp.MustCompile(`(?m)^timon_suggestions_shown_total\{[^}]*language="other"`).Match(metrics) {
		t.Errorf("a made-up language reached /metrics' labels:\n%s", regexp.MustCompile(`(?m)^timon_suggestions_shown.*$`).FindAllString(string(metrics), -1))
	}
}

package integrationtests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"go.lsp.dev/protocol"

	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/lsp/lsptest"
)

// lspModeration is the moderation of the rule everyone in these tests
// (in local mode's configuration and the hub's), and its classifier on
// fakellm (%s): fakellm flags the categories named by "[flag:NAME]".
const lspModeration = `
moderation:
  classifiers:
    - {name: modfake, kind: mistral, base_url: %s, timeout: 5s, max_retries: 0, sovereign: true}
policy:
  routes: {default: [mistral-small-latest], complete: [codestral-latest]}
  rules:
    - name: everyone
      effect: allow
      moderation:
        input: {violence_and_threats: block, health: warn, financial: log}
        output: {selfharm: block}
providers:
  - {name: fake, kind: mistral, base_url: %s, models: [mistral-small-latest, codestral-latest], timeout: 5s, max_retries: 1, sovereign: true}
`

// lspModFake is a fakellm whose classifier fails while down is set, and
// whose rewrites fix "Teh" and turn "outflag-NAME" into the marker
// "[flag:NAME]" (the answer is flagged, not the input).
func lspModFake(t *testing.T) (*fakellm.Server, *atomic.Bool) {
	fake := fakellm.New()
	t.Cleanup(fake.Close)
	down := &atomic.Bool{}
	outFlag := regexp.MustCompile(`outflag-([a-z_]+)`)
	fake.Handle(func(r fakellm.Request) fakellm.Reply {
		if strings.HasSuffix(r.Path, "/moderations") {
			if down.Load() {
				return fakellm.Reply{Status: 503}
			}
			return fakellm.Reply{}
		}
		if r.Path == "/v1/fim/completions" {
			return fakellm.Reply{}
		}
		rep := lspRewriter(r)
		rep.Text = outFlag.ReplaceAllString(rep.Text, "[flag:$1]")
		return rep
	})
	return fake, down
}

// lspModelCalls counts the requests that reached the model (not the
// classifier, not the hub's readiness pings).
func lspModelCalls(fake *fakellm.Server) int {
	n := 0
	for _, r := range modelRequests(fake) {
		if !strings.HasSuffix(r.Path, "/moderations") {
			n++
		}
	}
	return n
}

// TestLSPModeration runs timon lsp in local mode (the engine in-process)
// and in remote mode (through timon serve: notices and refusals cross the
// wire) under a moderating rule: a LaTeX rewrite's input blocked, warned,
// logged; its answer blocked; the classifier down; a warned completion.
func TestLSPModeration(t *testing.T) {
	for _, mode := range []string{"local", "remote"} {
		t.Run(mode, func(t *testing.T) {
			fake, down := lspModFake(t)
			cfg := fmt.Sprintf(lspModeration, fake.URL(), fake.URL())
			var p *lspProc
			var h *hub
			if mode == "local" {
				dir := t.TempDir()
				path := filepath.Join(dir, "timon.yaml")
				if err := os.WriteFile(path, []byte(cfg+"lsp: {user: ada, debounce: 20ms, log_level: debug}\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				data := filepath.Join(dir, "data")
				p = startLSPProc(t, lsptest.Eglot19, []string{"TIMON_DATA_DIR=" + data}, "--config", path)
				p.data, p.cfg = data, path
			} else {
				h = startHubWith(t, fake, "server: {log_level: debug}\n"+cfg)
				tok := h.token("ada", "researchers")
				path := filepath.Join(t.TempDir(), "lsp.yaml")
				if err := os.WriteFile(path, []byte("lsp:\n  hub_url: "+h.url+"\n  debounce: 20ms\n  log_level: debug\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				p = startLSPProc(t, lsptest.Eglot19, []string{"TIMON_TOKEN=" + tok}, "--config", path)
			}
			ctx := ctxT(t)
			c := p.c

			// grammar runs "Fix grammar" on the paragraph holding marker
			// in a new document, and waits for its edit or a message.
			n := 0
			grammar := func(marker string) (uri, doc string) {
				t.Helper()
				n++
				uri = p.file(fmt.Sprintf("paper%d.tex", n))
				doc = "\\section{Results}\n\nTeh results " + marker + " hold.\n\nSecond paragraph.\n"
				c.Open(uri, "latex", doc)
				edits, msgs := len(c.AppliedEdits()), len(c.Messages())
				cur := strings.Index(doc, "results")
				args := map[string]any{"uri": uri, "range": c.Range(uri, cur, cur)}
				if err := c.Call(ctx, "workspace/executeCommand", map[string]any{"command": "timon.grammar", "arguments": []any{args}}, nil); err != nil {
					t.Fatal(err)
				}
				if err := c.WaitFor(ctx, "the edit or a message", func() bool {
					return len(c.AppliedEdits()) > edits || len(c.Messages()) > msgs
				}); err != nil {
					t.Fatal(err)
				}
				return uri, doc
			}
			// lastMessage is the only message since msgs were counted.
			lastMessage := func(msgs int) protocol.ShowMessageParams {
				t.Helper()
				ms := c.Messages()
				if len(ms) != msgs+1 {
					t.Fatalf("messages %+v, want one more after %d", ms, msgs)
				}
				return ms[msgs]
			}

			// Input blocked: no edit, the category named, nothing sent to
			// the model.
			msgs, edits, asked := len(c.Messages()), len(c.AppliedEdits()), lspModelCalls(fake)
			u, doc := grammar("[flag:violence_and_threats]")
			m := lastMessage(msgs)
			if !strings.Contains(m.Message, "refused by moderation: category violence_and_threats (input)") || m.Type != protocol.MessageTypeWarning {
				t.Fatalf("message %+v", m)
			}
			if len(c.AppliedEdits()) != edits || c.Text(u) != doc || lspModelCalls(fake) != asked {
				t.Fatalf("blocked input: %d edits, text %q, %d model requests", len(c.AppliedEdits())-edits, c.Text(u), lspModelCalls(fake)-asked)
			}

			// Warned: the edit applies, and the notice is shown.
			msgs = len(c.Messages())
			u, doc = grammar("[flag:health]")
			if err := c.WaitFor(ctx, "the warned edit", func() bool { return c.Text(u) == strings.Replace(doc, "Teh", "The", 1) }); err != nil {
				t.Fatalf("%v: %q", err, c.Text(u))
			}
			m = lastMessage(msgs)
			if m.Message != "timon: Fix grammar and spelling: moderation: category health flagged (input)" || m.Type != protocol.MessageTypeWarning {
				t.Fatalf("notice %+v", m)
			}

			// Logged: the edit applies, nothing is said (the notice would
			// have come before the edit).
			msgs = len(c.Messages())
			u, doc = grammar("[flag:financial]")
			if err := c.WaitFor(ctx, "the logged edit", func() bool { return c.Text(u) == strings.Replace(doc, "Teh", "The", 1) }); err != nil {
				t.Fatalf("%v: %q", err, c.Text(u))
			}
			if ms := c.Messages(); len(ms) != msgs {
				t.Fatalf("messages %+v after a logged request", ms[msgs:])
			}

			// The answer blocked: asked, but no edit.
			msgs, edits, asked = len(c.Messages()), len(c.AppliedEdits()), lspModelCalls(fake)
			u, doc = grammar("outflag-selfharm")
			m = lastMessage(msgs)
			if !strings.Contains(m.Message, "refused by moderation: category selfharm (output)") {
				t.Fatalf("message %+v", m)
			}
			if len(c.AppliedEdits()) != edits || c.Text(u) != doc || lspModelCalls(fake) != asked+1 {
				t.Fatalf("blocked answer: %d edits, text %q, %d model requests", len(c.AppliedEdits())-edits, c.Text(u), lspModelCalls(fake)-asked)
			}

			// A warned completion keeps its suggestion and says so.
			msgs = len(c.Messages())
			g := p.file("add.go")
			c.Open(g, "go", "// [flag:health]\n"+lspAddGo)
			var list protocol.CompletionList
			if err := c.Call(ctx, "textDocument/completion", map[string]any{
				"textDocument": map[string]any{"uri": g}, "position": c.Pos(g, len(c.Text(g))), "context": map[string]any{"triggerKind": 1},
			}, &list); err != nil || len(list.Items) != 1 {
				t.Fatalf("warned completion: %+v %v", list, err)
			}
			m = lastMessage(msgs)
			if m.Message != "timon: completion: moderation: category health flagged (input)" {
				t.Fatalf("completion notice %+v", m)
			}

			// The classifier down: fail closed, the classifier named.
			down.Store(true)
			msgs, edits, asked = len(c.Messages()), len(c.AppliedEdits()), lspModelCalls(fake)
			u, doc = grammar("[flag:health]")
			m = lastMessage(msgs)
			if !strings.Contains(m.Message, "moderation is unavailable, so nothing was sent (classifier modfake)") || m.Type != protocol.MessageTypeError {
				t.Fatalf("message %+v", m)
			}
			if len(c.AppliedEdits()) != edits || c.Text(u) != doc || lspModelCalls(fake) != asked {
				t.Fatalf("classifier down: %d edits, text %q, %d model requests", len(c.AppliedEdits())-edits, c.Text(u), lspModelCalls(fake)-asked)
			}

			p.shutdown(t)

			// The journal has each outcome, never the text.
			var out string
			if mode == "local" {
				out, _, _ = lspTimon(t, p, "audit", "export")
			} else {
				out, _, _ = h.timon("audit", "export")
			}
			for _, want := range []string{"in:violence_and_threats=block", "in:health=warn", "in:financial=log", "out:selfharm=block", "in:error=block"} {
				if !strings.Contains(out, `"moderation":"`+want+`"`) {
					t.Errorf("no journal entry with moderation %s:\n%s", want, out)
				}
			}
			if strings.Contains(out, "Teh results") {
				t.Error("the journal holds the text")
			}
		})
	}
}

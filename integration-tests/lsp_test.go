package integrationtests

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/lsp/lsptest"
)

// lspLocalConfig runs timon lsp in local mode on fakellm (%s).
const lspLocalConfig = `
providers:
  - {name: fake, kind: mistral, base_url: %s, models: [mistral-small-latest, codestral-latest], timeout: 5s, max_retries: 1, sovereign: true}
policy:
  routes: {default: [mistral-small-latest], complete: [codestral-latest]}
  rules: [{name: everyone, effect: allow}]
lsp:
  user: ada
  debounce: 20ms
  log_level: debug
`

// lspProc is a running timon lsp driven by the harness over its stdio.
type lspProc struct {
	c      *lsptest.Client
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
	data   string // local mode's data directory
	cfg    string
	root   string
}

// pipeRWC is the server's stdio seen from the client.
type pipeRWC struct {
	io.Reader
	io.WriteCloser
}

// startLSPProc starts `timon lsp args…` with env added to the
// environment, and initializes it with the client capabilities caps.
func startLSPProc(t testing.TB, caps string, env []string, args ...string) *lspProc {
	t.Helper()
	p := &lspProc{logs: &syncBuffer{}, exited: make(chan struct{}), root: t.TempDir()}
	p.cmd = exec.Command(binary, append([]string{"lsp"}, args...)...)
	p.cmd.Env = append(append(os.Environ(), "TIMON_PROVIDER_URL=", "TIMON_TOKEN="), env...)
	p.cmd.Stderr = p.logs
	p.cmd.Dir = p.root
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("timon lsp logs:\n%s", p.logs.String())
		}
	})
	p.c = lsptest.New(t, pipeRWC{stdout, stdin})
	if _, err := p.c.Initialize(ctxT(t), caps, string(uri.File(p.root))); err != nil {
		t.Fatalf("initialize: %v\n%s", err, p.logs.String())
	}
	return p
}

// startLocalLSP runs timon lsp in local mode (the engine in-process, its
// journal in a temporary data directory) on fake.
func startLocalLSP(t testing.TB, fake *fakellm.Server, caps string) *lspProc {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "timon.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(lspLocalConfig, fake.URL())), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	p := startLSPProc(t, caps, []string{"TIMON_DATA_DIR=" + data}, "--config", cfg)
	p.data, p.cfg = data, cfg
	return p
}

// startRemoteLSP runs timon lsp in remote mode against a real timon serve
// (on fake), with a personal token in TIMON_TOKEN.
func startRemoteLSP(t testing.TB, fake *fakellm.Server, caps string) (*lspProc, *hub) {
	t.Helper()
	h := startHub(t, fake, fake.URL())
	tok := h.token("ada", "researchers")
	// The user's configuration names only the hub: no providers, no policy.
	cfg := filepath.Join(t.TempDir(), "lsp.yaml")
	if err := os.WriteFile(cfg, []byte("lsp:\n  hub_url: "+h.url+"\n  debounce: 20ms\n  log_level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startLSPProc(t, caps, []string{"TIMON_TOKEN=" + tok}, "--config", cfg), h
}

func (p *lspProc) file(name string) string { return string(uri.File(filepath.Join(p.root, name))) }

// shutdown asks for an orderly exit and checks that the process ends with
// status 0.
func (p *lspProc) shutdown(t testing.TB) {
	t.Helper()
	if err := p.c.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("timon lsp did not exit after shutdown and exit")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("timon lsp exited with %d:\n%s", code, p.logs.String())
	}
}

const lspAddGo = "package m\n\nfunc add(a, b int) int {"

const lspPaper = `\section{Résultats}

Teh results in \cite{smith2020} show that $E = mc^2$ holds~\cite{doe} (see
Table~\ref{tab:1}); \og voilà \fg. % a comment

Second paragraph.
`

// lspRewriter fixes "Teh" inside the delimited data of a rewrite and keeps
// everything else, placeholders included.
func lspRewriter(r fakellm.Request) fakellm.Reply {
	m := regexp.MustCompile(`(?s)<data>\n(.*)\n</data>`).FindStringSubmatch(r.LastUser())
	if m == nil {
		return fakellm.Reply{}
	}
	return fakellm.Reply{Text: strings.ReplaceAll(m[1], "Teh", "The")}
}

// TestLSPBinary runs the same session against timon lsp in local and in
// remote mode: completion, a LaTeX rewrite through a command and
// workspace/applyEdit, a keystroke aborting the upstream request, an
// ignored file sending nothing, an error shown with its reason, and an
// orderly exit.
func TestLSPBinary(t *testing.T) {
	for _, mode := range []string{"local", "remote"} {
		t.Run(mode, func(t *testing.T) {
			fake := fakellm.New()
			t.Cleanup(fake.Close)
			var p *lspProc
			var h *hub
			if mode == "local" {
				p = startLocalLSP(t, fake, lsptest.Eglot19)
			} else {
				p, h = startRemoteLSP(t, fake, lsptest.Eglot19)
			}
			ctx := ctxT(t)
			c := p.c

			// Completion: a textDocument/completion item with a textEdit.
			u := p.file("add.go")
			c.Open(u, "go", lspAddGo+"\n}\n")
			var list protocol.CompletionList
			if err := c.Call(ctx, "textDocument/completion", map[string]any{
				"textDocument": map[string]any{"uri": u}, "position": c.Pos(u, len(lspAddGo)), "context": map[string]any{"triggerKind": 1},
			}, &list); err != nil {
				t.Fatal(err)
			}
			if len(list.Items) != 1 {
				t.Fatalf("completion: %+v", list)
			}
			if te, ok := list.Items[0].TextEdit.(*protocol.TextEdit); !ok || te.NewText != "\n\treturn a + b" {
				t.Fatalf("completion edit %#v", list.Items[0].TextEdit)
			}
			var fim []fakellm.Request
			for _, r := range fake.Requests() {
				if r.Path != "/v1/models" { // the hub's readiness pings
					fim = append(fim, r)
				}
			}
			if len(fim) != 1 || fim[0].Path != "/v1/fim/completions" || fim[0].Prompt != lspAddGo {
				t.Fatalf("upstream %+v", fim)
			}

			// A LaTeX rewrite: command, quick answer, then applyEdit.
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
			if grammar.Command.Command != "timon.grammar" || fake.Count() != 1 {
				t.Fatalf("actions %+v, upstream %d", acts, fake.Count())
			}
			if err := c.Call(ctx, "workspace/executeCommand", map[string]any{"command": grammar.Command.Command, "arguments": grammar.Command.Arguments}, nil); err != nil {
				t.Fatal(err)
			}
			want := strings.Replace(lspPaper, "Teh", "The", 1)
			if err := c.WaitFor(ctx, "the rewrite", func() bool { return c.Text(tex) == want }); err != nil {
				t.Fatalf("%v: %q (messages %+v)", err, c.Text(tex), c.Messages())
			}
			if ae := c.AppliedEdits(); len(ae) != 1 || len(lsptest.EditsFor(ae[0].Edit, tex)) != 1 {
				t.Fatalf("one minimal edit expected: %+v", ae)
			}
			fake.Handle(nil)

			// A keystroke aborts the completion in flight, up to the model.
			// (A new line first: the same place again would be answered
			// from the cache.)
			c.Replace(u, 0, 0, "// v2\n")
			end := len(lspAddGo) + 6
			fake.Enqueue(fakellm.Reply{Hang: true})
			before := fake.Count()
			pend, err := c.Send("textDocument/completion", map[string]any{
				"textDocument": map[string]any{"uri": u}, "position": c.Pos(u, end), "context": map[string]any{"triggerKind": 1},
			}, "first-completion")
			if err != nil {
				t.Fatal(err)
			}
			if err := fake.WaitCount(ctx, before+1); err != nil {
				t.Fatal(err)
			}
			c.Replace(u, end, end, "\n")
			if err := pend.Wait(ctx, &list); err != nil || len(list.Items) != 0 {
				t.Fatalf("superseded completion: %+v %v", list, err)
			}
			if err := fake.WaitCancelled(ctx, 1); err != nil {
				t.Fatal("the model request was not aborted:", err)
			}

			// $/cancelRequest with a numeric id aborts it too.
			fake.Enqueue(fakellm.Reply{Hang: true})
			before = fake.Count()
			pend, err = c.Send("textDocument/completion", map[string]any{
				"textDocument": map[string]any{"uri": u}, "position": c.Pos(u, end+1), "context": map[string]any{"triggerKind": 1},
			}, 777)
			if err != nil {
				t.Fatal(err)
			}
			if err := fake.WaitCount(ctx, before+1); err != nil {
				t.Fatal(err)
			}
			pend.Cancel()
			var re *lsptest.RPCError
			if err := pend.Wait(ctx, nil); !asRPC(err, &re) || re.Code != lsptest.CodeRequestCancelled {
				t.Fatalf("canceled: %v", err)
			}
			if err := fake.WaitCancelled(ctx, 2); err != nil {
				t.Fatal("the model request was not aborted:", err)
			}

			// An ignored file sends nothing.
			before = fake.Count()
			env := p.file(".env")
			c.Open(env, "shellscript", "TOKEN=abc\nexport ")
			if err := c.Call(ctx, "textDocument/completion", map[string]any{
				"textDocument": map[string]any{"uri": env}, "position": c.Pos(env, 17), "context": map[string]any{"triggerKind": 1},
			}, &list); err != nil || len(list.Items) != 0 {
				t.Fatalf("ignored: %+v %v", list, err)
			}
			if fake.Count() != before {
				t.Fatal("an ignored file reached the model")
			}

			// The model down: the reason reaches the user.
			fake.Enqueue(fakellm.Reply{Status: 503}, fakellm.Reply{Status: 503}, fakellm.Reply{Status: 503})
			args := map[string]any{"uri": u, "range": c.Range(u, 0, len(lspAddGo))}
			if err := c.Call(ctx, "workspace/executeCommand", map[string]any{"command": "timon.explain", "arguments": []any{args}}, nil); err != nil {
				t.Fatal(err)
			}
			m, err := c.WaitMessage(ctx, "unavailable")
			if err != nil || m.Type != protocol.MessageTypeError {
				t.Fatalf("%+v %v", m, err)
			}

			p.shutdown(t)

			// Every request is in the journal, through the lsp integration.
			if mode == "local" {
				out, errOut, code := lspTimon(t, p, "audit", "verify")
				if code != 0 {
					t.Fatalf("audit verify: %d %s %s", code, out, errOut)
				}
				out, _, _ = lspTimon(t, p, "audit", "export")
				if n := strings.Count(out, `"integration":"lsp"`); n < 5 || !strings.Contains(out, `"user_id":"ada"`) {
					t.Fatalf("journal has %d lsp entries:\n%s", n, out)
				}
			} else {
				out, _, code := h.timon("audit", "export")
				if code != 0 || strings.Count(out, `"integration":"lsp"`) < 5 || !strings.Contains(out, `"user_id":"ada"`) {
					t.Fatalf("hub journal:\n%s", out)
				}
			}
		})
	}
}

func asRPC(err error, target **lsptest.RPCError) bool {
	re, ok := err.(*lsptest.RPCError)
	if ok {
		*target = re
	}
	return ok
}

// lspTimon runs a timon subcommand on the local-mode data directory.
func lspTimon(t *testing.T, p *lspProc, args ...string) (string, string, int) {
	t.Helper()
	full := append(append(append([]string{}, args[:2]...), "--config", p.cfg), args[2:]...)
	cmd := exec.Command(binary, full...)
	cmd.Env = append(os.Environ(), "TIMON_DATA_DIR="+p.data, "TIMON_PROVIDER_URL=")
	return runCmd(t, cmd)
}

func TestLSPExitWithoutShutdownFails(t *testing.T) {
	fake := fakellm.New()
	t.Cleanup(fake.Close)
	p := startLocalLSP(t, fake, lsptest.VSCode)
	p.c.Notify("exit", nil)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("timon lsp did not exit")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit without shutdown: status %d, want 1", code)
	}
}

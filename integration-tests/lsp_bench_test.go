package integrationtests

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.lsp.dev/protocol"

	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/lsp/lsptest"
)

// lspBenchConfig is local mode with the lsp defaults (debounce 150–300 ms).
const lspBenchConfig = `
providers:
  - {name: fake, kind: mistral, base_url: %s, models: [mistral-small-latest, codestral-latest], timeout: 5s, sovereign: true}
policy:
  routes: {default: [mistral-small-latest], complete: [codestral-latest]}
  rules: [{name: everyone, effect: allow}]
quotas:
  user: {requests_per_minute: 1000000, tokens_per_day: 1000000000, concurrent: 64}
`

func startBenchLSP(b *testing.B, fake *fakellm.Server, caps string) *lspProc {
	b.Helper()
	dir := b.TempDir()
	cfg := filepath.Join(dir, "timon.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(lspBenchConfig, fake.URL())), 0o600); err != nil {
		b.Fatal(err)
	}
	return startLSPProc(b, caps, []string{"TIMON_DATA_DIR=" + filepath.Join(dir, "data")}, "--config", cfg)
}

// BenchmarkLSPCompletionOverhead measures what timon lsp adds to a
// completion, in local mode (the governed engine and its journal
// in-process) and in remote mode (through timon serve): the time from the
// request leaving the editor to the model call arriving, plus the time
// from the model's answer to the reply reaching the editor. Explicit
// inline completions (triggerKind Invoked, away from typing: no debounce),
// each at a new place (no cache).
func BenchmarkLSPCompletionOverhead(b *testing.B) {
	for _, mode := range []string{"local", "remote"} {
		fake := fakellm.New()
		fake.Record(false)
		var (
			mu          sync.Mutex
			arrived     time.Time
			answeredEnd time.Time
		)
		fake.Handle(func(fakellm.Request) fakellm.Reply {
			mu.Lock()
			arrived = time.Now()
			mu.Unlock()
			return fakellm.Reply{Text: "sum += x"}
		})
		var p *lspProc
		if mode == "local" {
			p = startBenchLSP(b, fake, lsptest.VSCode)
		} else {
			p, _ = startRemoteLSP(b, fake, lsptest.VSCode)
		}
		ctx := ctxT(b)
		c := p.c
		u := p.file("bench.go")
		// A new place each time without typing (a keystroke just before
		// would rightly make even an explicit request wait): the cursor
		// moves along a long line of identifiers.
		const n = 300
		head := "package m\n\nfunc total(xs []int) (sum int) {\n\t"
		line := strings.Repeat("q", n+20)
		c.Open(u, "go", head+line+"\n}\n")
		var overhead []time.Duration
		for i := range n + 20 {
			off := len(head) + i + 1
			t0 := time.Now()
			var list protocol.InlineCompletionList
			if err := c.Call(ctx, "textDocument/inlineCompletion", map[string]any{
				"textDocument": map[string]any{"uri": u}, "position": c.Pos(u, off), "context": map[string]any{"triggerKind": 1},
			}, &list); err != nil {
				b.Fatal(err)
			}
			t3 := time.Now()
			mu.Lock()
			t1 := arrived
			mu.Unlock()
			answeredEnd = t1 // the fake answers as soon as the request arrives
			if len(list.Items) != 1 || t1.Before(t0) {
				b.Fatalf("completion %d: %+v", i, list)
			}
			if i >= 20 { // warm-up
				overhead = append(overhead, t1.Sub(t0)+t3.Sub(answeredEnd))
			}
		}
		sort.Slice(overhead, func(i, j int) bool { return overhead[i] < overhead[j] })
		p50, p99 := overhead[len(overhead)/2], overhead[len(overhead)*99/100]
		fmt.Printf("lsp completion overhead (%s mode, %d completions): p50 %.2f ms, p99 %.2f ms\n", mode, n, ms(p50), ms(p99))
		b.ReportMetric(ms(p50), "p50-ms/"+mode)
		b.ReportMetric(ms(p99), "p99-ms/"+mode)
		p.shutdown(b)
		fake.Close()
	}
}

// BenchmarkLSPKeystrokeBurst types 20 characters 50 ms apart, each a
// didChange, a completion request and a cancel of the previous request
// (what nvim-cmp, company-mode and VS Code do), for each method and
// trigger kind, and counts the model requests each burst causes. Target
// 1, at most 2.
func BenchmarkLSPKeystrokeBurst(b *testing.B) {
	for _, tc := range []struct {
		name, caps, method string
		trigger            int
	}{
		{"completion-invoked", lsptest.Neovim07, "textDocument/completion", 1},
		{"completion-triggerchar", lsptest.Neovim07, "textDocument/completion", 2},
		{"inline-automatic", lsptest.VSCode, "textDocument/inlineCompletion", 2},
		{"inline-invoked", lsptest.VSCode, "textDocument/inlineCompletion", 1},
	} {
		fake := fakellm.New()
		p := startBenchLSP(b, fake, tc.caps)
		ctx := ctxT(b)
		c := p.c
		u := p.file("burst.go")
		doc := "package m\n\nfunc main() {\n\t"
		c.Open(u, "go", doc)
		var pend []*lsptest.Pending
		for i, r := range "fmt.Println(message)" {
			if i > 0 {
				time.Sleep(50 * time.Millisecond) // the typing speed measured
			}
			off := len(c.Text(u))
			c.Replace(u, off, off, string(r))
			pp, err := c.Send(tc.method, map[string]any{
				"textDocument": map[string]any{"uri": u}, "position": c.Pos(u, off+1), "context": map[string]any{"triggerKind": tc.trigger},
			}, nil)
			if err != nil {
				b.Fatal(err)
			}
			if len(pend) > 0 {
				if err := pend[len(pend)-1].Cancel(); err != nil {
					b.Fatal(err)
				}
			}
			pend = append(pend, pp)
		}
		for _, pp := range pend {
			// A canceled request answers RequestCancelled or nothing.
			var re *lsptest.RPCError
			if err := pp.Wait(ctx, nil); err != nil && !errors.As(err, &re) {
				b.Fatal(err)
			}
		}
		n := fake.Count()
		fmt.Printf("lsp keystroke burst (%s): 20 keystrokes 50 ms apart caused %d model request(s) (target 1, at most 2)\n", tc.name, n)
		b.ReportMetric(float64(n), "upstream-requests/"+tc.name)
		if n < 1 || n > 2 {
			b.Errorf("%s: %d model requests for one burst", tc.name, n)
		}
		p.shutdown(b)
		fake.Close()
	}
}

// BenchmarkLSPIdleRSS reports the resident memory of an idle timon lsp in
// each mode, after initialize, one open document and 5 s without requests.
// Target < 30 MB.
func BenchmarkLSPIdleRSS(b *testing.B) {
	for _, mode := range []string{"local", "remote"} {
		fake := fakellm.New()
		var p *lspProc
		if mode == "local" {
			p = startBenchLSP(b, fake, lsptest.VSCode)
		} else {
			p, _ = startRemoteLSP(b, fake, lsptest.VSCode)
		}
		p.c.Open(p.file("idle.go"), "go", "package m\n")
		time.Sleep(5 * time.Second)
		rss, anon := memKB(b, p.cmd.Process.Pid)
		fmt.Printf("lsp idle RSS (%s mode): %.1f MB (target < 30 MB), of which %.1f MB anonymous (the rest is the mapped timon executable)\n",
			mode, float64(rss)/1024, float64(anon)/1024)
		b.ReportMetric(float64(rss)/1024, "rss-MB/"+mode)
		b.ReportMetric(float64(anon)/1024, "anon-MB/"+mode)
		p.shutdown(b)
		fake.Close()
	}
}

// memKB reads the resident and the anonymous memory of a process.
func memKB(b *testing.B, pid int) (rss, anon int) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Rss:":
			rss = n
		case "Anonymous:":
			anon = n
		}
	}
	if rss == 0 {
		b.Fatal("no Rss in smaps_rollup")
	}
	return rss, anon
}

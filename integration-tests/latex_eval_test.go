package integrationtests

import (
	"strings"
	"sync"
	"testing"

	"timon.dev/timon/core/latex"
	"timon.dev/timon/core/latex/latextest"
	"timon.dev/timon/core/provider/fakellm"
)

// latexModel is a fakellm behaviour for LaTeX rewrites: it rewrites the
// words of the <data> block and keeps its placeholders, or, when breakage
// is set, damages the middle placeholder.
type latexModel struct {
	mu       sync.Mutex
	breakage *latextest.Breakage
	careless *latextest.Carelessness // loses typography instead
}

func (lm *latexModel) setCareless(c *latextest.Carelessness) {
	lm.mu.Lock()
	lm.careless = c
	lm.mu.Unlock()
}

func (lm *latexModel) set(b *latextest.Breakage) {
	lm.mu.Lock()
	lm.breakage = b
	lm.mu.Unlock()
}

func (lm *latexModel) reply(req fakellm.Request) fakellm.Reply {
	var u string
	for _, m := range req.Messages {
		if m.Role == "user" {
			u = m.Content
			break
		}
	}
	a, b := strings.Index(u, "<data>\n"), strings.LastIndex(u, "\n</data>")
	if a < 0 || b < a {
		return fakellm.Reply{Text: "no data"}
	}
	d := u[a+len("<data>\n") : b]
	out := latextest.RewriteWords(d, 2)
	lm.mu.Lock()
	br, careless := lm.breakage, lm.careless
	lm.mu.Unlock()
	if careless != nil {
		out = latextest.RewriteWords(d, 0)
		if o, ok := careless.Apply(out, 0); ok {
			out = o
		}
	}
	if phs := latextest.Placeholders(d); br != nil && len(phs) > 0 {
		out = br.Apply(out, phs[len(phs)/2])
	}
	return fakellm.Reply{Text: out, ChunkSize: 16}
}

// TestLaTeXRewriteEndToEnd is issue #5 item 10 through timon serve's
// /v1/assist: on every paragraph of the corpus, a model that rewrites words
// and keeps the placeholders gives a rewrite whose word edits keep every
// protected span; one that drops, duplicates or alters a placeholder is
// refused (502 output_rejected, with the reason) after exactly two model
// calls, and no text comes back. Streamed, the verified rewrite arrives
// whole, once.
func TestLaTeXRewriteEndToEnd(t *testing.T) {
	fake := newFake(t)
	lm := &latexModel{}
	fake.Handle(lm.reply)
	h := startHub(t, fake, fake.URL())
	tok := h.token("ada", "maths")

	for i, p := range latextest.Corpus(t) {
		lm.set(nil)
		body := map[string]any{"task": "rewrite", "format": "latex", "instruction": "reformulate", "input": p.Text}
		status, out, _ := h.post("/v1/assist", tok, body)
		if status != 200 {
			t.Fatalf("%s: status %d: %v", p.ID, status, out)
		}
		text, _ := out["text"].(string)
		m, err := latex.Mask(p.Text, latex.Options{})
		if err != nil {
			t.Fatal(err)
		}
		edits := latex.WordEdits(p.Text, text)
		if got, err := latex.ApplyEdits(p.Text, edits); err != nil || got != text {
			t.Fatalf("%s: the edits do not rebuild the rewrite", p.ID)
		}
		for _, sp := range m.Spans() {
			for _, e := range edits {
				if e.Start < sp.End && e.End > sp.Start || e.Start == e.End && sp.Start < e.Start && e.Start < sp.End {
					t.Fatalf("%s: edit %+v touches protected span %q", p.ID, e, p.Text[sp.Start:sp.End])
				}
			}
		}
		if len(latextest.Placeholders(m.Text)) == 0 {
			continue
		}
		br := &latextest.Breakages[i%len(latextest.Breakages)]
		lm.set(br)
		before := fake.Count()
		status, out, _ = h.post("/v1/assist", tok, body)
		if status != 502 || out["code"] != "output_rejected" || !strings.Contains(out["message"].(string), "⟦") || out["text"] != nil {
			t.Fatalf("%s: placeholder %s: status %d %v", p.ID, br.Name, status, out)
		}
		if n := fake.Count() - before; n != 2 {
			t.Fatalf("%s: %d model calls for a refused rewrite, want 2", p.ID, n)
		}
	}

	// Streamed: one delta, the whole verified rewrite.
	lm.set(nil)
	p := latextest.Corpus(t)[0]
	deltas, done := h.stream(tok, map[string]any{"task": "rewrite", "format": "latex", "input": p.Text, "stream": true})
	if len(deltas) != 1 || deltas[0] != done["text"] || !strings.Contains(deltas[0], `\begin{itemize}`) {
		t.Fatalf("streamed %d deltas; done %v", len(deltas), done)
	}

	// The journal holds every request; the refused ones say why.
	stdout, _, code := h.timon("audit", "verify", "--allow-no-checkpoint") // the hub runs: no checkpoint yet
	if code != 0 {
		t.Fatalf("audit verify: exit %d: %s", code, stdout)
	}
}

// TestLaTeXCarelessTypographyEndToEnd is issue #19 item 3 through timon
// serve's /v1/assist: on every paragraph of the corpus with a tie, TeX
// quotes or emphasis, a careless model that keeps the placeholders but
// loses one of them (turns a tie into a space, straightens or curls TeX
// quotes, drops or empties an \emph) is refused (502 output_rejected, with
// the reason) after exactly two model calls, in rewrites and in
// translations alike: none of these answers is applied.
func TestLaTeXCarelessTypographyEndToEnd(t *testing.T) {
	fake := newFake(t)
	lm := &latexModel{}
	fake.Handle(lm.reply)
	h := startHub(t, fake, fake.URL())
	tok := h.token("ada", "maths")

	answers, applied := 0, 0
	for i, p := range latextest.Corpus(t) {
		m, err := latex.Mask(p.Text, latex.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rewritten := latextest.RewriteWords(m.Text, 0)
		instruction := []string{"reformulate", "translate-en"}[i%2]
		for k := range latextest.Carelessnesses {
			c := &latextest.Carelessnesses[(i+k)%len(latextest.Carelessnesses)]
			if _, ok := c.Apply(rewritten, 0); !ok {
				continue
			}
			lm.setCareless(c)
			answers++
			before := fake.Count()
			body := map[string]any{"task": "rewrite", "format": "latex", "instruction": instruction, "input": p.Text}
			status, out, _ := h.post("/v1/assist", tok, body)
			if status == 200 {
				applied++
				t.Errorf("%s (%s): %s was applied", p.ID, instruction, c.Name)
				break
			}
			if status != 502 || out["code"] != "output_rejected" || out["text"] != nil {
				t.Fatalf("%s: %s: status %d %v", p.ID, c.Name, status, out)
			}
			if n := fake.Count() - before; n != 2 {
				t.Fatalf("%s: %d model calls for a refused rewrite, want 2", p.ID, n)
			}
			break // one careless answer a paragraph
		}
	}
	t.Logf("careless answers: %d, applied: %d", answers, applied)
	if answers < 100 {
		t.Fatalf("only %d paragraphs with a tie, TeX quotes or emphasis", answers)
	}
}

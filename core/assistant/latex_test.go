package assistant_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"timon.dev/timon/core"
	"timon.dev/timon/core/latex"
	"timon.dev/timon/core/latex/latextest"
	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/core/quota"
)

func rewriteLaTeX(input, instruction string) *core.Request {
	return &core.Request{Principal: core.Principal{UserID: "ada", Integration: core.IntegrationLSP},
		Task: core.TaskRewrite, Format: core.FormatLaTeX, Input: input, Instruction: instruction}
}

// dataOf extracts the material between <data> and </data> of what the
// model received.
func dataOf(t testing.TB, req fakellm.Request) string {
	t.Helper()
	u := ""
	for _, m := range req.Messages {
		if m.Role == "user" {
			u = m.Content // the first user message carries the data
			break
		}
	}
	a, b := strings.Index(u, "<data>\n"), strings.LastIndex(u, "\n</data>")
	if a < 0 || b < a {
		t.Errorf("no data block in %q", u)
		return ""
	}
	return u[a+len("<data>\n") : b]
}

const paragraph = `Nous montrons~\cite{knuth84} que $f(x) = \sum_i a_i$ converge % à vérifier
rapidement, comme l'illustre la \og figure \fg{}~\ref{fig:conv} : c'est \emph{remarquable}.
Écrire à ada@lab-univ.fr pour les détails ; 15~\% des cas.`

func TestLaTeXRewriteRestoresStructure(t *testing.T) {
	r := newRig(t, rigOptions{})
	var sent string
	r.fake.Handle(func(req fakellm.Request) fakellm.Reply {
		sent = dataOf(t, req)
		return fakellm.Reply{Text: strings.NewReplacer("montrons", "prouvons", "rapidement", "vite", "remarquable", "notable").Replace(sent)}
	})
	resp, err := r.engine.Do(context.Background(), rewriteLaTeX(paragraph, "reformulate"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer("montrons", "prouvons", "rapidement", "vite", "remarquable", "notable").Replace(paragraph)
	if resp.Text != want {
		t.Fatalf("answer\n%s\nwant\n%s", resp.Text, want)
	}
	// Nothing protected, no comment and no e-mail address left the machine.
	for _, s := range []string{"knuth84", "sum_i", "à vérifier", "fig:conv", `\cite`, "$", "ada@lab-univ.fr"} {
		if strings.Contains(sent, s) {
			t.Errorf("the model received %q: %s", s, sent)
		}
	}
	for _, s := range []string{"⟦R1⟧", "⟦M2⟧", "⟦X3⟧", `\og figure \fg{}~⟦R4⟧`, `\emph{remarquable}`, "[[EMAIL_1]]", `15~\%`} {
		if !strings.Contains(sent, s) {
			t.Errorf("the model did not receive %q: %s", s, sent)
		}
	}
	if sys := r.fake.Requests()[0].Messages[0].Content; !strings.Contains(sys, "⟦M1⟧") || !strings.Contains(sys, "exactly once") {
		t.Errorf("the system prompt does not explain the placeholders: %s", sys)
	}
	if r.fake.Count() != 1 {
		t.Fatalf("%d model calls, want 1", r.fake.Count())
	}
	if es := r.entries(t); es[len(es)-1].Outcome != "ok" || es[len(es)-1].Redactions["email"] != 1 {
		t.Fatalf("journal: %+v", es[len(es)-1])
	}
}

// TestLaTeXRewriteRetriesOnceThenRefuses: a model that drops, duplicates or
// alters a placeholder is asked once more, told why; if it fails again the
// request is refused with the reason, after exactly 2 model calls, and both
// calls' tokens are journaled.
func TestLaTeXRewriteRetriesOnceThenRefuses(t *testing.T) {
	cases := []struct {
		name   string
		mangle func(string) string
		says   string
	}{
		{"dropped", func(s string) string { return strings.Replace(s, "⟦M2⟧", "", 1) }, "placeholder ⟦M2⟧ was dropped"},
		{"duplicated", func(s string) string { return s + " ⟦R1⟧" }, "placeholder ⟦R1⟧ was duplicated"},
		{"altered", func(s string) string { return strings.Replace(s, "⟦R4⟧", "⟦R 4⟧", 1) }, "placeholder ⟦R4⟧ was altered"},
		{"invented", func(s string) string { return s + " ⟦M7⟧" }, "invents placeholder ⟦M7⟧"},
		{"escape dropped", func(s string) string { return strings.Replace(s, `15~\%`, "15 %", 1) }, "unescaped %"},
		{"quotes changed", func(s string) string { return strings.Replace(s, `\og figure \fg{}`, "“figure”", 1) }, "quotation marks"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, rigOptions{})
			r.fake.Handle(func(req fakellm.Request) fakellm.Reply {
				return fakellm.Reply{Text: c.mangle(dataOf(t, req)), Usage: &provider.Usage{PromptTokens: 300, CompletionTokens: 100}}
			})
			var emitted int
			resp, err := r.engine.Stream(context.Background(), rewriteLaTeX(paragraph, "grammar"), func(string) error { emitted++; return nil })
			var ce *core.Error
			if !errors.As(err, &ce) || ce.Kind != core.KindOutputRejected || resp != nil {
				t.Fatalf("got %v, %+v; want output_rejected", err, resp)
			}
			if !strings.Contains(ce.Message, c.says) || ce.RequestID == "" {
				t.Fatalf("message %q does not say %q", ce.Message, c.says)
			}
			if r.fake.Count() != 2 {
				t.Fatalf("%d model calls, want exactly 2", r.fake.Count())
			}
			if emitted != 0 {
				t.Fatalf("a refused rewrite was streamed (%d pieces)", emitted)
			}
			// The retry carries the refused answer and the reason.
			retry := r.fake.Requests()[1].Messages
			if n := len(retry); n != 4 || retry[2].Role != "assistant" || retry[3].Role != "user" || !strings.Contains(retry[3].Content, c.says) {
				t.Fatalf("retry messages: %+v", retry)
			}
			e := r.entries(t)[0]
			if e.Outcome != "output_rejected" || e.TokensIn != 600 || e.TokensOut != 200 || !strings.Contains(e.Error, c.says) {
				t.Fatalf("journal entry %+v", e)
			}
		})
	}
}

func TestLaTeXRewriteRetrySucceeds(t *testing.T) {
	r := newRig(t, rigOptions{})
	calls := 0
	r.fake.Handle(func(req fakellm.Request) fakellm.Reply {
		calls++
		d := dataOf(t, req)
		if calls == 1 {
			d = strings.Replace(d, "⟦X3⟧", "", 1)
		}
		return fakellm.Reply{Text: d, Usage: &provider.Usage{PromptTokens: 50, CompletionTokens: 20}}
	})
	resp, err := r.engine.Do(context.Background(), rewriteLaTeX(paragraph, ""))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text != paragraph || r.fake.Count() != 2 || resp.Usage.PromptTokens != 100 || resp.Usage.CompletionTokens != 40 {
		t.Fatalf("answer %q after %d calls, usage %+v", resp.Text, r.fake.Count(), resp.Usage)
	}
	if e := r.entries(t)[0]; e.Outcome != "ok" || e.TokensIn != 100 {
		t.Fatalf("journal entry %+v", e)
	}
}

// TestLaTeXStreamEmitsVerifiedTextOnce: a streamed LaTeX rewrite is emitted
// once, whole, after verification.
func TestLaTeXStreamEmitsVerifiedTextOnce(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.fake.Handle(func(req fakellm.Request) fakellm.Reply {
		return fakellm.Reply{Text: strings.Replace(dataOf(t, req), "rapidement", "vite", 1), ChunkSize: 3}
	})
	var pieces []string
	resp, err := r.engine.Stream(context.Background(), rewriteLaTeX(paragraph, "shorten"), func(d string) error {
		pieces = append(pieces, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(paragraph, "rapidement", "vite", 1)
	if len(pieces) != 1 || pieces[0] != want || resp.Text != want {
		t.Fatalf("streamed %d pieces %q, response %q", len(pieces), pieces, resp.Text)
	}
}

func TestLaTeXThatCannotBeParsedIsNotSent(t *testing.T) {
	r := newRig(t, rigOptions{})
	_, err := r.engine.Do(context.Background(), rewriteLaTeX(`An \emph{unclosed group.`, "grammar"))
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Kind != core.KindInvalid || !strings.Contains(ce.Message, "never closed") {
		t.Fatalf("got %v", err)
	}
	if r.fake.Count() != 0 {
		t.Fatal("unparseable LaTeX was sent to the model")
	}
	if e := r.entries(t)[0]; e.Outcome != "invalid" {
		t.Fatalf("journal entry %+v", e)
	}
}

// TestLaTeXRefusalsCountInQuotas: both attempts of a refused rewrite are
// settled against the token budget, like a success.
func TestLaTeXRefusalsCountInQuotas(t *testing.T) {
	r := newRig(t, rigOptions{limits: quota.Limits{TokensPerDay: 12000}})
	r.fake.Handle(func(req fakellm.Request) fakellm.Reply {
		return fakellm.Reply{Text: "nothing kept", Usage: &provider.Usage{PromptTokens: 2500, CompletionTokens: 500}}
	})
	for i := range 2 {
		if _, err := r.engine.Do(context.Background(), rewriteLaTeX(paragraph, "grammar")); core.ErrorKind(err) != core.KindOutputRejected {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	// 2 × 2 × 3000 = 12000 tokens used: the budget is spent.
	_, err := r.engine.Do(context.Background(), rewriteLaTeX(paragraph, "grammar"))
	if core.ErrorKind(err) != core.KindQuota {
		t.Fatalf("third request: %v; the refused attempts were not counted", err)
	}
}

func TestLaTeXTranslationRelaxesTypography(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.fake.Handle(func(req fakellm.Request) fakellm.Reply {
		d := dataOf(t, req)
		return fakellm.Reply{Text: strings.NewReplacer(`\og figure \fg{}`, "``figure''", " :", ":", " ;", ";").Replace(d)}
	})
	if _, err := r.engine.Do(context.Background(), rewriteLaTeX(paragraph, "translate-en")); err != nil {
		t.Fatalf("a translation that follows English typography was refused: %v", err)
	}
	if _, err := r.engine.Do(context.Background(), rewriteLaTeX(paragraph, "grammar")); core.ErrorKind(err) != core.KindOutputRejected {
		t.Fatalf("a grammar fix that changes French typography was accepted: %v", err)
	}
}

// TestLaTeXCorpusThroughTheEngine is issue #5 item 10 against fakellm: on
// every paragraph of the corpus, a model that rewrites words but keeps the
// placeholders gives an answer whose word edits keep every protected span;
// one that drops, duplicates or alters a placeholder is refused after
// exactly two calls, and no text is returned (so no edit can be applied).
func TestLaTeXCorpusThroughTheEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole corpus through the engine")
	}
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	var breakage *latextest.Breakage
	r.fake.Handle(func(req fakellm.Request) fakellm.Reply {
		d := dataOf(t, req)
		out := latextest.RewriteWords(d, 0)
		if breakage != nil {
			phs := latextest.Placeholders(d)
			out = breakage.Apply(out, phs[len(phs)/2])
		}
		return fakellm.Reply{Text: out}
	})
	for i, p := range latextest.Corpus(t) {
		breakage = nil
		resp, err := r.engine.Do(ctx, rewriteLaTeX(p.Text, "reformulate"))
		if err != nil {
			t.Fatalf("%s: %v", p.ID, err)
		}
		m, err := latex.Mask(p.Text, latex.Options{})
		if err != nil {
			t.Fatal(err)
		}
		edits := latex.WordEdits(p.Text, resp.Text)
		if got, err := latex.ApplyEdits(p.Text, edits); err != nil || got != resp.Text {
			t.Fatalf("%s: the edits do not rebuild the answer", p.ID)
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
		// Three breakages per paragraph, in turn over the corpus.
		for k := range 3 {
			breakage = &latextest.Breakages[(3*i+k)%len(latextest.Breakages)]
			before := r.fake.Count()
			resp, err := r.engine.Do(ctx, rewriteLaTeX(p.Text, "reformulate"))
			if core.ErrorKind(err) != core.KindOutputRejected || resp != nil {
				t.Fatalf("%s: placeholder %s: got %v", p.ID, breakage.Name, err)
			}
			if n := r.fake.Count() - before; n != 2 {
				t.Fatalf("%s: %d model calls, want 2", p.ID, n)
			}
		}
	}
}

package assistant

import (
	"context"
	"strings"

	"timon.dev/timon/core"
	"timon.dev/timon/core/latex"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/redact"
)

// latexRewrite carries a LaTeX rewrite (Task rewrite, Format latex) through
// the pipeline:
//
//   - before redaction, Input is masked (core/latex): math, citations,
//     references, labels, comments, environments and commands are replaced
//     by placeholders that never reach the model, and the prompt says they
//     are untouchable;
//   - the model's answer is verified (placeholders, order, braces, escapes,
//     commands, paragraphs, French typography); on failure the model is
//     asked once more, told why; a second failure is refused with a
//     *core.Error of kind output_rejected whose Message gives the reason.
//     A broken rewrite is never returned;
//   - the verified answer goes through the output guard like any other,
//     then the protected text is put back.
//
// Streaming: a LaTeX rewrite can only be verified whole, so Stream asks the
// model for the whole answer and emits the verified, restored text once, at
// the end. Journal and quotas treat the request like any other; both
// attempts' tokens are counted, on success and on refusal.
//
// A nil *latexRewrite is any other request: its methods then change
// nothing.
type latexRewrite struct {
	m *latex.Masked
}

// maskLaTeX masks a LaTeX rewrite's input; nil for every other request.
func maskLaTeX(req *core.Request) (*latexRewrite, error) {
	if req.Task != core.TaskRewrite || req.Format != core.FormatLaTeX {
		return nil, nil
	}
	instr := strings.ToLower(req.Instruction)
	o := latex.Options{Translation: strings.Contains(instr, "translat") || strings.Contains(instr, "tradu")}
	if c := req.LaTeX; c != nil {
		o.Definitions = definitions(c.Definitions)
		if o.Translation && len(c.Glossary) > 0 {
			o.Glossary = glossary(c.Glossary)
		}
	}
	m, err := latex.Mask(req.Input, o)
	if err != nil {
		return nil, &core.Error{Kind: core.KindInvalid,
			Message: "the LaTeX cannot be protected for a rewrite, so nothing was sent: " + err.Error()}
	}
	return &latexRewrite{m: m}, nil
}

// input is the request whose texts are redacted and sent: for a LaTeX
// rewrite, a copy with the masked input (and no conversation turns: only
// the retry adds some).
func (lx *latexRewrite) input(req *core.Request) *core.Request {
	if lx == nil {
		return req
	}
	r := *req
	r.Input, r.Messages, r.LaTeX = lx.m.Text, nil, nil
	// Of the editor's context, only the glossary terms found in the text
	// go to the model (the definitions stay here).
	if terms := lx.m.Terms(); len(terms) > 0 {
		r.LaTeX = &core.LaTeXContext{}
		for _, t := range terms {
			r.LaTeX.Glossary = append(r.LaTeX.Glossary, core.GlossaryTerm{Source: t.Source, Target: t.Target, Keep: t.Keep})
		}
	}
	return &r
}

// definitions turns the editor's definitions into the masker's.
func definitions(ds []core.LaTeXDefinition) latex.Definitions {
	var d latex.Definitions
	for _, x := range ds {
		role, ok := latex.ParseRole(x.Role)
		if !ok {
			continue
		}
		def := latex.Def{Role: role, Args: x.Args, Optional: x.Optional}
		one := latex.Definitions{}
		if x.Environment {
			one.Envs = map[string]latex.Def{x.Name: def}
		} else {
			one.Macros = map[string]latex.Def{strings.TrimPrefix(x.Name, `\`): def}
		}
		d.Merge(one)
	}
	return d
}

// glossary compiles a translation's glossary.
func glossary(ts []core.GlossaryTerm) *latex.Glossary {
	terms := make([]latex.Term, len(ts))
	for i, t := range ts {
		terms[i] = latex.Term{Source: t.Source, Target: t.Target, Keep: t.Keep}
	}
	return latex.NewGlossary(terms)
}

// stream is the receiver the output guard streams to: none for a LaTeX
// rewrite, which is emitted once verified (finish).
func (lx *latexRewrite) stream(emit func(string) error) func(string) error {
	if lx == nil {
		return emit
	}
	return nil
}

// call asks the model; for a LaTeX rewrite it verifies the answer, asks
// once more when it fails, and refuses a second failure. The result's
// usage counts both attempts.
func (lx *latexRewrite) call(ctx context.Context, e *Engine, cands []policy.Candidate, sent *core.Request, maxTokens int, g *outputGuard, v *redact.Vault) (*provider.Result, error) {
	first, err := e.call(ctx, cands, sent, maxTokens, g)
	if lx == nil || err != nil {
		return first, err
	}
	verr := lx.m.Verify(v.Restore(first.Text))
	if verr == nil {
		return first, nil
	}
	e.log.Info("LaTeX rewrite refused, asking once more", "request_id", sent.ID, "reason", reasonOf(verr))
	retry := *sent
	retry.Messages = []core.Message{
		{Role: "assistant", Content: first.Text},
		{Role: "user", Content: retryPrompt(reasonOf(verr))},
	}
	second, err := e.call(ctx, cands, &retry, maxTokens, g)
	if second == nil {
		return first, err
	}
	second.Usage.PromptTokens += first.Usage.PromptTokens
	second.Usage.CompletionTokens += first.Usage.CompletionTokens
	if err != nil {
		return second, err
	}
	if verr := lx.m.Verify(v.Restore(second.Text)); verr != nil {
		return second, rejected(verr)
	}
	return second, nil
}

// finish restores the protected text in the checked answer and, for a
// stream, emits it whole.
func (lx *latexRewrite) finish(text string, emit func(string) error) (string, error) {
	if lx == nil {
		return text, nil
	}
	out, err := lx.m.Unmask(text)
	if err != nil {
		// Only the output guard's masking of a secret can get here.
		return "", rejected(err)
	}
	if emit != nil {
		if err := emit(out); err != nil {
			return "", &core.Error{Kind: core.KindCanceled, Message: "the receiver of the answer went away", Err: err}
		}
	}
	return out, nil
}

func rejected(err error) *core.Error {
	reason := reasonOf(err)
	if strings.HasSuffix(reason, "(glossary)") {
		return &core.Error{Kind: core.KindOutputRejected,
			Message: "the model's translation does not follow the glossary, so nothing was changed: " + reason}
	}
	return &core.Error{Kind: core.KindOutputRejected,
		Message: "the model's rewrite would break the LaTeX, so nothing was changed: " + reason}
}

func reasonOf(err error) string {
	if ve, ok := err.(*latex.VerifyError); ok {
		return ve.Reason
	}
	return err.Error()
}

package assistant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/redact"
)

// Moderation: when the deciding rule has a moderation block, a classifier
// checks what is sent (after redaction: the classifier sees only what the
// model would) before the provider is called, and the answer (before its
// placeholders are restored) before it is returned. For each category
// flagged (its score at or above the rule's threshold, or the classifier's
// own flag without one) the rule's action applies, and the strongest wins:
// block refuses the request (core.KindBlocked), warn answers with a notice
// (core.Response.Notices), log only journals. A classifier that does not
// answer refuses the request (core.KindUnavailable) unless the rule sets
// on_error: allow.
//
// The untrusted material a request lists (core.Request.Untrusted: a chat
// thread, a merge request) is checked piece by piece before anything else:
// block refuses the request, warn sets the flagged pieces aside (replaced
// by setAsideMarker, with a notice), log journals.
//
// A streamed answer whose rule moderates output goes through an
// outputGate: it is checked as it grows, at sentence and paragraph
// boundaries, and only what passed is let through; the whole answer is
// checked once more at its end, as an answer that is not streamed is.

// Moderation directions, as journaled and in metrics.
const (
	dirInput     = "in"
	dirOutput    = "out"
	dirUntrusted = "untrusted"
)

// setAsideMarker stands in the request for untrusted material set aside.
const setAsideMarker = "[set aside by moderation]"

// moderation is what the moderation of one request found: the journal's
// record and the notices for the caller, each once.
type moderation struct {
	record  []string // "in:violence_and_threats=block"
	notices []string
}

func (m *moderation) journal(entry *audit.Entry) {
	entry.Moderation = strings.Join(m.record, ";")
}

// note records a finding (and counts it) unless it already was.
func (m *moderation) note(dir, cat, action string) {
	r := dir + ":" + cat + "=" + action
	if slices.Contains(m.record, r) {
		return
	}
	m.record = append(m.record, r)
	observeModeration(dir, cat, action)
}

func (m *moderation) notice(s string) {
	if !slices.Contains(m.notices, s) {
		m.notices = append(m.notices, s)
	}
}

// finding is a flagged category and the action the rule gives it.
type finding struct{ category, action string }

// actions returns mod's actions for direction dir.
func actions(mod *policy.Moderation, dir string) map[string]policy.ModerationAction {
	switch {
	case mod == nil:
		return nil
	case dir == dirOutput:
		return mod.Output
	case dir == dirUntrusted:
		return mod.Untrusted
	}
	return mod.Input
}

// moderate checks texts (or msgs) of direction dir (input or output)
// under rule mod. It returns a *core.Error when the request must stop.
func (e *Engine) moderate(ctx context.Context, mod *policy.Moderation, dir string, req provider.ModerationRequest, out *moderation) error {
	acts := actions(mod, dir)
	if len(acts) == 0 {
		return nil
	}
	res, err := e.classify(ctx, mod, dir, req, out)
	if err != nil || res == nil {
		return err
	}
	blocked := ""
	for _, f := range judge(acts, res.Results) {
		out.note(dir, f.category, f.action)
		switch f.action {
		case policy.ModBlock:
			if blocked == "" {
				blocked = f.category
			}
		case policy.ModWarn:
			out.notice(fmt.Sprintf("moderation: category %s flagged (%s)", f.category, direction(dir)))
		}
	}
	if blocked != "" {
		return refusal(blocked, dir)
	}
	return nil
}

// refusal is the error of a request refused by moderation.
func refusal(category, dir string) *core.Error {
	e := core.Errorf(core.KindBlocked, "refused by moderation: category %s (%s)", category, direction(dir))
	e.Moderation = &core.ModerationFlag{Category: category, Direction: flagDirection(dir)}
	return e
}

// moderateUntrusted checks each piece of the untrusted material req lists
// (redacted on its own first: the classifier sees no secret) under mod. It
// returns the request to go on with, without its Untrusted list: req's
// text, or a copy of it in which the pieces to set aside are replaced by
// setAsideMarker.
func (e *Engine) moderateUntrusted(ctx context.Context, mod *policy.Moderation, red *redact.Redactor, req *core.Request, out *moderation) (*core.Request, error) {
	next := *req
	next.Untrusted = nil
	acts := actions(mod, dirUntrusted)
	if len(acts) == 0 || len(req.Untrusted) == 0 {
		return &next, nil
	}
	pieces, _, err := redactRequest(ctx, red, redact.NewVault(), &core.Request{Untrusted: req.Untrusted}, e.redactFor)
	if err != nil {
		return nil, err
	}
	res, err := e.classify(ctx, mod, dirUntrusted, provider.ModerationRequest{Input: pieces.Untrusted}, out)
	if err != nil || res == nil {
		return &next, err
	}
	var aside []string
	blocked := ""
	for i, r := range res.Results {
		strongest, why := "", ""
		for _, f := range judge(acts, []provider.ModerationResult{r}) {
			out.note(dirUntrusted, f.category, f.action)
			if stronger(f.action, strongest) {
				strongest, why = f.action, f.category
			}
		}
		switch {
		case strongest == policy.ModBlock && blocked == "":
			blocked = why
		case strongest == policy.ModWarn && i < len(req.Untrusted):
			aside = append(aside, req.Untrusted[i])
			out.notice(core.SetAsideNotice(why))
		}
	}
	if blocked != "" {
		return nil, refusal(blocked, dirUntrusted)
	}
	if len(aside) == 0 {
		return &next, nil
	}
	// The longest first: a piece that contains another is replaced whole.
	slices.SortFunc(aside, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(aside))
	for _, a := range aside {
		pairs = append(pairs, a, setAsideMarker)
	}
	rep := strings.NewReplacer(pairs...)
	next.Input = rep.Replace(next.Input)
	next.Messages = slices.Clone(next.Messages)
	for i := range next.Messages {
		next.Messages[i].Content = rep.Replace(next.Messages[i].Content)
	}
	return &next, nil
}

func stronger(a, b string) bool {
	return slices.Index(policy.ModerationActions, a) > slices.Index(policy.ModerationActions, b)
}

// classify asks the classifiers about req, for direction dir. A nil
// result without error means the classifiers failed and the rule lets the
// request through.
func (e *Engine) classify(ctx context.Context, mod *policy.Moderation, dir string, req provider.ModerationRequest, out *moderation) (*provider.Moderation, error) {
	res, err := provider.Moderate(ctx, e.classifiers, req)
	if err == nil {
		return res, nil
	}
	if ctx.Err() != nil {
		return nil, &core.Error{Kind: core.KindCanceled, Message: "the request was canceled", Err: err}
	}
	name := e.classifierNames()
	var pe *provider.Error
	if errors.As(err, &pe) && pe.Provider != "" {
		name = pe.Provider
	}
	if mod.FailOpen() {
		out.note(dir, "error", "allow")
		e.log.Warn("moderation classifier failed; the rule lets the request through", "classifier", name, "direction", dir, "err", err)
		return nil, nil
	}
	out.note(dir, "error", policy.ModBlock)
	what := "nothing was sent"
	if dir == dirOutput {
		what = "the answer is withheld"
	}
	return nil, &core.Error{Kind: core.KindUnavailable, Provider: name, Moderation: &core.ModerationFlag{Direction: flagDirection(dir)},
		Message: fmt.Sprintf("moderation is unavailable, so %s (classifier %s)", what, name), Err: err}
}

// judge returns the categories of results flagged under acts, sorted,
// each with its action.
func judge(acts map[string]policy.ModerationAction, results []provider.ModerationResult) []finding {
	res := &provider.Moderation{Results: results}
	var out []finding
	for _, cat := range categories(res) {
		if a, ok := policy.For(acts, cat); ok && flagged(res, cat, a.Threshold) {
			out = append(out, finding{cat, a.Action})
		}
	}
	return out
}

// flagDirection is dir as core.ModerationFlag says it.
func flagDirection(dir string) string {
	switch dir {
	case dirOutput:
		return core.ModerationOutput
	case dirUntrusted:
		return core.ModerationUntrusted
	}
	return core.ModerationInput
}

func direction(dir string) string {
	switch dir {
	case dirOutput:
		return "output"
	case dirUntrusted:
		return "untrusted material"
	}
	return "input"
}

// categories returns the category names of res, sorted, each once.
func categories(res *provider.Moderation) []string {
	var out []string
	for _, r := range res.Results {
		for _, c := range r.Categories {
			if !slices.Contains(out, c.Name) {
				out = append(out, c.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// flagged reports whether category name counts as flagged in res: its
// score reaches threshold, or without one the classifier flagged it.
func flagged(res *provider.Moderation, name string, threshold float64) bool {
	if threshold > 0 {
		return res.Score(name) >= threshold
	}
	for _, r := range res.Results {
		for _, c := range r.Categories {
			if c.Name == name && c.Flagged {
				return true
			}
		}
	}
	return false
}

func (e *Engine) classifierNames() string {
	names := make([]string, len(e.classifiers))
	for i, k := range e.classifiers {
		names[i] = k.Name()
	}
	return strings.Join(names, ", ")
}

// moderationInput is what the classifier checks of a sent (redacted)
// request: the caller's conversation, or its texts; not the hub's own
// instructions to the model.
func moderationInput(r *core.Request) provider.ModerationRequest {
	if r.Task == core.TaskChat {
		msgs := make([]provider.Message, len(r.Messages))
		for i, m := range r.Messages {
			msgs[i] = provider.Message{Role: m.Role, Content: m.Content}
		}
		return provider.ModerationRequest{Messages: msgs}
	}
	var texts []string
	for _, s := range []string{r.Input, r.Instruction, r.Prefix, r.Suffix} {
		if strings.TrimSpace(s) != "" {
			texts = append(texts, s)
		}
	}
	return provider.ModerationRequest{Input: texts}
}

const (
	// gateContext is how much of the answer already checked is classified
	// again with the next part, so that the classifier sees it in context.
	gateContext = 2048
	// Past the first sentence, new text is checked at a boundary once it
	// is gateStep bytes long or has waited gateWait: a fast answer of
	// short lines (code) is not classified line by line, and a slow one
	// still shows sentence by sentence.
	gateStep = 160
	gateWait = 300 * time.Millisecond
)

// outputGate holds a streamed answer back until moderation has checked
// it: at the first sentence or paragraph boundary, then at the first one
// past gateStep more bytes or gateWait, the answer's part up to it (with
// some context before) is classified, and passed on to next if it passes. The classification is synchronous: the provider's stream waits
// in its connection meanwhile, and the next check covers all that arrived.
type outputGate struct {
	e    *Engine
	ctx  context.Context
	mod  *policy.Moderation
	out  *moderation
	next func(string) error

	buf     []byte    // the answer so far
	passed  int       // bytes of buf checked and passed on
	whole   int       // bytes of buf checked in one piece from its start
	checked time.Time // when the last check ended
}

func (g *outputGate) write(delta string) error {
	g.buf = append(g.buf, delta...)
	cut := lastBoundary(g.buf, g.passed)
	if cut <= g.passed || g.passed > 0 && cut-g.passed < gateStep && g.e.now().Sub(g.checked) < gateWait {
		return nil
	}
	from := 0
	if g.passed > gateContext {
		from = lastBoundary(g.buf[:g.passed-gateContext], 0)
	}
	return g.pass(from, cut)
}

// finish checks the whole answer, as an answer not streamed is (unless
// the last check already covered it), and passes on what was held back.
func (g *outputGate) finish() error {
	if g.whole == len(g.buf) || strings.TrimSpace(string(g.buf)) == "" {
		return g.next(string(g.buf[g.passed:]))
	}
	return g.pass(0, len(g.buf))
}

// pass classifies buf[from:cut] and, if it passes, lets buf through up to
// cut.
func (g *outputGate) pass(from, cut int) error {
	err := g.e.moderate(g.ctx, g.mod, dirOutput, provider.ModerationRequest{Input: []string{string(g.buf[from:cut])}}, g.out)
	g.checked = g.e.now()
	if err != nil {
		return err
	}
	if from == 0 {
		g.whole = cut
	}
	if cut == g.passed {
		return nil
	}
	p := string(g.buf[g.passed:cut])
	g.passed = cut
	return g.next(p)
}

// lastBoundary returns the index just after the last sentence or paragraph
// boundary of b at or after from (a line's end, or '.', '!' or '?'
// followed by white space), or from if there is none.
func lastBoundary(b []byte, from int) int {
	for i := len(b) - 1; i >= from; i-- {
		switch b[i] {
		case '\n':
			return i + 1
		case ' ', '\t':
			if i > from {
				switch b[i-1] {
				case '.', '!', '?':
					return i + 1
				}
			}
		}
	}
	return from
}

package assistant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider"
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
// A streamed request whose rule moderates the answer is held back: the
// model is asked for the whole answer, which is checked and then emitted
// at once. Checking it incrementally, piece by piece as it streams, is the
// next step.

// Moderation directions, as journaled and in metrics.
const (
	dirInput  = "in"
	dirOutput = "out"
)

// moderation is what the moderation of one request found: the journal's
// record and the notices for the caller.
type moderation struct {
	record  []string // "in:violence_and_threats=block"
	notices []string
}

func (m *moderation) journal(entry *audit.Entry) {
	entry.Moderation = strings.Join(m.record, ";")
}

// moderate checks texts (or msgs) of direction dir under rule mod. It
// returns a *core.Error when the request must stop.
func (e *Engine) moderate(ctx context.Context, mod *policy.Moderation, dir string, req provider.ModerationRequest, out *moderation) error {
	actions := mod.Input
	if dir == dirOutput {
		actions = mod.Output
	}
	if len(actions) == 0 {
		return nil
	}
	res, err := provider.Moderate(ctx, e.classifiers, req)
	if err != nil {
		if ctx.Err() != nil {
			return &core.Error{Kind: core.KindCanceled, Message: "the request was canceled", Err: err}
		}
		name := e.classifierNames()
		var pe *provider.Error
		if errors.As(err, &pe) && pe.Provider != "" {
			name = pe.Provider
		}
		if mod.FailOpen() {
			out.record = append(out.record, dir+":error=allow")
			observeModeration(dir, "error", "allow")
			e.log.Warn("moderation classifier failed; the rule lets the request through", "classifier", name, "direction", dir, "err", err)
			return nil
		}
		out.record = append(out.record, dir+":error=block")
		observeModeration(dir, "error", policy.ModBlock)
		what := "nothing was sent"
		if dir == dirOutput {
			what = "the answer is withheld"
		}
		return &core.Error{Kind: core.KindUnavailable, Provider: name,
			Message: fmt.Sprintf("moderation is unavailable, so %s (classifier %s)", what, name), Err: err}
	}
	strongest, blocked := -1, ""
	for _, cat := range categories(res) {
		a, ok := policy.For(actions, cat)
		if !ok || !flagged(res, cat, a.Threshold) {
			continue
		}
		out.record = append(out.record, dir+":"+cat+"="+a.Action)
		observeModeration(dir, cat, a.Action)
		rank := slices.Index(policy.ModerationActions, a.Action)
		if rank > strongest {
			strongest = rank
		}
		switch a.Action {
		case policy.ModBlock:
			if blocked == "" {
				blocked = cat
			}
		case policy.ModWarn:
			out.notices = append(out.notices, fmt.Sprintf("moderation: category %s flagged (%s)", cat, direction(dir)))
		}
	}
	if blocked != "" {
		return core.Errorf(core.KindBlocked, "refused by moderation: category %s (%s)", blocked, direction(dir))
	}
	return nil
}

func direction(dir string) string {
	if dir == dirOutput {
		return "output"
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

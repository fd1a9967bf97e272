package policy

import (
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"
)

// Moderation actions, weakest first: the strongest action of the flagged
// categories decides.
const (
	ModLog   = "log"   // journaled only
	ModWarn  = "warn"  // answered, with a notice
	ModBlock = "block" // refused
)

// ModerationActions lists the actions, weakest first.
var ModerationActions = []string{ModLog, ModWarn, ModBlock}

// Moderation is a rule's moderation block: what to do when a classifier
// flags a category of what is sent (Input), of the answer (Output), or of
// the material a request marks as written by others (Untrusted: a chat
// thread, a merge request).
type Moderation struct {
	// Input, Output and Untrusted map a category name, or "*" for every
	// category, to an action. For untrusted material, warn sets the
	// flagged pieces aside (the request goes on without them, and says
	// so) and block refuses the request.
	Input     map[string]ModerationAction `yaml:"input"`
	Output    map[string]ModerationAction `yaml:"output"`
	Untrusted map[string]ModerationAction `yaml:"untrusted"`
	// OnError is what happens when no classifier answers: block (the
	// default: fail closed) or allow.
	OnError string `yaml:"on_error"`
}

// ModerationAction is what a flagged category leads to. In YAML it is
// either an action alone ("block") or {action: block, threshold: 0.8}.
type ModerationAction struct {
	Action string `yaml:"action"`
	// Threshold is the score at or above which the category counts as
	// flagged; zero means the classifier's own decision.
	Threshold float64 `yaml:"threshold"`
}

// UnmarshalYAML accepts the short form, an action alone.
func (a *ModerationAction) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		a.Action, a.Threshold = n.Value, 0
		return nil
	}
	type plain ModerationAction
	return n.Decode((*plain)(a))
}

// Active reports whether m moderates anything.
func (m *Moderation) Active() bool {
	return m != nil && (len(m.Input) > 0 || len(m.Output) > 0 || len(m.Untrusted) > 0)
}

// FailOpen reports whether a classifier error lets the request through.
func (m *Moderation) FailOpen() bool { return m != nil && m.OnError == "allow" }

// For returns the action that applies to category name in actions, and
// whether one does: the category's own entry, else "*".
func For(actions map[string]ModerationAction, name string) (ModerationAction, bool) {
	if a, ok := actions[name]; ok {
		return a, true
	}
	a, ok := actions["*"]
	return a, ok
}

func checkModeration(where string, m *Moderation) error {
	if m == nil {
		return nil
	}
	switch m.OnError {
	case "", "block", "allow":
	default:
		return fieldErr(where+".on_error", "expected block or allow, got %q", m.OnError)
	}
	for _, dir := range []struct {
		name string
		m    map[string]ModerationAction
	}{{"input", m.Input}, {"output", m.Output}, {"untrusted", m.Untrusted}} {
		for cat, a := range dir.m {
			at := fmt.Sprintf("%s.%s.%s", where, dir.name, cat)
			if cat == "" {
				return fieldErr(where+"."+dir.name, "a category needs a name (or \"*\" for every category)")
			}
			if !slices.Contains(ModerationActions, a.Action) {
				return fieldErr(at, "expected block, warn or log, got %q", a.Action)
			}
			if a.Threshold < 0 || a.Threshold > 1 {
				return fieldErr(at+".threshold", "expected a score between 0 and 1, got %v", a.Threshold)
			}
		}
	}
	return nil
}

// UsesModeration reports whether a rule of the policy moderates.
func (p *Policy) UsesModeration() bool {
	for _, r := range p.cfg.Rules {
		if r.Moderation.Active() {
			return true
		}
	}
	return false
}

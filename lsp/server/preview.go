package server

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.lsp.dev/protocol"

	"timon.dev/timon/core/latex"
	"timon.dev/timon/lsp/actions"
)

// RewriteAnnotation is the identifier of the change annotation every edit
// of a previewed rewrite carries.
const RewriteAnnotation protocol.ChangeAnnotationIdentifier = "timon.rewrite"

// previewing reports whether rewrites ask for confirmation: the client
// supports change annotations on versioned edits (LSP 3.16: VS Code then
// shows its refactor preview before anything changes), and the
// configuration does not turn it off (lsp.preview_rewrites).
func (s *Server) previewing() bool {
	return s.caps.annotations && s.caps.documentChanges && !s.o.PlainRewrites
}

// rewriteNote is the change annotation of a rewrite by spec of target: its
// label is the action's name, its description what timon protected.
func rewriteNote(spec actions.Spec, target string, redactions map[string]int) protocol.ChangeAnnotation {
	return protocol.ChangeAnnotation{
		Label:             spec.Title,
		NeedsConfirmation: ptr(true),
		Description:       ptr(protectedSummary(spec.LaTeX, target, redactions)),
	}
}

// protectedSummary says what the rewrite of target kept from the model or
// checked unchanged: the LaTeX constructs masked (formulas, citations,
// references, labels, comments, other commands and environments) and what
// was redacted, by type. It names kinds and counts, never content.
func protectedSummary(isTeX bool, target string, redactions map[string]int) string {
	var parts []string
	if isTeX {
		if m, err := latex.Mask(target, latex.Options{}); err == nil {
			counts := map[string]int{}
			for _, sp := range m.Spans() {
				counts[constructKind(target[sp.Start:sp.End])]++
			}
			var kept []string
			for _, k := range constructKinds {
				if n := counts[k.name]; n > 0 {
					kept = append(kept, plural(n, k.name, k.plural))
				}
			}
			if len(kept) > 0 {
				parts = append(parts, "kept unchanged: "+strings.Join(kept, ", "))
			} else {
				parts = append(parts, "no formula, citation or command to keep")
			}
		}
	} else {
		parts = append(parts, "replaces the selection")
	}
	if len(redactions) > 0 {
		var red []string
		for _, k := range slices.Sorted(maps.Keys(redactions)) {
			red = append(red, fmt.Sprintf("%s %d", k, redactions[k]))
		}
		parts = append(parts, "redacted before the model and restored: "+strings.Join(red, ", "))
	}
	return "Review before applying; " + strings.Join(parts, "; ") + "."
}

var constructKinds = []struct{ name, plural string }{
	{"formula", "formulas"}, {"citation", "citations"}, {"reference", "references"}, {"label", "labels"},
	{"comment", "comments"}, {"environment", "environments"}, {"command", "commands"},
}

// constructKind names the kind of a protected LaTeX span.
func constructKind(span string) string {
	s := strings.TrimSpace(span)
	switch {
	case strings.HasPrefix(s, "%"):
		return "comment"
	case strings.HasPrefix(s, "$"), strings.HasPrefix(s, `\(`), strings.HasPrefix(s, `\[`),
		strings.HasPrefix(s, `\begin{equation`), strings.HasPrefix(s, `\begin{align`), strings.HasPrefix(s, `\begin{gather`),
		strings.HasPrefix(s, `\begin{multline`), strings.HasPrefix(s, `\begin{eqnarray`), strings.HasPrefix(s, `\begin{math`),
		strings.HasPrefix(s, `\begin{displaymath`):
		return "formula"
	case strings.HasPrefix(s, `\begin`), strings.HasPrefix(s, `\end`):
		return "environment"
	}
	name := s
	if strings.HasPrefix(name, `\`) {
		name = name[1:]
		if i := strings.IndexFunc(name, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') }); i >= 0 {
			name = name[:i]
		}
	}
	lower := strings.ToLower(name)
	switch {
	case strings.Contains(lower, "cite"):
		return "citation"
	case strings.Contains(lower, "ref"):
		return "reference"
	case lower == "label":
		return "label"
	}
	return "command"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

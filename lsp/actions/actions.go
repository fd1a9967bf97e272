// Package actions is timon lsp's code actions: which actions a selection
// offers (explain, document, fix, refactor in code; reformulate, grammar,
// shorten, translate in LaTeX), the assistant request each one makes, and
// how an answer becomes a minimal set of text edits. LaTeX structure is
// protected by the assistant (core/latex, run by the engine or the hub for
// rewrites in the latex format); this package turns the verified answer
// into word-level edits.
package actions

import (
	"fmt"
	"path"
	"strings"

	"timon.dev/timon/core"
	"timon.dev/timon/core/latex"
	"timon.dev/timon/core/sanitize"
)

// ID names an action; it is also the suffix of its command (timon.ID).
type ID string

// Actions.
const (
	Explain     ID = "explain"
	Document    ID = "document"
	Fix         ID = "fix"
	Refactor    ID = "refactor"
	Reformulate ID = "reformulate"
	Grammar     ID = "grammar"
	Shorten     ID = "shorten"
	TranslateEN ID = "translate-en"
	TranslateFR ID = "translate-fr"
	// Cite suggests citations from the document's bibliography (lsp/cite;
	// the server offers it on LaTeX text with a bibliography).
	Cite ID = "cite"
)

// Group says where an action's kind sits in the editor's menus.
type Group string

// Groups (LSP code action kinds).
const (
	GroupQuickFix Group = "quickfix"
	GroupRewrite  Group = "refactor.rewrite"
	GroupExplain  Group = "refactor.explain"
)

// Spec describes an action.
type Spec struct {
	ID    ID
	Title string
	Group Group
	// Edits reports whether the action changes the text (all but
	// explain).
	Edits bool
	// LaTeX actions rewrite prose with the structure protected.
	LaTeX bool
	// prompt is the instruction sent (for LaTeX, the named instruction
	// the engine knows when the user adds nothing).
	prompt string
}

// Command is the workspace/executeCommand name of the action.
func (s Spec) Command() string { return "timon." + string(s.ID) }

var codeSpecs = []Spec{
	{ID: Explain, Title: "timon: Explain this code", Group: GroupExplain},
	{ID: Document, Title: "timon: Document this code", Group: GroupRewrite, Edits: true,
		prompt: "Add documentation to this code: a doc comment or docstring, in the conventions of its language, for each function, type or non-obvious block that lacks one. Return the whole code with the documentation added and nothing else changed."},
	{ID: Fix, Title: "timon: Fix this code", Group: GroupQuickFix, Edits: true,
		prompt: "Fix the bugs in this code, changing only what the fixes need. Return the whole corrected code."},
	{ID: Refactor, Title: "timon: Refactor this code", Group: GroupRewrite, Edits: true,
		prompt: "Refactor this code for clarity and simplicity without changing its behaviour. Return the whole refactored code."},
}

var latexSpecs = []Spec{
	{ID: Reformulate, Title: "timon: Reformulate (academic tone)", Group: GroupRewrite, Edits: true, LaTeX: true,
		prompt: "Reformulate the text in a clear academic tone, keeping its meaning."},
	{ID: Grammar, Title: "timon: Fix grammar and spelling", Group: GroupQuickFix, Edits: true, LaTeX: true,
		prompt: "Fix grammar, spelling and punctuation only; change nothing else."},
	{ID: Shorten, Title: "timon: Shorten", Group: GroupRewrite, Edits: true, LaTeX: true,
		prompt: "Shorten the text, keeping every fact and claim."},
	{ID: TranslateEN, Title: "timon: Translate French → English", Group: GroupRewrite, Edits: true, LaTeX: true,
		prompt: "Translate the text into English."},
	{ID: TranslateFR, Title: "timon: Translate English → French", Group: GroupRewrite, Edits: true, LaTeX: true,
		prompt: "Translate the text into French."},
}

// CiteSpec is the "suggest citations" action. It is not among Offered's:
// the server offers it where it finds a bibliography, and performs it with
// lsp/cite (the answer is keys, not a rewrite).
var CiteSpec = Spec{ID: Cite, Title: "timon: Suggest citations", Group: GroupRewrite, Edits: true, LaTeX: true}

// All lists every action, code first, then LaTeX rewrites and CiteSpec.
func All() []Spec {
	return append(append(append([]Spec{}, codeSpecs...), latexSpecs...), CiteSpec)
}

// Lookup finds an action by ID.
func Lookup(id ID) (Spec, bool) {
	for _, s := range All() {
		if s.ID == id {
			return s, true
		}
	}
	return Spec{}, false
}

// ByCommand finds an action by its command name.
func ByCommand(cmd string) (Spec, bool) {
	id, ok := strings.CutPrefix(cmd, "timon.")
	if !ok {
		return Spec{}, false
	}
	return Lookup(ID(id))
}

// IsLaTeX reports whether a document is LaTeX, by language id or file
// name.
func IsLaTeX(language, file string) bool {
	switch language {
	case "latex", "tex", "context":
		return true
	}
	switch strings.ToLower(path.Ext(file)) {
	case ".tex", ".ltx", ".sty", ".cls":
		return true
	}
	return false
}

// Offered lists the actions for a document: LaTeX actions for LaTeX (on
// a selection or, with none, the paragraph at the cursor), code actions on
// a non-empty selection elsewhere.
func Offered(language, file string, emptySelection bool) []Spec {
	if IsLaTeX(language, file) {
		return latexSpecs
	}
	if emptySelection {
		return nil
	}
	return codeSpecs
}

// Target returns the byte range an action works on: the selection, or,
// when it is empty in LaTeX, the paragraph around the cursor (the lines
// between blank lines). ok is false when there is nothing to work on.
func Target(text string, start, end int, isLaTeX bool) (int, int, bool) {
	start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
	if start == end && isLaTeX {
		start, end = paragraph(text, start)
	}
	if strings.TrimSpace(text[start:end]) == "" {
		return start, end, false
	}
	return start, end, true
}

// paragraph finds the blank-line-delimited paragraph holding offset,
// without its surrounding line breaks.
func paragraph(text string, off int) (int, int) {
	isBlank := func(line string) bool { return strings.TrimSpace(line) == "" }
	// Line bounds at off.
	ls := strings.LastIndexByte(text[:off], '\n') + 1
	le := strings.IndexByte(text[off:], '\n')
	if le < 0 {
		le = len(text)
	} else {
		le += off
	}
	if isBlank(text[ls:le]) {
		return off, off
	}
	start := ls
	for start > 0 {
		prev := strings.LastIndexByte(text[:start-1], '\n') + 1
		if isBlank(text[prev : start-1]) {
			break
		}
		start = prev
	}
	end := le
	for end < len(text) {
		next := strings.IndexByte(text[end+1:], '\n')
		n := len(text)
		if next >= 0 {
			n = end + 1 + next
		}
		if isBlank(text[end+1 : n]) {
			break
		}
		end = n
	}
	if end > start && text[end-1] == '\r' {
		end--
	}
	return start, end
}

// Request is the assistant request of action s on input (the target's
// text), with the user's own instruction when given.
func Request(s Spec, input, userInstruction string, origin core.Origin, p core.Principal) *core.Request {
	user := strings.TrimSpace(userInstruction)
	r := &core.Request{Principal: p, Origin: origin, Input: input}
	switch {
	case s.ID == Explain:
		r.Task = core.TaskExplain
		r.Instruction = user
	case s.LaTeX:
		r.Task, r.Format = core.TaskRewrite, core.FormatLaTeX
		r.Instruction = string(s.ID) // a named instruction of the engine
		if user != "" {
			r.Instruction = s.prompt + " The author adds: " + user
		}
	default:
		r.Task, r.Format = core.TaskRewrite, core.FormatText
		lang := origin.Language
		if lang == "" {
			lang = "source"
		}
		r.Instruction = fmt.Sprintf("The text is %s code. %s Answer with code only, without Markdown fences.", lang, s.prompt)
		if user != "" {
			r.Instruction += " The author adds: " + user
		}
	}
	return r
}

// Edit replaces the bytes [Start, End) of the document with NewText.
type Edit struct {
	Start, End int
	NewText    string
}

// Edits turns the answer of action s on the target [start, end) of text
// into edits of text: word-level edits for LaTeX (only what changed is
// touched, one undoable change), one replacement of the target for code.
// No edits means the answer changes nothing.
func Edits(s Spec, text string, start, end int, answer string) []Edit {
	old := text[start:end]
	if !s.LaTeX {
		answer = sanitize.StripFence(answer)
		// Keep the target's own leading and trailing line breaks and
		// indentation: models drop them.
		lead := old[:len(old)-len(strings.TrimLeft(old, " \t\r\n"))]
		trail := old[len(strings.TrimRight(old, " \t\r\n")):]
		answer = lead + strings.Trim(answer, " \t\r\n") + trail
		if answer == old {
			return nil
		}
		return []Edit{{Start: start, End: end, NewText: answer}}
	}
	var out []Edit
	for _, e := range latex.WordEdits(old, answer) {
		out = append(out, Edit{Start: start + e.Start, End: start + e.End, NewText: e.NewText})
	}
	return out
}

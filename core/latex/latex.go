// Package latex protects the structure of LaTeX text sent to a model for a
// rewrite: it masks what the model must not touch, verifies the model's
// answer, and puts the masked text back. It also computes the minimal
// word-level edits that turn a text into its rewrite. It is pure: no I/O,
// no state between calls.
//
// The design (its trade-offs and why) is in docs/design/latex.md.
package latex

import (
	"fmt"
	"strings"
)

// Options tune what Mask protects and what Verify checks.
type Options struct {
	// KeepComments sends comments to the model (for context) instead of
	// masking them; they must then come back byte for byte, in order.
	// Default false: comments (%…) are never sent; they are masked and
	// restored.
	KeepComments bool
	// Macros are extra custom macro names to protect with their arguments,
	// e.g. "myref" (a leading backslash is allowed). Unknown commands are
	// protected anyway; naming one here also protects it when it is one of
	// the prose commands kept visible (e.g. "footnote"), and lets its
	// arguments follow after spaces. A name that does not start with a
	// letter is a literal marker: "!!" protects OpenLogic's !!{term} and
	// !!a{term}, the marker with the letters and arguments after it.
	Macros []string
	// ProseMacros are custom macros whose brace arguments are prose the
	// model may rewrite, e.g. "defi" for \defi{…}: the command stays
	// visible, like \emph.
	ProseMacros []string
	// Translation relaxes the checks that only hold within one language:
	// French typography (the ties of French punctuation, thin spaces,
	// spacing before : ; ! ?, quotation style) follows the target
	// language's rules. Structure checks still apply, and so do the ties
	// around placeholders and between words, TeX quotes and emphasis
	// (typography.go); the Glossary is checked.
	Translation bool
	// Definitions are the writer's own macros and environments (see
	// ParseDefinitions): each is protected or left as prose according to
	// its role, with exactly its arguments. Macros and ProseMacros win
	// over them.
	Definitions Definitions
	// Glossary is the terminology a translation must follow (see
	// NewGlossary); only checked when Translation is set.
	Glossary *Glossary
}

// Masked is a text with its protected constructs replaced by placeholders.
// It is immutable and safe for concurrent use.
type Masked struct {
	// Text is what goes to the model.
	Text string

	src         string
	opts        Options
	parts       []part
	byName      map[string]int  // placeholder → index in parts
	lead, trail string          // white space around the source
	core        string          // Text without lead and trail
	crlf        bool            // the source ends its lines with CRLF only
	base        *stats          // of core
	prose       map[string]bool // the writer's prose macros
	terms       []int           // glossary terms found in core (indexes)
}

// part is one protected span of the source.
type part struct {
	name       string // ⟦M3⟧, or "" for a literal comment (KeepComments)
	orig       string // the source text
	start, end int    // in the source
	structural bool   // its place relative to other structural parts matters
	eol        bool   // ends with a comment: a line break must follow it
	ctrlWord   bool   // ends with a command name (\foo): a letter must not follow it
	seg        int    // inline parts: how many structural parts come before it
}

func (p *part) literal() bool { return p.name == "" }

// Span is a protected construct of the source: the bytes [Start, End) of
// the text given to Mask, replaced by Placeholder in Masked.Text
// (Placeholder is "" for a comment kept visible with KeepComments).
type Span struct {
	Start, End  int
	Placeholder string
}

// Spans lists the protected constructs in source order.
func (m *Masked) Spans() []Span {
	out := make([]Span, len(m.parts))
	for i, p := range m.parts {
		out[i] = Span{Start: p.start, End: p.end, Placeholder: p.name}
	}
	return out
}

// Placeholders is the number of placeholders in Text.
func (m *Masked) Placeholders() int { return len(m.byName) }

// SyntaxError is returned by Mask for text it cannot protect safely: an
// unbalanced brace, math or environment never closed, and the like.
type SyntaxError struct {
	Line   int // 1-based line of the source where the problem starts
	Reason string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("LaTeX line %d: %s", e.Line, e.Reason)
}

// VerifyError says, in plain words, why a model's answer was refused.
type VerifyError struct{ Reason string }

func (e *VerifyError) Error() string { return "the rewrite breaks the LaTeX: " + e.Reason }

func verifyErr(format string, args ...any) *VerifyError {
	return &VerifyError{Reason: fmt.Sprintf(format, args...)}
}

// Mask protects src for a rewrite. It fails only on text it cannot parse
// safely (a *SyntaxError saying where and why).
func Mask(src string, o Options) (*Masked, error) {
	s := newScanner(src, o)
	if err := s.run(); err != nil {
		return nil, err
	}
	m := &Masked{src: src, opts: o, prose: proseNames(o.Definitions)}
	m.build(s.merge())
	if o.Translation && o.Glossary != nil {
		m.terms = o.Glossary.find(m.core, -1)
	}
	return m, nil
}

// asciiSpace is the white space trimmed around texts and answers; U+00A0
// and U+202F are typography, never trimmed.
const asciiSpace = " \t\r\n\f\v"

// build numbers the parts and writes the masked text.
func (m *Masked) build(spans []span) {
	src := m.src
	var b strings.Builder
	b.Grow(len(src))
	m.byName = map[string]int{}
	last, structs, n := 0, 0, 0
	for _, sp := range spans {
		p := part{orig: src[sp.start:sp.end], start: sp.start, end: sp.end,
			structural: sp.structural, eol: sp.eol, ctrlWord: endsInControlWord(src[sp.start:sp.end])}
		b.WriteString(src[last:sp.start])
		if sp.literal {
			b.WriteString(p.orig)
		} else {
			n++
			p.name = fmt.Sprintf("⟦%c%d⟧", sp.kind.letter(), n)
			m.byName[p.name] = len(m.parts)
			b.WriteString(p.name)
		}
		if p.structural {
			structs++
		} else {
			p.seg = structs
		}
		m.parts = append(m.parts, p)
		last = sp.end
	}
	b.WriteString(src[last:])
	m.Text = b.String()

	core := strings.TrimLeft(m.Text, asciiSpace)
	m.lead = m.Text[:len(m.Text)-len(core)]
	core = strings.TrimRight(core, asciiSpace)
	m.trail = m.Text[len(m.lead)+len(core):]
	m.core = core
	m.crlf = strings.Contains(src, "\r\n") && strings.Count(src, "\n") == strings.Count(src, "\r\n")

	// The baseline statistics are those of the masked text itself: an
	// answer identical to it always verifies.
	loc, _ := m.locate(core)
	m.base = collect(core, loc, m.prose)
}

// endsInControlWord reports whether s ends with a command name such as
// \foo (and not with \\foo, a line break followed by letters).
func endsInControlWord(s string) bool {
	i := len(s)
	for i > 0 && isLetter(s[i-1]) {
		i--
	}
	if i == len(s) || i == 0 || s[i-1] != '\\' {
		return false
	}
	bs := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		bs++
	}
	return bs%2 == 1
}

func isLetter(c byte) bool { return 'A' <= c&^0x20 && c&^0x20 <= 'Z' }

// Verify checks a model's answer to Text; the error is a *VerifyError.
func (m *Masked) Verify(out string) error {
	_, err := m.check(out)
	return err
}

// Unmask verifies a model's answer to Text and puts the protected
// constructs back. The error is a *VerifyError; nothing is returned then.
func (m *Masked) Unmask(out string) (string, error) {
	v, err := m.check(out)
	if err != nil {
		return "", err
	}
	core := v.core
	nl := "\n"
	if m.crlf {
		nl = "\r\n"
	}
	var b strings.Builder
	b.Grow(len(m.src) + len(core))
	b.WriteString(m.lead)
	last := 0
	for _, r := range v.loc {
		b.WriteString(core[last:r.start])
		p := &m.parts[r.part]
		b.WriteString(p.orig)
		last = r.end
		switch {
		case p.eol && !lineEndsAt(core, last):
			b.WriteString(nl)
		case p.ctrlWord && last < len(core) && isLetter(core[last]):
			b.WriteByte(' ')
		}
	}
	b.WriteString(core[last:])
	b.WriteString(m.trail)
	return b.String(), nil
}

// lineEndsAt reports whether only spaces separate i from the end of its
// line.
func lineEndsAt(s string, i int) bool {
	for ; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\f', '\v':
		case '\n', '\r':
			return true
		default:
			return false
		}
	}
	return true
}

// normalise strips what models wrap answers in, and the white space at the
// ends; it returns the answer's core, comparable with m.core.
func (m *Masked) normalise(out string) string {
	out = strings.Trim(out, asciiSpace)
	if strings.HasPrefix(out, "```") && !strings.HasPrefix(m.core, "```") {
		if nl := strings.IndexByte(out, '\n'); nl >= 0 {
			out = out[nl+1:]
		} else {
			out = ""
		}
		out = strings.TrimRight(out, asciiSpace)
		out = strings.TrimSuffix(out, "```")
		out = strings.Trim(out, asciiSpace)
	}
	if strings.HasPrefix(out, "<data>") && !strings.HasPrefix(m.core, "<data>") {
		out = strings.TrimPrefix(out, "<data>")
		out = strings.TrimSuffix(strings.TrimRight(out, asciiSpace), "</data>")
		out = strings.Trim(out, asciiSpace)
	}
	switch {
	case m.crlf:
		out = strings.ReplaceAll(out, "\r\n", "\n")
		out = strings.ReplaceAll(out, "\n", "\r\n")
	case !strings.Contains(m.src, "\r"):
		out = strings.ReplaceAll(out, "\r\n", "\n")
	}
	return out
}

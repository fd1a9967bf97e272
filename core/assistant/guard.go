package assistant

import (
	"strings"
	"unicode"

	"timon.dev/timon/core"
	"timon.dev/timon/core/redact"
)

const (
	// holdWords is how many trailing words of a streamed line the guard
	// keeps back: enough for "password = value" to be seen whole before
	// any of it is passed on.
	holdWords = 3
	// maxHold bounds a line's held text; past it (one enormous token) the
	// guard checks and passes everything.
	maxHold = 4096
)

// outputGuard checks the model's answer before anyone sees it: secrets the
// model wrote are masked (redact.MaskOutput), then the request's
// placeholders are restored, in the request's mode (restoreMode).
//
// A streamed answer is checked as it arrives: the current line is re-scanned
// whole at each piece, and only its masked text up to the last few words is
// passed on, so that the context a detector needs ("password: …",
// "Authorization: Bearer …") is present before a value leaves. A PEM block
// is held until its END line. Secrets do not contain white space, so a value
// is never split between what was passed and what was held.
type outputGuard struct {
	red      *redact.Redactor
	vault    *redact.Vault
	mode     redact.RestoreMode
	emit     func(string) error
	restorer *redact.Restorer
	out      strings.Builder // emitted to the caller
	masked   map[string]int
	received bool
	size     int // bytes of answer received: what a cut stream cost

	line   string // raw text of the current line(s), not yet final
	passed string // masked text of line already passed on

	// gate, when set, holds a streamed answer back until moderation has
	// checked it, and lets it through to admit.
	gate *outputGate
}

// restoreMode is where a request's answer goes, decided here only. Text an
// editor applies into the user's own file — a completion, a rewrite from
// the editor — is restored verbatim: nothing renders or fetches it. Every
// other answer is rendered as Markdown by someone (Slack, Mattermost,
// GitLab, the API's clients such as Open WebUI, an editor's hover), so a
// placeholder the model put in a link or image destination, an autolink, an
// HTML attribute or a bare URL stays a placeholder: the value withheld from
// the model does not leave through a fetch (ARCHITECTURE invariant 5).
func restoreMode(req *core.Request) redact.RestoreMode {
	switch {
	case req.Task == core.TaskComplete:
		return redact.Verbatim
	case req.Task == core.TaskRewrite && req.Principal.Integration == core.IntegrationLSP:
		return redact.Verbatim
	}
	return redact.Markdown
}

func newOutputGuard(red *redact.Redactor, v *redact.Vault, mode redact.RestoreMode, emit func(string) error) *outputGuard {
	g := &outputGuard{red: red, vault: v, mode: mode, emit: emit, masked: map[string]int{}}
	if emit != nil {
		g.restorer = v.NewRestorerAs(mode, func(s string) error {
			g.out.WriteString(s)
			if err := emit(s); err != nil {
				return &core.Error{Kind: core.KindCanceled, Message: "the receiver of the answer went away", Err: err}
			}
			return nil
		})
	}
	return g
}

func (g *outputGuard) streaming() bool { return g.emit != nil }

// started reports whether any of the answer was received: from then on a
// stream may not fail over to another provider.
func (g *outputGuard) started() bool { return g.received }

// write takes the next piece of a streamed answer.
func (g *outputGuard) write(delta string) error {
	if delta == "" {
		return nil
	}
	g.received = true
	g.size += len(delta)
	if g.gate != nil {
		return g.gate.write(delta)
	}
	return g.admit(delta)
}

// admit checks the next piece of a streamed answer and passes what is
// final of it on.
func (g *outputGuard) admit(delta string) error {
	g.line += delta
	// Complete lines are final.
	for {
		nl := strings.IndexByte(g.line, '\n')
		if nl < 0 || inPEM(g.line[:nl+1]) {
			break
		}
		if err := g.final(g.line[:nl+1]); err != nil {
			return err
		}
		g.line = g.line[nl+1:]
	}
	if inPEM(g.line) {
		return nil
	}
	cut := holdBack(g.line, holdWords)
	if len(g.line)-cut > maxHold {
		cut = len(g.line)
	}
	if cut == 0 {
		return nil
	}
	m, _ := g.red.MaskOutput(g.vault, g.line[:cut])
	return g.pass(m)
}

// final checks a complete line (or the answer's end) and passes what of it
// was not passed yet.
func (g *outputGuard) final(text string) error {
	m, found := g.red.MaskOutput(g.vault, text)
	for t, n := range redact.Counts(found) {
		g.masked[t] += n
	}
	err := g.pass(m)
	g.passed = ""
	return err
}

// pass sends on the part of m, the masked current line, beyond what was
// already passed.
func (g *outputGuard) pass(m string) error {
	rest := m
	if strings.HasPrefix(m, g.passed) {
		rest = m[len(g.passed):]
	} else {
		// A finding reached back into text already passed (a value with
		// white space in it): pass the masked text from where they differ.
		i := 0
		for i < len(m) && i < len(g.passed) && m[i] == g.passed[i] {
			i++
		}
		rest = m[i:]
	}
	g.passed = m
	if rest == "" {
		return nil
	}
	return g.restorer.Write(rest)
}

// finish completes the answer: for a stream, the held text is checked and
// emitted; for a whole answer, text is checked and restored. It returns what
// the caller sees and the counts of what was masked in the output.
func (g *outputGuard) finish(text string) (string, map[string]int, error) {
	if g.streaming() {
		if g.line != "" {
			if err := g.final(g.line); err != nil {
				return "", nil, err
			}
			g.line = ""
		}
		if err := g.restorer.Flush(); err != nil {
			return "", nil, err
		}
		return g.out.String(), g.masked, nil
	}
	checked, found := g.red.MaskOutput(g.vault, text)
	for t, n := range redact.Counts(found) {
		g.masked[t] += n
	}
	return g.vault.RestoreAs(g.mode, checked), g.masked, nil
}

// holdBack returns the index where the last n words of s (and the white
// space after them) begin; 0 when s has no more than n words.
func holdBack(s string, n int) int {
	i := len(s)
	for words := 0; ; {
		// Skip trailing white space, then a word.
		for i > 0 && isSpace(s[i-1]) {
			i--
		}
		if i == 0 {
			return 0
		}
		for i > 0 && !isSpace(s[i-1]) {
			i--
		}
		words++
		if words == n {
			return i
		}
	}
}

func isSpace(c byte) bool { return c < 0x80 && unicode.IsSpace(rune(c)) }

// inPEM reports whether s opens a PEM block that it does not close.
func inPEM(s string) bool {
	b := strings.LastIndex(s, "-----BEGIN ")
	return b >= 0 && !strings.Contains(s[b:], "-----END ")
}

package assistant

import (
	"strings"

	"timon.dev/timon/core"
	"timon.dev/timon/core/redact"
)

// maxHold bounds how much streamed text the guard holds back waiting for the
// end of a line.
const maxHold = 2048

// outputGuard checks the model's answer before anyone sees it: secrets the
// model wrote are masked, then the request's placeholders are restored. For
// a streamed answer it works line by line (a secret rarely spans lines; a
// PEM block is held until its END line), so that what was emitted equals
// what a whole answer would have given, line for line.
type outputGuard struct {
	red      *redact.Redactor
	vault    *redact.Vault
	emit     func(string) error
	restorer *redact.Restorer
	pending  strings.Builder // received, not yet checked
	out      strings.Builder // emitted to the caller
	masked   map[string]int
	received bool
}

func newOutputGuard(red *redact.Redactor, v *redact.Vault, emit func(string) error) *outputGuard {
	g := &outputGuard{red: red, vault: v, emit: emit, masked: map[string]int{}}
	if emit != nil {
		g.restorer = v.NewRestorer(func(s string) error {
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
	g.pending.WriteString(delta)
	s := g.pending.String()
	cut := strings.LastIndexByte(s, '\n') + 1
	if inPEM(s[:cut]) {
		cut = 0 // hold the whole block until its END line arrives
	}
	if cut == 0 && len(s) > maxHold && !inPEM(s) {
		cut = len(s)
	}
	if cut == 0 {
		return nil
	}
	ready := s[:cut]
	g.pending.Reset()
	g.pending.WriteString(s[cut:])
	return g.pass(ready)
}

func (g *outputGuard) pass(s string) error {
	checked, found := g.red.MaskOutput(g.vault, s)
	for t, n := range redact.Counts(found) {
		g.masked[t] += n
	}
	return g.restorer.Write(checked)
}

// finish completes the answer: for a stream, the held text is checked and
// emitted; for a whole answer, text is checked and restored. It returns what
// the caller sees and the counts of what was masked in the output.
func (g *outputGuard) finish(text string) (string, map[string]int, error) {
	if g.streaming() {
		if g.pending.Len() > 0 {
			rest := g.pending.String()
			g.pending.Reset()
			if err := g.pass(rest); err != nil {
				return "", nil, err
			}
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
	return g.vault.Restore(checked), g.masked, nil
}

// inPEM reports whether s opens a PEM block that it does not close.
func inPEM(s string) bool {
	b := strings.LastIndex(s, "-----BEGIN ")
	return b >= 0 && !strings.Contains(s[b:], "-----END ")
}

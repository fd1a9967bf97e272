package redact

import "strings"

// RestoreMode says where restored values may go.
type RestoreMode int

const (
	// Verbatim restores every placeholder: for text applied into the
	// user's own file (completions, editor rewrites), where nothing is
	// rendered or fetched.
	Verbatim RestoreMode = iota
	// Markdown restores placeholders in prose only. One that lies where a
	// renderer would fetch or link — an inline link or image destination
	// ](…), a reference definition's destination, anything between < and >
	// (autolinks, Slack's <url|text>, HTML tags and their src=/href=), or a
	// word that looks like a URL or a domain — stays a placeholder, so a
	// withheld value never leaves through a URL the model wrote.
	Markdown
)

// maxWord bounds a word the Markdown restore waits for: a longer one is
// treated as a URL (its placeholders stay), which bounds what a stream
// holds back.
const maxWord = 4096

// RestoreMarkdown is Restore in Markdown mode.
func (v *Vault) RestoreMarkdown(text string) string {
	if strings.IndexByte(text, '[') < 0 {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	m := &mdRestore{v: v}
	v.mu.RLock()
	defer v.mu.RUnlock()
	m.words(text, true, &b)
	return b.String()
}

// RestoreAs restores text in the given mode.
func (v *Vault) RestoreAs(mode RestoreMode, text string) string {
	if mode == Markdown {
		return v.RestoreMarkdown(text)
	}
	return v.Restore(text)
}

// NewRestorerAs returns a streaming restorer in the given mode. In Markdown
// mode it holds back the current word (at most maxWord bytes), since what
// follows a placeholder in its word can make it a URL; its output is
// exactly RestoreMarkdown of the whole stream, whatever the chunking.
func (v *Vault) NewRestorerAs(mode RestoreMode, emit func(string) error) *Restorer {
	r := v.NewRestorer(emit)
	if mode == Markdown {
		r.md = &mdRestore{v: v}
	}
	return r
}

// writeMarkdown restores what of pending is complete words.
func (r *Restorer) writeMarkdown(final bool) error {
	var b strings.Builder
	r.v.mu.RLock()
	n := r.md.words(r.pending, final, &b)
	r.v.mu.RUnlock()
	r.pending = r.pending[n:]
	if b.Len() == 0 {
		return nil
	}
	if err := r.emit(b.String()); err != nil {
		r.err = err
		return err
	}
	return nil
}

// mdRestore is the Markdown context of a restore, carried across the words
// of a stream. Every field is updated byte by byte, so where a text is cut
// between words does not change the result.
type mdRestore struct {
	v          *Vault
	angle      bool // inside <…>
	afterLT    bool // the previous byte was '<'
	afterClose bool // the previous byte was ']'
	dest       int  // parenthesis depth inside ](…)
	refDest    bool // the next word is a reference definition's destination
	newlines   int  // newlines since the last word
	long       bool // inside a word longer than maxWord
}

func isWS(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// words restores text, whose last word is complete when final; it returns
// how much of text it consumed (the incomplete last word stays, unless it
// is already longer than maxWord).
func (m *mdRestore) words(text string, final bool, out *strings.Builder) int {
	i := 0
	for i < len(text) {
		if isWS(text[i]) {
			m.space(text[i])
			out.WriteByte(text[i])
			i++
			continue
		}
		j := i
		for j < len(text) && !isWS(text[j]) {
			j++
		}
		if j == len(text) && !final {
			if m.long || j-i > maxWord {
				m.long = true
				m.word(text[i:j], true, out)
				return j
			}
			return i
		}
		long := m.long || j-i > maxWord
		// An HTML tag between "[x]:" and a destination may be removed
		// before posting: the next word is then the destination.
		inTag := m.angle || text[i] == '<'
		m.word(text[i:j], long || urlish(text[i:j]), out)
		m.refDest = !long && (strings.Contains(text[i:j], "]:") || m.refDest && inTag)
		i = j
	}
	return i
}

func (m *mdRestore) space(c byte) {
	m.afterLT, m.afterClose, m.long = false, false, false
	switch c {
	case '\n':
		m.newlines++
		if m.newlines >= 2 { // a blank line ends every inline construct
			m.angle, m.dest, m.refDest = false, 0, false
		}
	case ' ', '\t', '\r':
	default:
		m.newlines = 0
	}
}

// word restores one word's placeholders where the context allows.
func (m *mdRestore) word(w string, url bool, out *strings.Builder) {
	m.newlines = 0
	keep := url || m.refDest
	last := 0
	for i := 0; i < len(w); {
		if w[i] == '[' {
			if e := placeholderAt(w, i); e > 0 {
				// Its bytes count for the context like any other
				// ([[X_1]](…) is a link, <[[X_1]]> an autolink): the
				// same state, wherever a stream was cut.
				for k := i; k < e; k++ {
					m.step(w[k])
				}
				if val, ok := m.v.byPh[w[i:e]]; ok && !keep && !m.angle && m.dest == 0 {
					out.WriteString(w[last:i])
					out.WriteString(val)
					last = e
				}
				i = e
				continue
			}
		}
		m.step(w[i])
		i++
	}
	out.WriteString(w[last:])
}

func (m *mdRestore) step(c byte) {
	lt, cl := m.afterLT, m.afterClose
	m.afterLT, m.afterClose = c == '<', c == ']'
	switch {
	case lt && !m.angle:
		m.angle = true // '<' then a non-space: an autolink, a Slack link or a tag
		m.step(c)
	case m.angle:
		if c == '>' {
			m.angle = false
		}
	case m.dest > 0:
		switch c {
		case '(':
			m.dest++
		case ')':
			m.dest--
		}
	case cl && c == '(':
		m.dest = 1
	}
}

// urlish reports whether a renderer may make a link of a word (with any
// placeholder in it standing for a value): a colon inside it (a scheme), a
// path, a query, or a domain (a dot followed by a letter or a digit). Trailing
// punctuation does not count: "write to [[EMAIL_1]]." is prose.
func urlish(w string) bool {
	if strings.Contains(w, "[[") {
		w = neutral(w)
	}
	if strings.Contains(w, "]:") {
		return true // a reference definition's destination may follow
	}
	if i := strings.Index(w, "."); i >= 3 && strings.Contains(strings.ToLower(w), "www.") {
		return true
	}
	w = strings.TrimRight(w, ".,;:!?)]}*_~'\"")
	for i := 0; i < len(w); i++ {
		switch w[i] {
		case '/', '\\', '?', '#', '%':
			return true
		case ':':
			if i+1 < len(w) { // a scheme, whatever follows
				return true
			}
		case '.':
			if i+1 < len(w) && (w[i+1] == '[' || w[i+1] >= 0x80 || isAlnum(w[i+1])) {
				return true
			}
		}
	}
	return false
}

// neutral replaces the placeholder-shaped tokens of w by "x", what a value
// is to a renderer deciding whether a word is a link.
func neutral(w string) string {
	var b strings.Builder
	for i := 0; i < len(w); {
		if e := placeholderAt(w, i); e > 0 {
			b.WriteByte('x')
			i = e
			continue
		}
		b.WriteByte(w[i])
		i++
	}
	return b.String()
}

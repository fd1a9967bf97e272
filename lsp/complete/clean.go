package complete

import (
	"strings"
	"unicode/utf8"

	"timon.dev/timon/core/sanitize"
)

// MinLength is the shortest suggestion offered (non-blank characters).
const MinLength = 3

// Around is the text around the cursor that post-processing needs.
type Around struct {
	// LinePrefix is the text before the cursor on its line.
	LinePrefix string
	// After is the text after the cursor (a window of it is enough).
	After    string
	Language string
}

// Clean post-processes a model's fill-in-the-middle answer into what may be
// offered at the cursor: no echo of the current line, no repeated lines, no
// text that is already after the cursor, brackets balanced, nothing past
// the end of the current block, nothing shorter than MinLength. It returns
// "" when nothing is worth offering.
func Clean(s string, a Around) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	a.After = strings.ReplaceAll(a.After, "\r\n", "\n")
	if body := sanitize.StripFence(s); body != s {
		s = strings.TrimRight(body, "\n")
	}
	// An answer that starts by repeating the line before the cursor.
	if lp := a.LinePrefix; strings.TrimSpace(lp) != "" && strings.HasPrefix(s, lp) {
		s = s[len(lp):]
	}
	s = dropRepeatedLines(s)
	s = endOfBlock(s, a)
	s = dropOverlap(s, a.After)
	s = dropExistingLines(s, a.After)
	s = trimEnd(s, a.After)
	if utf8.RuneCountInString(strings.TrimSpace(s)) < MinLength {
		return ""
	}
	return s
}

// dropRepeatedLines keeps the first of a run of identical non-blank lines:
// a model stuck in a loop.
func dropRepeatedLines(s string) string {
	lines := strings.Split(s, "\n")
	for i := 1; i < len(lines); i++ {
		if t := strings.TrimSpace(lines[i]); t != "" && t == strings.TrimSpace(lines[i-1]) {
			return strings.Join(lines[:i], "\n")
		}
	}
	return s
}

var closerOf = map[byte]byte{'(': ')', '[': ']', '{': '}'}

// endOfBlock cuts s where the block around the cursor ends (a closing
// bracket that closes something opened before the cursor, a dedent in
// indentation languages, two blank lines) and where its own brackets stop
// balancing.
func endOfBlock(s string, a Around) string {
	var (
		stack      []int // positions of open brackets in s
		quote      byte  // inside a string literal on this line
		lineStart  = 0
		lineNo     = 0
		blankRun   = 0
		indentLang = a.Language == "python" || a.Language == "yaml" || a.Language == "nim"
	)
	baseIndent := indentWidth(a.LinePrefix)
	opensBlock := strings.HasSuffix(strings.TrimSpace(a.LinePrefix), ":")
	afterTrim := strings.TrimLeft(a.After, " \t")
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\n' {
			quote = 0
			lineNo++
			lineStart = i + 1
			// Look at the next line as a whole.
			end := strings.IndexByte(s[lineStart:], '\n')
			if end < 0 {
				end = len(s)
			} else {
				end += lineStart
			}
			line := s[lineStart:end]
			if strings.TrimSpace(line) == "" {
				blankRun++
				if blankRun >= 2 {
					return s[:i]
				}
				continue
			}
			blankRun = 0
			if indentLang && len(stack) == 0 {
				w := indentWidth(line)
				if w < baseIndent || (w == baseIndent && opensBlock) {
					return s[:i]
				}
			}
			continue
		}
		if quote != 0 {
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
			continue
		}
		switch c {
		case '"', '\'', '`':
			quote = c
		case '(', '[', '{':
			stack = append(stack, i)
		case ')', ']', '}':
			if len(stack) > 0 {
				if closerOf[s[stack[len(stack)-1]]] != c {
					return s[:i] // mismatched: the answer went wrong here
				}
				stack = stack[:len(stack)-1]
				continue
			}
			// This closes a block opened before the cursor: the end of
			// the block. Stop before it when it is already after the
			// cursor, after it otherwise.
			if lineNo == 0 && strings.HasPrefix(afterTrim, string(c)) {
				return s[:i]
			}
			if strings.HasPrefix(strings.TrimLeft(a.After, " \t\n"), string(c)) {
				return s[:i]
			}
			return s[:i+1]
		}
	}
	if len(stack) > 0 {
		// Unclosed brackets (the answer was cut): keep what precedes the
		// first of them, whole lines only after the first line.
		cut := stack[0]
		if ls := strings.LastIndexByte(s[:cut], '\n'); ls >= 0 {
			cut = ls
		}
		return s[:cut]
	}
	return s
}

func indentWidth(line string) int {
	w := 0
	for _, c := range []byte(line) {
		switch c {
		case ' ':
			w++
		case '\t':
			w += 4
		default:
			return w
		}
	}
	return w
}

// dropOverlap removes the end of s that is already at the start of the
// text after the cursor, ignoring whitespace at the junction.
func dropOverlap(s, after string) string {
	st := strings.TrimRight(s, " \t\n")
	at := strings.TrimLeft(after, " \t\n")
	n := min(len(st), len(at), 4096)
	for k := n; k >= 1; k-- {
		if st[len(st)-k:] == at[:k] {
			// Only whole tokens: the overlap must not start inside a word.
			if i := len(st) - k; i > 0 && isWord(st[i-1]) && isWord(st[i]) {
				continue
			}
			return st[:len(st)-k]
		}
	}
	return s
}

func isWord(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// dropExistingLines cuts s at a line (after its first) that is the first
// non-blank line after the cursor: the model is rewriting what follows.
func dropExistingLines(s, after string) string {
	next := ""
	for l := range strings.SplitSeq(after, "\n") {
		if t := strings.TrimSpace(l); t != "" {
			next = t
			break
		}
	}
	if len(next) < MinLength {
		return s
	}
	if strings.TrimSpace(s) == next {
		return ""
	}
	lines := strings.Split(s, "\n")
	for i := 1; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == next {
			return strings.Join(lines[:i], "\n")
		}
	}
	return s
}

// trimEnd removes trailing blanks; a trailing line break stays only when
// the text after the cursor starts on the same line with something.
func trimEnd(s, after string) string {
	s = strings.TrimRight(s, " \t")
	if after == "" || after[0] == '\n' || after[0] == '\r' || strings.TrimSpace(after) == "" {
		return strings.TrimRight(s, " \t\n")
	}
	if strings.HasSuffix(s, "\n") {
		return strings.TrimRight(s, " \t\n") + "\n"
	}
	return s
}

package complete

import "strings"

// family is a group of languages sharing comment and string syntax.
type family int

const (
	famNone   family = iota // prose or unknown: no comments, no strings
	famC                    // // and /* */, "…", '…', `…`
	famHash                 // # comments, "…", '…'
	famPython               // # comments, "…", '…', """…""", '''…'''
	famDash                 // -- comments (Lua, SQL, Haskell)
	famTeX                  // % comments, no strings
	famLisp                 // ; comments, "…"
)

var families = map[string]family{
	"go": famC, "c": famC, "cpp": famC, "objective-c": famC, "objective-cpp": famC, "java": famC,
	"javascript": famC, "javascriptreact": famC, "typescript": famC, "typescriptreact": famC,
	"rust": famC, "swift": famC, "kotlin": famC, "scala": famC, "csharp": famC, "php": famC,
	"dart": famC, "groovy": famC, "css": famC, "scss": famC, "less": famC, "zig": famC, "json": famC, "jsonc": famC,
	"cuda": famC, "glsl": famC, "proto": famC, "d": famC,
	"python":      famPython,
	"shellscript": famHash, "sh": famHash, "bash": famHash, "zsh": famHash, "r": famHash, "ruby": famHash,
	"perl": famHash, "yaml": famHash, "toml": famHash, "makefile": famHash, "dockerfile": famHash,
	"julia": famHash, "elixir": famHash, "nim": famHash, "cmake": famHash, "powershell": famHash, "nix": famHash,
	"lua": famDash, "sql": famDash, "haskell": famDash,
	"latex": famTeX, "tex": famTeX, "bibtex": famTeX, "matlab": famTeX, "octave": famTeX,
	"clojure": famLisp, "lisp": famLisp, "emacs-lisp": famLisp, "scheme": famLisp, "racket": famLisp,
}

// singleQuoteStrings are the C-like languages where '…' is a string, not
// a character.
var singleQuoteStrings = map[string]bool{
	"javascript": true, "javascriptreact": true, "typescript": true, "typescriptreact": true,
	"php": true, "dart": true, "groovy": true, "css": true, "scss": true, "less": true,
}

// proseLanguages get completions as you type only when configured.
var proseLanguages = map[string]bool{
	"plaintext": true, "markdown": true, "latex": true, "tex": true, "bibtex": true,
	"restructuredtext": true, "asciidoc": true, "org": true, "text": true, "": true,
}

// IsProse reports whether lang is a prose language (text, Markdown, LaTeX).
func IsProse(lang string) bool { return proseLanguages[lang] }

// maxScan bounds how much text before the cursor the lexer reads.
const maxScan = 256 << 10

// InCommentOrString reports whether the end of prefix (the text before the
// cursor) is inside a comment or a string literal of lang. It is a light
// lexer, not a parser: it errs towards "code" on what it does not know.
func InCommentOrString(prefix, lang string) bool {
	fam := families[lang]
	if fam == famNone {
		return false
	}
	if len(prefix) > maxScan {
		// Start at a line boundary inside the window.
		cut := len(prefix) - maxScan
		if i := strings.IndexByte(prefix[cut:], '\n'); i >= 0 {
			cut += i + 1
		}
		prefix = prefix[cut:]
	}
	const (
		code = iota
		lineComment
		blockComment
		str
	)
	state := code
	var (
		closeDelim string // block comment or string terminator
		escapes    bool   // backslash escapes in this string
		multiline  bool   // this string may span lines
	)
	s := prefix
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch state {
		case lineComment:
			if c == '\n' {
				state = code
			}
			continue
		case blockComment:
			if strings.HasPrefix(s[i:], closeDelim) {
				i += len(closeDelim) - 1
				state = code
			}
			continue
		case str:
			switch {
			case escapes && c == '\\':
				i++
			case c == '\n' && !multiline:
				state = code
			case strings.HasPrefix(s[i:], closeDelim):
				i += len(closeDelim) - 1
				state = code
			}
			continue
		}
		// state == code
		switch fam {
		case famC:
			switch {
			case strings.HasPrefix(s[i:], "//"):
				state = lineComment
			case strings.HasPrefix(s[i:], "/*"):
				state, closeDelim = blockComment, "*/"
				i++
			case c == '"':
				state, closeDelim, escapes, multiline = str, `"`, true, false
			case c == '`':
				state, closeDelim, escapes, multiline = str, "`", lang != "go", true
			case c == '\'' && (singleQuoteStrings[lang] || charLiteral(s[i+1:])):
				state, closeDelim, escapes, multiline = str, `'`, true, false
			}
		case famPython:
			switch {
			case c == '#':
				state = lineComment
			case strings.HasPrefix(s[i:], `"""`) || strings.HasPrefix(s[i:], `'''`):
				state, closeDelim, escapes, multiline = str, s[i:i+3], true, true
				i += 2
			case c == '"' || c == '\'':
				state, closeDelim, escapes, multiline = str, string(c), true, false
			}
		case famHash:
			switch {
			case c == '#' && (i == 0 || isSpace(s[i-1])):
				state = lineComment
			case c == '"':
				state, closeDelim, escapes, multiline = str, `"`, true, false
			case c == '\'':
				state, closeDelim, escapes, multiline = str, `'`, false, false
			}
		case famDash:
			switch {
			case strings.HasPrefix(s[i:], "--[[") && lang == "lua":
				state, closeDelim = blockComment, "]]"
				i += 3
			case strings.HasPrefix(s[i:], "{-") && lang == "haskell":
				state, closeDelim = blockComment, "-}"
				i++
			case strings.HasPrefix(s[i:], "/*") && lang == "sql":
				state, closeDelim = blockComment, "*/"
				i++
			case strings.HasPrefix(s[i:], "--"):
				state = lineComment
			case c == '"':
				state, closeDelim, escapes, multiline = str, `"`, lang != "sql", false
			case c == '\'' && lang != "haskell":
				state, closeDelim, escapes, multiline = str, `'`, lang == "lua", lang == "sql"
			}
		case famTeX:
			if c == '\\' {
				i++ // \% is a percent sign
			} else if c == '%' {
				state = lineComment
			}
		case famLisp:
			switch c {
			case ';':
				state = lineComment
			case '"':
				state, closeDelim, escapes, multiline = str, `"`, true, true
			}
		}
	}
	return state != code
}

// charLiteral reports whether a quote followed by rest opens a character
// literal ('a', '\n', '\u00e9') rather than a lifetime or an apostrophe.
func charLiteral(rest string) bool {
	n := min(len(rest), 12)
	for i := 0; i < n; i++ {
		switch rest[i] {
		case '\\':
			i++
		case '\'':
			return i > 0
		case '\n':
			return false
		}
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

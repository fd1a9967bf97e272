// Package cite is timon lsp's citation support, all of it local: the
// citation commands of a LaTeX document (\cite, \citep, \citet,
// \parencite, \textcite, \autocite and their relatives, starred, with
// optional arguments, several keys), the bibliography files it uses
// (\bibliography, \addbibresource, and the .bib files beside it and in the
// workspace roots), read with lsp/bib and kept while their modification
// time and size stay the same; and, for the "suggest citations" action,
// the local pre-selection of candidate entries, the prompt, and the check
// of the model's answer against the bibliography (a key it does not hold is
// never inserted).
package cite

import (
	"strings"
)

// citeCommands are the commands whose last brace argument is a list of
// citation keys (natbib, biblatex, plain LaTeX).
var citeCommands = map[string]bool{}

func init() {
	for _, c := range strings.Fields(`cite Cite citep Citep citet Citet citealp Citealp citealt Citealt
		citeauthor Citeauthor citeyear citeyearpar citetitle citeurl citedate nocite fullcite footfullcite
		parencite Parencite textcite Textcite autocite Autocite footcite Footcite footcitetext
		smartcite Smartcite supercite cnote`) {
		citeCommands[c] = true
	}
}

// resourceCommands name bibliography files.
var resourceCommands = map[string]bool{"bibliography": true, "addbibresource": true, "addglobalbib": true, "addsectionbib": true}

// Key is one key of a citation command: the bytes [Start, End) of the
// document.
type Key struct {
	Text       string
	Start, End int
}

// Arg is the key list of one citation command.
type Arg struct {
	Command string
	// Open is just after the {; Close is the } (or, when the list is not
	// closed yet, the end of its last key).
	Open, Close int
	Closed      bool
	Keys        []Key
}

// command is a command with its brace argument, as scanned.
type command struct {
	name        string
	open, close int // after {, at } (or where an unclosed list stops)
	closed      bool
	keys        []Key
}

// scan calls fn for each command of text[from:to] that names keys or
// bibliography files, skipping comments; fn returns false to stop.
func scan(text string, from, to int, fn func(c command) bool) {
	for i := from; i < to; i++ {
		switch text[i] {
		case '%':
			nl := strings.IndexByte(text[i:], '\n')
			if nl < 0 {
				return
			}
			i += nl
		case '\\':
			j := i + 1
			for j < len(text) && isLetter(text[j]) {
				j++
			}
			name := text[i+1 : j]
			if j == i+1 {
				i++ // \% \\ and the like: skip the escaped byte
				continue
			}
			if !citeCommands[name] && !resourceCommands[name] {
				i = j - 1
				continue
			}
			c, next, ok := argument(text, j)
			if !ok {
				i = j - 1
				continue
			}
			c.name = name
			if !fn(c) {
				return
			}
			i = next - 1
		}
	}
}

// argument reads, after a command name at j: an optional *, up to two
// [optional] arguments, then the {key,list}. It returns the list and the
// offset after it.
func argument(text string, j int) (command, int, bool) {
	if j < len(text) && text[j] == '*' {
		j++
	}
	for n := 0; n < 2; n++ {
		k := skipBlanks(text, j)
		if k >= len(text) || text[k] != '[' {
			break
		}
		end := closing(text, k, '[', ']')
		if end < 0 {
			return command{}, 0, false
		}
		j = end + 1
	}
	j = skipBlanks(text, j)
	if j >= len(text) || text[j] != '{' {
		return command{}, 0, false
	}
	c := command{open: j + 1}
	i := j + 1
	for {
		i = skipBlanks(text, i)
		ks := i
		for i < len(text) && isKeyByte(text[i]) {
			i++
		}
		if i > ks {
			c.keys = append(c.keys, Key{Text: text[ks:i], Start: ks, End: i})
		}
		k := skipBlanks(text, i)
		switch {
		case k < len(text) && text[k] == ',':
			i = k + 1
		case k < len(text) && text[k] == '}':
			c.close, c.closed = k, true
			return c, k + 1, true
		default:
			// Not closed (yet): the list stops after its last key.
			c.close = i
			return c, i, true
		}
	}
}

// skipBlanks skips blanks and at most one line break (a blank line ends a
// paragraph, and so any argument).
func skipBlanks(text string, i int) int {
	nl := false
	for i < len(text) {
		switch text[i] {
		case ' ', '\t', '\r':
		case '\n':
			if nl {
				return i
			}
			nl = true
		default:
			return i
		}
		i++
	}
	return i
}

// closing finds the bracket closing the one at i, braces nested inside.
func closing(text string, i int, open, close byte) int {
	depth := 0
	for k := i; k < len(text) && k < i+2000; k++ {
		switch text[k] {
		case '{':
			depth++
		case '}':
			depth--
		case open:
			if depth == 0 && k != i {
				return -1
			}
		case close:
			if depth == 0 {
				return k
			}
		}
	}
	return -1
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// isKeyByte reports whether c may be part of a citation key (BibLaTeX
// allows almost anything but these).
func isKeyByte(c byte) bool {
	switch c {
	case ',', '{', '}', '\\', '%', '$', '#', '~', ' ', '\t', '\r', '\n', '[', ']', '"', '=':
		return false
	}
	return true
}

// Citations lists the key lists of the citation commands of text.
func Citations(text string) []Arg {
	var out []Arg
	scan(text, 0, len(text), func(c command) bool {
		if citeCommands[c.name] {
			out = append(out, Arg{Command: c.name, Open: c.open, Close: c.close, Closed: c.closed, Keys: c.keys})
		}
		return true
	})
	return out
}

// window is how far back At looks for the command around the cursor.
const window = 4096

// At finds the citation key being written at off: the key list holding
// off, and the start of the key under the cursor (off itself after a
// comma or the brace). ok is false outside a citation command's keys.
func At(text string, off int) (arg Arg, keyStart int, ok bool) {
	if off < 0 || off > len(text) {
		return Arg{}, 0, false
	}
	from := max(0, off-window)
	if from > 0 {
		from += strings.IndexByte(text[from:off], '\n') + 1
	}
	scan(text, from, off, func(c command) bool {
		if !citeCommands[c.name] || c.open > off || c.close < off {
			return true
		}
		arg = Arg{Command: c.name, Open: c.open, Close: c.close, Closed: c.closed, Keys: c.keys}
		ok = true
		return false
	})
	if !ok {
		return Arg{}, 0, false
	}
	keyStart = off
	for keyStart > arg.Open && isKeyByte(text[keyStart-1]) {
		keyStart--
	}
	return arg, keyStart, true
}

// KeyAt finds the key of a citation command at off (for hover).
func KeyAt(text string, off int) (Key, bool) {
	arg, _, ok := At(text, off)
	if !ok {
		return Key{}, false
	}
	for _, k := range arg.Keys {
		if k.Start <= off && off <= k.End {
			return k, true
		}
	}
	return Key{}, false
}

// Resource is a bibliography file a document names.
type Resource struct {
	// Name is the file name as written, with .bib added for \bibliography.
	Name       string
	Start, End int // of the name in the document
}

// Resources lists the bibliography files text names (\bibliography{a,b},
// \addbibresource{x.bib}).
func Resources(text string) []Resource {
	var out []Resource
	scan(text, 0, len(text), func(c command) bool {
		if !resourceCommands[c.name] || !c.closed {
			return true
		}
		if c.name == "bibliography" {
			for _, k := range c.keys {
				name := k.Text
				if !strings.HasSuffix(strings.ToLower(name), ".bib") {
					name += ".bib"
				}
				out = append(out, Resource{Name: name, Start: k.Start, End: k.End})
			}
			return true
		}
		name := strings.TrimSpace(text[c.open:c.close])
		if name != "" {
			out = append(out, Resource{Name: name, Start: c.open, End: c.close})
		}
		return true
	})
	return out
}

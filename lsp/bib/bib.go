// Package bib reads BibTeX and BibLaTeX files for display: citation keys,
// entry types and the fields a writer recognises a reference by (authors,
// year, title, journal, abstract, DOI), with @string macros, # concatenation,
// crossref inheritance and LaTeX accents turned into text ({\'e} → é). It
// is tolerant, as the files people keep are: text between entries is a
// comment, @comment and @preamble are skipped, and a malformed entry is
// reported with its line and skipped without losing the entries after it.
//
// It is its own small parser. github.com/nickng/bibtex v1.4.0 was
// evaluated and set aside: it keeps parser state in package variables (a
// data race for a language server parsing several files at once), stops the
// whole process (log.Fatalf) on an undefined @string macro, fails a whole
// file on one bad entry, drops the text after a macro in a # concatenation,
// refuses an @ inside a braced value (an e-mail address in a note), and
// returns no entries for a file with free text before the first @.
package bib

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Entry is one reference.
type Entry struct {
	// Key is the citation key, as written (keys are case-sensitive).
	Key string
	// Type is the entry type in lower case: article, inproceedings…
	Type string
	// Line is the 1-based line of the entry's @.
	Line int
	// Fields are the entry's fields by lower-case name, macros expanded,
	// crossref applied, as display text (accents resolved, braces gone).
	Fields map[string]string

	lowerKey string
}

// Field returns the display text of a field, "" when absent.
func (e *Entry) Field(name string) string { return e.Fields[name] }

// Title is the entry's title.
func (e *Entry) Title() string { return e.Fields["title"] }

// Year is the year field, or the year of the date field (BibLaTeX).
func (e *Entry) Year() string {
	if y := e.Fields["year"]; y != "" {
		return y
	}
	d := e.Fields["date"]
	if len(d) >= 4 && isDigits(d[:4]) {
		return d[:4]
	}
	return d
}

// Venue is where it appeared: the journal (journaltitle in BibLaTeX), the
// book title of a paper in proceedings or a chapter, or the publisher.
func (e *Entry) Venue() string {
	for _, f := range []string{"journal", "journaltitle", "booktitle", "publisher", "school", "institution"} {
		if v := e.Fields[f]; v != "" {
			return v
		}
	}
	return ""
}

// Authors is the short form of the authors (or, for want of them, the
// editors): "Curie" for one, "Curie, Joliot" for two, "Curie et al." for
// more.
func (e *Entry) Authors() string {
	names := e.Fields["author"]
	if names == "" {
		names = e.Fields["editor"]
	}
	return ShortNames(names)
}

// Matches reports whether the key contains prefix, ignoring case (prefix
// in lower case).
func (e *Entry) Matches(lowerPrefix string) bool {
	return strings.Contains(e.lowerKey, lowerPrefix)
}

// HasKeyPrefix reports whether the key starts with lowerPrefix, ignoring
// case.
func (e *Entry) HasKeyPrefix(lowerPrefix string) bool {
	return strings.HasPrefix(e.lowerKey, lowerPrefix)
}

// Problem is a part of a file that could not be read; the rest was.
type Problem struct {
	Line    int // 1-based
	Message string
}

func (p Problem) String() string { return fmt.Sprintf("line %d: %s", p.Line, p.Message) }

// File is a parsed .bib file.
type File struct {
	Entries  []*Entry
	Problems []Problem
	byKey    map[string]*Entry
}

// Lookup finds an entry by key.
func (f *File) Lookup(key string) (*Entry, bool) {
	e, ok := f.byKey[key]
	return e, ok
}

// months are the macros BibTeX predefines.
var months = map[string]string{
	"jan": "January", "feb": "February", "mar": "March", "apr": "April", "may": "May", "jun": "June",
	"jul": "July", "aug": "August", "sep": "September", "oct": "October", "nov": "November", "dec": "December",
}

// Parse reads a .bib file. It never fails: what cannot be read is in
// Problems, with its line. The first of several entries with one key wins
// (as in BibTeX), the others are reported.
func Parse(src string) *File {
	p := &parser{src: src, line: 1, macros: map[string]string{}}
	f := &File{byKey: map[string]*Entry{}}
	raw := map[*Entry]map[string]string{}
	for {
		at := p.nextAt()
		if at < 0 {
			break
		}
		startLine := p.line
		e, err := p.item()
		if err != nil {
			f.Problems = append(f.Problems, Problem{Line: err.line, Message: err.msg})
			p.recover(startLine)
			continue
		}
		if e == nil {
			continue // @string, @comment, @preamble
		}
		e.Line = startLine
		if _, dup := f.byKey[e.Key]; dup {
			f.Problems = append(f.Problems, Problem{Line: startLine, Message: fmt.Sprintf("duplicate key %q (the first one is kept)", e.Key)})
			continue
		}
		f.byKey[e.Key] = e
		f.Entries = append(f.Entries, e)
		raw[e] = e.Fields
	}
	// Crossref: a child takes the fields it lacks from its parent (the
	// parent's title is the child's booktitle, as in BibLaTeX). Then every
	// field becomes display text.
	for _, e := range f.Entries {
		fields := raw[e]
		if ref := fields["crossref"]; ref != "" {
			parent, ok := f.byKey[strings.TrimSpace(ref)]
			if !ok {
				f.Problems = append(f.Problems, Problem{Line: e.Line, Message: fmt.Sprintf("%s: crossref %q is not in the file", e.Key, ref)})
			} else {
				pf := raw[parent]
				for k, v := range pf {
					if _, has := fields[k]; !has && k != "crossref" {
						fields[k] = v
					}
				}
				if _, has := fields["booktitle"]; !has && pf["title"] != "" {
					fields["booktitle"] = pf["title"]
				}
				// A child's own title stays its own.
			}
		}
	}
	for _, e := range f.Entries {
		clean := make(map[string]string, len(raw[e]))
		for k, v := range raw[e] {
			clean[k] = Text(v)
		}
		e.Fields = clean
		e.lowerKey = strings.ToLower(e.Key)
	}
	return f
}

// parser reads src from pos, counting lines.
type parser struct {
	src    string
	pos    int
	line   int
	macros map[string]string
}

type parseError struct {
	line int
	msg  string
}

func (p *parser) errorf(format string, args ...any) *parseError {
	return &parseError{line: p.line, msg: fmt.Sprintf(format, args...)}
}

// advance moves to byte i, counting the lines passed.
func (p *parser) advance(i int) {
	p.line += strings.Count(p.src[p.pos:i], "\n")
	p.pos = i
}

// nextAt moves to the next @ (text before it is a comment) and returns its
// offset, -1 at the end.
func (p *parser) nextAt() int {
	i := strings.IndexByte(p.src[p.pos:], '@')
	if i < 0 {
		p.advance(len(p.src))
		return -1
	}
	p.advance(p.pos + i)
	return p.pos
}

// recover moves past a malformed item: to the next @ that starts a line
// after the item's first line (entries begin on a line of their own in
// every file people keep, and braces inside a broken entry cannot be
// trusted).
func (p *parser) recover(startLine int) {
	if p.line <= startLine {
		// Still on the item's first line: go to the next line.
		nl := strings.IndexByte(p.src[p.pos:], '\n')
		if nl < 0 {
			p.advance(len(p.src))
			return
		}
		p.advance(p.pos + nl + 1)
	} else if ls := strings.LastIndexByte(p.src[:p.pos], '\n') + 1; strings.TrimSpace(p.src[ls:p.pos]) == "" {
		// The error was found at the start of a line (an entry that was
		// never closed, followed by the next one): resume there.
		p.pos = ls
		return
	}
	for p.pos < len(p.src) {
		rest := p.src[p.pos:]
		if t := strings.TrimLeft(rest, " \t"); strings.HasPrefix(t, "@") {
			p.advance(p.pos + len(rest) - len(t))
			return
		}
		nl := strings.IndexByte(rest, '\n')
		if nl < 0 {
			p.advance(len(p.src))
			return
		}
		p.advance(p.pos + nl + 1)
	}
}

func (p *parser) skipSpace() {
	i := p.pos
	for i < len(p.src) {
		switch p.src[i] {
		case ' ', '\t', '\r', '\n', '\f', '\v':
			i++
			continue
		}
		break
	}
	p.advance(i)
}

func (p *parser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

// ident reads a name: an entry type, a field or macro name.
func (p *parser) ident() string {
	i := p.pos
	for i < len(p.src) && isNameByte(p.src[i]) {
		i++
	}
	s := p.src[p.pos:i]
	p.advance(i)
	return s
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("_-:.+/'!?*&;<>[]|$^`~", c) >= 0 || c >= 0x80
}

// item reads the @… at pos: an entry (returned), or a @string, @comment
// or @preamble (nil).
func (p *parser) item() (*Entry, *parseError) {
	first := p.line
	p.advance(p.pos + 1) // @
	p.skipSpace()
	typ := strings.ToLower(p.ident())
	if typ == "" {
		return nil, p.errorf("expected an entry type after @")
	}
	p.skipSpace()
	open := p.peek()
	if open != '{' && open != '(' {
		if typ == "comment" {
			return nil, nil // @comment as a line comment
		}
		return nil, p.errorf("expected { or ( after @%s", typ)
	}
	closer := byte('}')
	if open == '(' {
		closer = ')'
	}
	switch typ {
	case "comment":
		if _, err := p.braced(); err != nil && open == '{' {
			return nil, err
		} else if open == '(' {
			if i := strings.IndexByte(p.src[p.pos:], ')'); i >= 0 {
				p.advance(p.pos + i + 1)
			}
		}
		return nil, nil
	case "preamble":
		p.advance(p.pos + 1)
		if _, err := p.value(); err != nil {
			return nil, err
		}
		return nil, p.close(closer, "@preamble")
	case "string":
		p.advance(p.pos + 1)
		p.skipSpace()
		name := strings.ToLower(p.ident())
		if name == "" {
			return nil, p.errorf("@string without a name")
		}
		p.skipSpace()
		if p.peek() != '=' {
			return nil, p.errorf("@string{%s: expected =", name)
		}
		p.advance(p.pos + 1)
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		p.macros[name] = v
		return nil, p.close(closer, "@string{"+name)
	}
	p.advance(p.pos + 1)
	p.skipSpace()
	// The key: up to the comma (BibLaTeX allows most characters).
	ks := p.pos
	for p.pos < len(p.src) && p.src[p.pos] != ',' && p.src[p.pos] != closer && p.src[p.pos] != '\n' && p.src[p.pos] != '}' {
		p.pos++
	}
	key := strings.TrimSpace(p.src[ks:p.pos])
	if key == "" || strings.ContainsAny(key, " \t{\"=") {
		return nil, p.errorf("@%s: missing or malformed citation key", typ)
	}
	e := &Entry{Key: key, Type: typ, Fields: map[string]string{}}
	for {
		p.skipSpace()
		switch c := p.peek(); {
		case c == closer:
			p.advance(p.pos + 1)
			return e, nil
		case c == ',':
			p.advance(p.pos + 1)
			continue
		case c == 0:
			return nil, &parseError{line: first, msg: fmt.Sprintf("@%s{%s: the entry is never closed", typ, key)}
		case c == '@':
			return nil, &parseError{line: first, msg: fmt.Sprintf("@%s{%s: the entry is not closed before the next @ (a missing } or ,?)", typ, key)}
		}
		name := strings.ToLower(p.ident())
		if name == "" {
			return nil, p.errorf("@%s{%s: unexpected %q where a field name belongs", typ, key, string(p.peek()))
		}
		p.skipSpace()
		if p.peek() != '=' {
			return nil, p.errorf("@%s{%s: field %s: expected =", typ, key, name)
		}
		p.advance(p.pos + 1)
		v, err := p.value()
		if err != nil {
			err.msg = fmt.Sprintf("@%s{%s: field %s: %s", typ, key, name, err.msg)
			return nil, err
		}
		if _, dup := e.Fields[name]; !dup {
			e.Fields[name] = v
		}
		p.skipSpace()
		if c := p.peek(); c != ',' && c != closer {
			switch {
			case c == 0:
				return nil, &parseError{line: first, msg: fmt.Sprintf("@%s{%s: the entry is never closed", typ, key)}
			case c == '@' && entryStartsAt(p.src, strings.LastIndexByte(p.src[:p.pos], '\n')+1):
				return nil, &parseError{line: first, msg: fmt.Sprintf("@%s{%s: the entry is not closed before the next @ (a missing } or ,?)", typ, key)}
			}
			return nil, p.errorf("@%s{%s: after field %s: expected , or %c", typ, key, name, closer)
		}
	}
}

// close expects the closing delimiter of an item.
func (p *parser) close(closer byte, what string) *parseError {
	p.skipSpace()
	if p.peek() != closer {
		return p.errorf("%s: expected %c", what, closer)
	}
	p.advance(p.pos + 1)
	return nil
}

// value reads a field value: pieces joined by #, each braced, quoted, a
// number or a macro name. The result keeps LaTeX (Text makes display
// text); an undefined macro is an error.
func (p *parser) value() (string, *parseError) {
	var b strings.Builder
	for {
		p.skipSpace()
		switch c := p.peek(); {
		case c == '{':
			s, err := p.braced()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		case c == '"':
			s, err := p.quoted()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		case c >= '0' && c <= '9':
			b.WriteString(p.ident())
		case isNameByte(c):
			name := p.ident()
			v, ok := p.macros[strings.ToLower(name)]
			if !ok {
				if v, ok = months[strings.ToLower(name)]; !ok {
					return "", p.errorf("undefined @string macro %q", name)
				}
			}
			b.WriteString(v)
		default:
			return "", p.errorf("expected a value")
		}
		p.skipSpace()
		if p.peek() != '#' {
			return b.String(), nil
		}
		p.advance(p.pos + 1)
	}
}

// braced reads {…} with nested braces; its content is returned. A line
// starting with @name{ or @name( inside is taken as the next entry: the
// braces were not balanced.
func (p *parser) braced() (string, *parseError) {
	start, depth := p.pos, 0
	line := p.line
	for i := p.pos; i < len(p.src); i++ {
		switch p.src[i] {
		case '\\':
			i++ // an escaped brace does not count
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				s := p.src[start+1 : i]
				p.advance(i + 1)
				return s, nil
			}
		case '\n':
			if entryStartsAt(p.src, i+1) {
				p.advance(i + 1)
				return "", &parseError{line: line, msg: "unbalanced braces (a { is never closed)"}
			}
		}
	}
	p.advance(len(p.src))
	return "", &parseError{line: line, msg: "unbalanced braces (a { is never closed)"}
}

// quoted reads "…" (quotes inside braces do not end it).
func (p *parser) quoted() (string, *parseError) {
	start, depth := p.pos, 0
	line := p.line
	for i := p.pos + 1; i < len(p.src); i++ {
		switch p.src[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			depth--
		case '"':
			if depth == 0 {
				s := p.src[start+1 : i]
				p.advance(i + 1)
				return s, nil
			}
		case '\n':
			if entryStartsAt(p.src, i+1) {
				p.advance(i + 1)
				return "", &parseError{line: line, msg: "a quoted value is never closed"}
			}
		}
	}
	p.advance(len(p.src))
	return "", &parseError{line: line, msg: "a quoted value is never closed"}
}

// entryStartsAt reports whether a line starting at i begins an entry:
// optional blanks, @, a name, then { or (.
func entryStartsAt(s string, i int) bool {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i >= len(s) || s[i] != '@' {
		return false
	}
	i++
	n := i
	for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z') {
		i++
	}
	return i > n && i < len(s) && (s[i] == '{' || s[i] == '(')
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// ShortNames is the short form of a BibTeX name list ("A and B and
// others"): the family names, "X, Y" for two, "X et al." for more.
func ShortNames(list string) string {
	names := SplitNames(list)
	fams := make([]string, 0, len(names))
	others := false
	for _, n := range names {
		if strings.EqualFold(strings.TrimSpace(n), "others") {
			others = true
			continue
		}
		if f := Family(n); f != "" {
			fams = append(fams, f)
		}
	}
	switch {
	case len(fams) == 0:
		return ""
	case len(fams) == 1 && !others:
		return fams[0]
	case len(fams) == 2 && !others:
		return fams[0] + ", " + fams[1]
	}
	return fams[0] + " et al."
}

// SplitNames splits a name list at " and " outside braces.
func SplitNames(list string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(list); i++ {
		switch list[i] {
		case '{':
			depth++
		case '}':
			depth--
		case ' ', '\t', '\n':
			if depth == 0 && i+5 <= len(list) && strings.EqualFold(list[i+1:min(i+4, len(list))], "and") &&
				i+4 < len(list) && (list[i+4] == ' ' || list[i+4] == '\t' || list[i+4] == '\n') {
				out = append(out, strings.TrimSpace(list[start:i]))
				start = i + 5
				i += 3
			}
		}
	}
	if s := strings.TrimSpace(list[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

// Family is the family name of one BibTeX name (already display text or
// not): "Curie, Marie" and "Marie Curie" give "Curie", "Ludwig van
// Beethoven" gives "van Beethoven", "{Barnes and Noble}" stays whole.
func Family(name string) string {
	name = strings.TrimSpace(name)
	if i := commaOutsideBraces(name); i >= 0 {
		return Text(strings.TrimSpace(name[:i]))
	}
	words := splitWords(name)
	if len(words) == 0 {
		return ""
	}
	// The von part starts at the first lower-case word after the first
	// word; without one, the family name is the last word.
	i := len(words) - 1
	for k := 1; k < len(words)-1; k++ {
		if startsLower(words[k]) {
			i = k
			break
		}
	}
	return Text(strings.Join(words[i:], " "))
}

func startsLower(w string) bool {
	t := Text(w)
	r, _ := utf8.DecodeRuneInString(t)
	return unicode.IsLower(r) && !strings.HasPrefix(w, "{")
}

func commaOutsideBraces(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// splitWords splits at blanks outside braces.
func splitWords(s string) []string {
	var out []string
	depth, start := 0, -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{':
			depth++
		case c == '}':
			depth--
		case (c == ' ' || c == '\t' || c == '\n' || c == '~') && depth == 0:
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

package latex

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// span is a protected range of the source found by the scanner.
type span struct {
	start, end int
	kind       kind
	structural bool
	literal    bool // a comment kept visible (KeepComments)
	eol        bool // ends with a comment
}

// scanner walks the source once, at prose level, and records the spans to
// protect. Prose braces are counted so that unbalanced input is refused.
type scanner struct {
	src     string
	o       Options
	macros  map[string]bool // Options.Macros, command names
	markers []string        // Options.Macros, literal markers
	prose   map[string]bool // Options.ProseMacros
	spans   []span
	open    []int // positions of the prose { not closed yet
}

func newScanner(src string, o Options) *scanner {
	s := &scanner{src: src, o: o, macros: map[string]bool{}, prose: map[string]bool{}}
	for _, m := range o.Macros {
		m = strings.TrimPrefix(strings.TrimSpace(m), `\`)
		switch {
		case m == "":
		case isLetter(m[0]):
			s.macros[m] = true
		default:
			s.markers = append(s.markers, m)
		}
	}
	for _, m := range o.ProseMacros {
		if m = strings.TrimPrefix(strings.TrimSpace(m), `\`); m != "" {
			s.prose[m] = true
		}
	}
	return s
}

// line is the 1-based line of byte offset i.
func (s *scanner) line(i int) int { return strings.Count(s.src[:min(i, len(s.src))], "\n") + 1 }

func (s *scanner) errorf(at int, format string, args ...any) error {
	return &SyntaxError{Line: s.line(at), Reason: fmt.Sprintf(format, args...)}
}

func (s *scanner) add(start, end int, k kind, structural bool) {
	s.spans = append(s.spans, span{start: start, end: end, kind: k, structural: structural})
}

func (s *scanner) run() error {
	src := s.src
	for i := 0; i < len(src); {
		if j, ok := s.marker(i); ok {
			end, err := s.args(j, false)
			if err != nil {
				return err
			}
			s.add(i, end, kindCommand, false)
			i = end
			continue
		}
		c := src[i]
		switch c {
		case '%':
			end := commentEnd(src, i)
			lit := s.o.KeepComments && !strings.ContainsAny(src[i:end], "⟦⟧\x00")
			if lit {
				// Trailing white space is prose: answers are trimmed.
				end = i + len(strings.TrimRight(src[i:end], asciiSpace))
			}
			s.spans = append(s.spans, span{start: i, end: end, kind: kindComment, structural: true, literal: lit, eol: true})
			i = end
		case '$':
			end, display, err := s.dollarMath(i)
			if err != nil {
				return err
			}
			s.add(i, end, kindMath, display)
			i = end
		case '\\':
			end, err := s.command(i)
			if err != nil {
				return err
			}
			i = end
		case 0:
			// NUL marks placeholders in the verifier's statistics: protected.
			s.add(i, i+1, kindCommand, false)
			i++
		case '{':
			s.open = append(s.open, i)
			i++
		case '}':
			if len(s.open) == 0 {
				return s.errorf(i, "this } closes no {: the braces do not balance")
			}
			s.open = s.open[:len(s.open)-1]
			i++
		default:
			if c == 0xE2 && (strings.HasPrefix(src[i:], "⟦") || strings.HasPrefix(src[i:], "⟧")) {
				// The placeholder brackets themselves are protected, so that
				// an answer's placeholders are always ours.
				s.add(i, i+len("⟦"), kindCommand, false)
				i += len("⟦")
				continue
			}
			i++
		}
	}
	if len(s.open) > 0 {
		return s.errorf(s.open[len(s.open)-1], "this { is never closed: the braces do not balance")
	}
	return nil
}

// marker reports whether a literal marker of Options.Macros starts at i,
// and where the letters after it end.
func (s *scanner) marker(i int) (int, bool) {
	for _, m := range s.markers {
		if strings.HasPrefix(s.src[i:], m) {
			j := i + len(m)
			for j < len(s.src) && isLetter(s.src[j]) {
				j++
			}
			return j, true
		}
	}
	return 0, false
}

// commentEnd is the end of the comment starting at i: the end of its line,
// without the line break (nor a CR before it).
func commentEnd(src string, i int) int {
	nl := strings.IndexByte(src[i:], '\n')
	if nl < 0 {
		return len(src)
	}
	end := i + nl
	if end > i && src[end-1] == '\r' {
		end--
	}
	return end
}

// command handles a backslash at prose level and returns where scanning
// resumes.
func (s *scanner) command(i int) (int, error) {
	src := s.src
	if i+1 >= len(src) {
		s.add(i, i+1, kindCommand, false) // a lone backslash at the very end
		return i + 1, nil
	}
	c := src[i+1]
	if !isLetter(c) {
		switch c {
		case '(', '[':
			closer, what := `\)`, `\(`
			if c == '[' {
				closer, what = `\]`, `\[`
			}
			end, err := s.mathUntil(i+2, closer, c == '(', i, what)
			if err != nil {
				return 0, err
			}
			s.add(i, end, kindMath, c == '[')
			return end, nil
		case '\\':
			end := i + 2
			if end < len(src) && src[end] == '*' {
				end++
			}
			if end < len(src) && src[end] == '[' {
				if e, ok := s.bracket(end); ok {
					end = e
				}
			}
			s.add(i, end, kindCommand, true)
			return end, nil
		}
		_, n := utf8.DecodeRuneInString(src[i+1:])
		if n == 1 && strings.IndexByte(plainSymbols, c) >= 0 {
			return i + 2, nil // \, \% \' … stay visible
		}
		s.add(i, i+1+n, kindCommand, false)
		return i + 1 + n, nil
	}
	j := i + 1
	for j < len(src) && isLetter(src[j]) {
		j++
	}
	name := src[i+1 : j]
	star := j < len(src) && src[j] == '*'
	switch {
	case name == "begin":
		return s.begin(i, j)
	case name == "end":
		end, err := s.envName(i, j)
		if err != nil {
			return 0, err
		}
		s.add(i, end, kindCommand, true)
		return end, nil
	case s.macros[name]:
		if star {
			j++
		}
		end, err := s.args(j, true)
		if err != nil {
			return 0, err
		}
		s.add(i, end, kindCommand, false)
		return end, nil
	case verbCommands[name]:
		end, err := s.verb(i, j, name)
		if err != nil {
			return 0, err
		}
		s.add(i, end, kindVerbatim, false)
		return end, nil
	case name == "texttt":
		end, err := s.args(j, false)
		if err != nil {
			return 0, err
		}
		s.add(i, end, kindVerbatim, false)
		return end, nil
	case s.defined(name):
		return s.userMacro(i, j, s.o.Definitions.Macros[name])
	case proseCommands[name] || s.prose[name]:
		if star {
			j++
		}
		return j, nil // visible; its arguments are scanned as prose
	case plainCommands[name] && !star:
		return j, nil
	}
	if star {
		j++
	}
	var end int
	var err error
	if rawArgCommands[name] && j < len(src) && src[j] == '{' {
		end, err = s.rawGroup(j)
		if err == nil {
			end, err = s.args(end, false)
		}
	} else {
		end, err = s.args(j, false)
	}
	if err != nil {
		return 0, err
	}
	k := kindCommand
	if refCommands[name] || isCite(name) {
		k = kindRef
	}
	s.add(i, end, k, structuralCommands[name])
	return end, nil
}

// fixedCommands keep their built-in handling whatever the writer defines.
var fixedCommands = set(`begin end item par verb lstinline mintinline spverb Verb texttt url href nolinkurl path
	input include subfile import subimport`)

// defined reports whether name is one of the writer's own macros the
// scanner handles by its definition.
func (s *scanner) defined(name string) bool {
	_, ok := s.o.Definitions.Macros[name]
	return ok && !fixedCommands[name] && !s.prose[name]
}

// userMacro handles one of the writer's macros at i (its name ends at j):
// visible with prose arguments, or protected with exactly its arguments.
func (s *scanner) userMacro(i, j int, d Def) (int, error) {
	if d.Role == RoleProse {
		return j, nil // visible; its arguments are scanned as prose
	}
	end, err := s.defArgs(j, d)
	if err != nil {
		return 0, err
	}
	if d.Args == 0 && strings.HasPrefix(s.src[end:], "{}") {
		end += 2 // \etal{}: the empty group belongs to the macro
	}
	k := kindCommand
	switch d.Role {
	case RoleRef:
		k = kindRef
	case RoleMath:
		k = kindMath
	}
	s.add(i, end, k, false)
	return end, nil
}

// defArgs reads the arguments of a defined macro or environment from j:
// the optional one when present, then up to Args brace groups (spaces and
// tabs allowed before each).
func (s *scanner) defArgs(j int, d Def) (int, error) {
	src := s.src
	n := d.Args
	skip := func(k int) int {
		for k < len(src) && (src[k] == ' ' || src[k] == '\t') {
			k++
		}
		return k
	}
	if d.Optional {
		n--
		if k := skip(j); k < len(src) && src[k] == '[' {
			if e, ok := s.bracket(k); ok {
				j = e
			}
		}
	}
	for ; n > 0; n-- {
		k := skip(j)
		if k >= len(src) || src[k] != '{' {
			break
		}
		e, err := s.group(k)
		if err != nil {
			return 0, err
		}
		j = e
	}
	return j, nil
}

// begin handles \begin at i (name ends at j).
func (s *scanner) begin(i, j int) (int, error) {
	src := s.src
	nameEnd, err := s.envName(i, j)
	if err != nil {
		return 0, err
	}
	env := src[j+1 : nameEnd-1]
	switch {
	case rawEnvironments[env]:
		closer := `\end{` + env + `}`
		k := strings.Index(src[nameEnd:], closer)
		if k < 0 {
			return 0, s.errorf(i, "the %s environment is never closed (no %s)", env, closer)
		}
		end := nameEnd + k + len(closer)
		s.add(i, end, kindVerbatim, true)
		return end, nil
	case mathEnvironments[env] || opaqueEnvironments[env]:
		end, err := s.envBody(i, nameEnd, env)
		if err != nil {
			return 0, err
		}
		k := kindCommand
		if mathEnvironments[env] {
			k = kindMath
		}
		s.add(i, end, k, true)
		return end, nil
	}
	if d, ok := s.o.Definitions.Envs[env]; ok {
		if d.Role != RoleProse {
			end, err := s.envBody(i, nameEnd, env)
			if err != nil {
				return 0, err
			}
			k := kindCommand
			if d.Role == RoleMath {
				k = kindMath
			}
			s.add(i, end, k, true)
			return end, nil
		}
		end, err := s.defArgs(nameEnd, d)
		if err != nil {
			return 0, err
		}
		s.add(i, end, kindCommand, true)
		return end, nil
	}
	end, err := s.args(nameEnd, false)
	if err != nil {
		return 0, err
	}
	s.add(i, end, kindCommand, true)
	return end, nil
}

// envName reads the {name} of \begin or \end at i (the command name ends at
// j) and returns the end of the brace.
func (s *scanner) envName(i, j int) (int, error) {
	src := s.src
	if j >= len(src) || src[j] != '{' {
		return 0, s.errorf(i, "%s is not followed by {name}", src[i:j])
	}
	k := strings.IndexAny(src[j:], "}\n")
	if k < 0 || src[j+k] != '}' {
		return 0, s.errorf(i, "the environment name after %s is not closed on its line", src[i:j])
	}
	return j + k + 1, nil
}

// envBody finds the \end{env} matching the \begin{env} at i, whose name
// ends at from, skipping comments and nested environments of the same name.
func (s *scanner) envBody(i, from int, env string) (int, error) {
	src := s.src
	open, closer := `\begin{`+env+`}`, `\end{`+env+`}`
	depth := 1
	for k := from; k < len(src); {
		switch src[k] {
		case '%':
			k = commentEnd(src, k)
		case '\\':
			switch {
			case strings.HasPrefix(src[k:], closer):
				k += len(closer)
				if depth--; depth == 0 {
					return k, nil
				}
			case strings.HasPrefix(src[k:], open):
				depth++
				k += len(open)
			default:
				k += 2
			}
		default:
			k++
		}
	}
	return 0, s.errorf(i, "the %s environment is never closed (no %s)", env, closer)
}

// args reads the bracket and brace arguments right after j and returns
// their end. With spaces, horizontal white space may come before each
// argument (custom macros).
func (s *scanner) args(j int, spaces bool) (int, error) {
	src := s.src
	for {
		k := j
		if spaces {
			for k < len(src) && (src[k] == ' ' || src[k] == '\t') {
				k++
			}
		}
		if k >= len(src) {
			return j, nil
		}
		switch src[k] {
		case '[':
			e, ok := s.bracket(k)
			if !ok {
				return j, nil
			}
			j = e
		case '{':
			e, err := s.group(k)
			if err != nil {
				return 0, err
			}
			j = e
		default:
			return j, nil
		}
	}
}

// group returns the end of the brace group opening at i, skipping escapes
// and comments.
func (s *scanner) group(i int) (int, error) {
	if e, ok := groupEnd(s.src, i); ok {
		return e, nil
	}
	return 0, s.errorf(i, "this { is never closed: the braces do not balance")
}

// rawGroup returns the end of the brace group opening at i, read verbatim
// (a URL): only braces count.
func (s *scanner) rawGroup(i int) (int, error) {
	src := s.src
	depth := 0
	for k := i; k < len(src); k++ {
		switch src[k] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return k + 1, nil
			}
		}
	}
	return 0, s.errorf(i, "this { is never closed: the braces do not balance")
}

// bracket returns the end of the optional argument opening at i; false when
// it does not close before a blank line (then it is prose, not an argument).
func (s *scanner) bracket(i int) (int, bool) {
	src := s.src
	for k := i + 1; k < len(src); {
		switch src[k] {
		case ']':
			return k + 1, true
		case '\\':
			k += 2
			continue
		case '%':
			k = commentEnd(src, k)
			continue
		case '{':
			e, err := s.group(k)
			if err != nil {
				return 0, false
			}
			k = e
			continue
		case '\n':
			if blankLineAt(src, k+1) {
				return 0, false
			}
		}
		k++
	}
	return 0, false
}

// blankLineAt reports whether the line starting at i holds only spaces.
func blankLineAt(src string, i int) bool {
	for ; i < len(src); i++ {
		switch src[i] {
		case ' ', '\t', '\r':
		case '\n':
			return true
		default:
			return false
		}
	}
	return true
}

// verb reads \verb|…|, \lstinline{…} and kin at i (name ends at j).
func (s *scanner) verb(i, j int, name string) (int, error) {
	src := s.src
	if j < len(src) && src[j] == '*' {
		j++
	}
	if name == "mintinline" || name == "lstinline" {
		// An optional [options], then (mintinline) a {language}.
		if j < len(src) && src[j] == '[' {
			if e, ok := s.bracket(j); ok {
				j = e
			}
		}
		if name == "mintinline" {
			if j >= len(src) || src[j] != '{' {
				return 0, s.errorf(i, `\mintinline is not followed by {language}`)
			}
			e, err := s.rawGroup(j)
			if err != nil {
				return 0, err
			}
			j = e
		}
	}
	if j >= len(src) {
		return 0, s.errorf(i, `\%s has no code after it`, name)
	}
	if src[j] == '{' && name != "verb" {
		return s.rawGroup(j)
	}
	d, n := utf8.DecodeRuneInString(src[j:])
	if d == ' ' || d == '\n' || d == utf8.RuneError {
		return 0, s.errorf(i, `\%s has no delimiter after it`, name)
	}
	delim := string(d)
	k := strings.Index(src[j+n:], delim)
	if k < 0 || strings.Contains(src[j+n:j+n+k], "\n") {
		return 0, s.errorf(i, `\%s%s is not closed on its line`, name, delim)
	}
	return j + n + k + n, nil
}

// dollarMath reads $…$ or $$…$$ at i.
func (s *scanner) dollarMath(i int) (end int, display bool, err error) {
	if strings.HasPrefix(s.src[i:], "$$") {
		end, err = s.mathUntil(i+2, "$$", false, i, "$$")
		return end, true, err
	}
	end, err = s.mathUntil(i+1, "$", true, i, "$")
	return end, false, err
}

// mathUntil scans math from j to closer at brace depth 0, skipping escapes
// and comments (a $ inside \text{…} is nested math). Inline math may not
// run across a blank line.
func (s *scanner) mathUntil(j int, closer string, inline bool, start int, what string) (int, error) {
	src := s.src
	depth := 0
	for k := j; k < len(src); {
		if depth == 0 && strings.HasPrefix(src[k:], closer) {
			return k + len(closer), nil
		}
		switch src[k] {
		case '\\':
			k += 2
			continue
		case '%':
			k = commentEnd(src, k)
			continue
		case '{':
			depth++
		case '}':
			if depth > 0 {
				depth--
			}
		case '\n':
			if inline && blankLineAt(src, k+1) {
				return 0, s.errorf(start, "the math opened by %s is not closed before the end of the paragraph", what)
			}
		}
		k++
	}
	return 0, s.errorf(start, "the math opened by %s is never closed", what)
}

// merge joins spans separated only by white space (a literal comment is
// never joined), so that fewer placeholders reach the model. A mix of
// kinds is a command (C).
func (s *scanner) merge() []span {
	var out []span
	for _, sp := range s.spans {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if !last.literal && !sp.literal && strings.Trim(s.src[last.end:sp.start], asciiSpace) == "" {
				last.end = sp.end
				if last.kind != sp.kind {
					last.kind = kindCommand // a mix: say "command"
				}
				last.structural = last.structural || sp.structural
				last.eol = sp.eol
				continue
			}
		}
		out = append(out, sp)
	}
	return out
}

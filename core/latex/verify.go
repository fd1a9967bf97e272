package latex

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// placed is where a part sits in an answer: bytes [start, end).
type placed struct {
	part       int
	start, end int
}

// verified is an answer that passed every check.
type verified struct {
	core string   // the normalised answer
	loc  []placed // its parts, in answer order
}

// check normalises and verifies an answer.
func (m *Masked) check(out string) (*verified, error) {
	core := m.normalise(out)
	if strings.IndexByte(core, 0) >= 0 {
		return nil, verifyErr("it contains a NUL character")
	}
	loc, err := m.locate(core)
	if err != nil {
		return nil, err
	}
	if core == "" && m.core != "" {
		return nil, verifyErr("it is empty")
	}
	if err := m.checkPlaces(core, loc); err != nil {
		return nil, err
	}
	if err := m.compare(collect(core, loc, m.prose)); err != nil {
		return nil, err
	}
	if m.opts.Translation {
		if err := m.opts.Glossary.checkTerms(m.terms, core); err != nil {
			return nil, err
		}
	}
	return &verified{core: core, loc: loc}, nil
}

// locate finds the parts in an answer: the comments kept visible in order
// first, then the placeholders. Damaged, unknown, missing and duplicated
// placeholders are errors.
func (m *Masked) locate(core string) ([]placed, error) {
	var loc []placed
	// Literal comments, in order.
	from := 0
	for i := range m.parts {
		p := &m.parts[i]
		if !p.literal() {
			continue
		}
		k := indexUnescaped(core[from:], p.orig)
		if k < 0 {
			return nil, verifyErr("the comment on line %d was changed or dropped (comments must come back unchanged)", lineOf(m.src, p.start))
		}
		loc = append(loc, placed{part: i, start: from + k, end: from + k + len(p.orig)})
		from += k + len(p.orig)
	}
	inLiteral := func(i int) (int, bool) {
		for _, l := range loc {
			if l.start <= i && i < l.end {
				return l.end, true
			}
		}
		return 0, false
	}
	literals := len(loc)
	seen := make([]int, len(m.parts))
	for i := 0; i < len(core); {
		if literals > 0 {
			if e, ok := inLiteral(i); ok {
				i = e
				continue
			}
		}
		open := strings.HasPrefix(core[i:], "⟦")
		if !open && !strings.HasPrefix(core[i:], "⟧") {
			i++
			continue
		}
		if !open {
			return nil, m.damaged(core, i)
		}
		j := i + len("⟦")
		if j < len(core) && isLetter(core[j]) {
			j++
		}
		for j < len(core) && '0' <= core[j] && core[j] <= '9' {
			j++
		}
		if !strings.HasPrefix(core[j:], "⟧") {
			return nil, m.damaged(core, i)
		}
		end := j + len("⟧")
		name := core[i:end]
		idx, ok := m.byName[name]
		if !ok {
			return nil, m.unknown(name)
		}
		if seen[idx]++; seen[idx] == 2 {
			return nil, verifyErr("placeholder %s was duplicated", name)
		}
		loc = append(loc, placed{part: idx, start: i, end: end})
		i = end
	}
	for i := range m.parts {
		if !m.parts[i].literal() && seen[i] == 0 {
			return nil, verifyErr("placeholder %s was dropped", m.parts[i].name)
		}
	}
	sort.Slice(loc, func(a, b int) bool { return loc[a].start < loc[b].start })
	return loc, nil
}

// indexUnescaped is the first index of comment c in s where its % is not
// escaped, or -1.
func indexUnescaped(s, c string) int {
	for from := 0; ; {
		k := strings.Index(s[from:], c)
		if k < 0 {
			return -1
		}
		if !oddBackslashes(s[:from+k]) {
			return from + k
		}
		from += k + 1
	}
}

// damaged explains a ⟦ or ⟧ that is not part of a placeholder.
func (m *Masked) damaged(core string, i int) error {
	// Look for the number the model kept, after the bracket, then before.
	lo, hi := max(0, i-10), min(len(core), i+16)
	for lo > 0 && !utf8.RuneStart(core[lo]) {
		lo--
	}
	for _, w := range []string{core[i:hi], core[lo:i]} {
		if num := lastDigits(w, w == core[lo:i]); num != "" {
			if p := m.byNumber(num); p != nil {
				return verifyErr("placeholder %s was altered", p.name)
			}
		}
	}
	return verifyErr("a placeholder was altered (a stray ⟦ or ⟧)")
}

// unknown explains a well-formed placeholder that is not ours.
func (m *Masked) unknown(name string) error {
	num := strings.TrimSuffix(strings.TrimPrefix(name, "⟦"), "⟧")
	num = strings.TrimLeft(num, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
	if p := m.byNumber(num); p != nil {
		return verifyErr("placeholder %s was altered", p.name)
	}
	if len(name) > 24 {
		return verifyErr("the rewrite invents a placeholder")
	}
	return verifyErr("the rewrite invents placeholder %s", name)
}

// lastDigits returns the first (or, with last, the last) run of digits in w.
func lastDigits(w string, last bool) string {
	num := ""
	for k := 0; k < len(w); {
		if w[k] < '0' || w[k] > '9' {
			k++
			continue
		}
		e := k
		for e < len(w) && '0' <= w[e] && w[e] <= '9' {
			e++
		}
		num = w[k:e]
		if !last {
			return num
		}
		k = e
	}
	return num
}

func (m *Masked) byNumber(num string) *part {
	if num == "" {
		return nil
	}
	for i := range m.parts {
		p := &m.parts[i]
		if p.literal() {
			continue
		}
		if strings.TrimSuffix(p.name[len("⟦")+1:], "⟧") == num {
			return p
		}
	}
	return nil
}

// checkPlaces verifies the order of the parts: structural parts keep their
// order, inline parts stay between the same structural parts, and no
// backslash is glued before a placeholder.
func (m *Masked) checkPlaces(core string, loc []placed) error {
	var prev *part
	structs := 0
	for _, l := range loc {
		p := &m.parts[l.part]
		if !p.literal() && l.start > 0 && core[l.start-1] == '\\' && oddBackslashes(core[:l.start]) {
			return verifyErr("a backslash was put right before placeholder %s", p.name)
		}
		if p.structural {
			if prev != nil && p.start < prev.start {
				return verifyErr("%s was moved before %s: the order of environments, items, display math and comments must not change", m.describe(p), m.describe(prev))
			}
			prev = p
			structs++
			continue
		}
		if structs != p.seg {
			return verifyErr("placeholder %s was moved to another part of the text (across an environment, item, display math or comment)", p.name)
		}
	}
	return nil
}

func (m *Masked) describe(p *part) string {
	if p.literal() {
		return "the comment on line " + itoa(lineOf(m.src, p.start))
	}
	return "placeholder " + p.name
}

func oddBackslashes(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func lineOf(s string, i int) int { return strings.Count(s[:i], "\n") + 1 }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}

// Quotation styles.
const (
	quoteStraight   = 1 << iota // "…"
	quoteCurly                  // “…” „…“
	quoteGuillemets             // «…»
	quoteOgFg                   // \og…\fg
	quoteTeX                    // ``…''
)

var quoteNames = []struct {
	bit  int
	name string
}{
	{quoteStraight, `straight quotes "…"`}, {quoteCurly, "curly quotes “…”"}, {quoteGuillemets, "guillemets « »"},
	{quoteOgFg, `\og … \fg`}, {quoteTeX, "TeX quotes ``…''"},
}

// specials are the characters LaTeX gives a meaning to, which prose writes
// escaped.
const specials = "%$&#_^"

// stats describes the prose of a text (placeholders and literal comments
// left out): what the checks compare between the masked text and an answer.
type stats struct {
	special  [len(specials)]int // unescaped occurrences
	braceErr string             // why the braces do not balance, "" if they do
	argErr   string             // a prose command that lost its braces
	commands map[string]int     // visible commands by name
	ties     int                // ~
	thin     int                // \,
	nbsp     int                // U+00A0, U+202F
	quotes   int                // quotation styles used (bits)
	laquo    int                // «
	raquo    int                // »
	frSpaced int                // ; : ! ? after a space
	frTight  int                // ; : ! ? right after a word
	frPlain  int                // ; : ! ? after a plain space
	frTie    int                // ; : ! ? after a tie
	breaks   int                // blank lines between paragraphs

	text      string         // the prose, each part a NUL
	tiedParts map[int]bool   // parts right after a ~ (Fig.~\ref{…})
	tiedAfter map[int]bool   // parts right before a ~ ($n$~points)
	tieCtx    map[string]int // other ties with the words around them: "Fig.~3"
	tiesKept  int            // ties a translation keeps: not French typography's
	texOpen   int            // ``
	straight  int            // "
	curly     int            // “ ” „
	emptyArg  string         // an emphasis command whose argument is empty
}

// collect computes the statistics of core's prose; loc are its parts, in
// order (each replaced by a NUL, which nothing else matches).
//
// prose are the writer's own prose macros (Definitions), kept like \emph.
func collect(core string, loc []placed, prose map[string]bool) *stats {
	var b strings.Builder
	b.Grow(len(core))
	last := 0
	for _, l := range loc {
		b.WriteString(core[last:l.start])
		b.WriteByte(0)
		last = l.end
	}
	b.WriteString(core[last:])
	t := b.String()

	st := &stats{commands: map[string]int{}, text: t, tiedParts: map[int]bool{}, tiedAfter: map[int]bool{}, tieCtx: map[string]int{}}
	for _, l := range loc {
		if l.start > 0 && core[l.start-1] == '~' && !oddBackslashes(core[:l.start-1]) {
			st.tiedParts[l.part] = true
		}
		if l.end+1 < len(core) && core[l.end] == '~' && !frenchPunctAt(core, l.end+1) {
			st.tiedAfter[l.part] = true
		}
	}
	depth := 0
	for i := 0; i < len(t); {
		c := t[i]
		switch {
		case c == '\\':
			if i+1 >= len(t) {
				i++
				continue
			}
			j := i + 1
			if isLetter(t[j]) {
				for j < len(t) && isLetter(t[j]) {
					j++
				}
			} else {
				_, n := utf8.DecodeRuneInString(t[j:])
				j += n
			}
			name := t[i+1 : j]
			st.commands[name]++
			switch name {
			case ",":
				st.thin++
			case "og", "fg":
				st.quotes |= quoteOgFg
			}
			if (proseCommands[name] || prose[name]) && st.argErr == "" && !argFollows(t, j) {
				st.argErr = `\` + name + " lost the braces around its text"
			}
			if (emphCommands[name] || prose[name]) && st.emptyArg == "" && emptyArgAt(t, j) {
				st.emptyArg = name
			}
			i = j
			continue
		case c == '{':
			depth++
		case c == '}':
			if depth--; depth < 0 && st.braceErr == "" {
				st.braceErr = "a } closes no {"
			}
		case c == '~':
			st.ties++
			w1, w2 := wordBefore(t, i), wordAfter(t, i+1)
			if w1 != "" && w2 != "" && w2[0] != 0 {
				st.tieCtx[w1+"~"+w2]++
			}
			if !frenchTie(w1, w2) {
				st.tiesKept++
			}
		case c == '"':
			st.quotes |= quoteStraight
			st.straight++
		case c == '`' && i+1 < len(t) && t[i+1] == '`', c == '\'' && i+1 < len(t) && t[i+1] == '\'':
			st.quotes |= quoteTeX
			if c == '`' {
				st.texOpen++
			}
			i += 2
			continue
		case c == ';' || c == ':' || c == '!' || c == '?':
			if i > 0 && punctEnds(t, i+1) {
				switch prevSpace(t, i) {
				case 1:
					st.frSpaced++
					switch t[i-1] {
					case ' ', '\t':
						st.frPlain++
					case '~':
						st.frTie++
					}
				case -1:
					st.frTight++
				}
			}
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(t[i:])
			switch r {
			case '\u00a0', '\u202f':
				st.nbsp++
			case '«':
				st.laquo++
				st.quotes |= quoteGuillemets
			case '»':
				st.raquo++
				st.quotes |= quoteGuillemets
			case '“', '”', '„':
				st.quotes |= quoteCurly
				st.curly++
			}
			i += n
			continue
		default:
			if k := strings.IndexByte(specials, c); k >= 0 {
				st.special[k]++
			}
		}
		i++
	}
	if depth > 0 && st.braceErr == "" {
		st.braceErr = "a { is never closed"
	}
	st.breaks = countBreaks(t)
	return st
}

// countBreaks counts the runs of blank lines in t.
func countBreaks(t string) int {
	n, blank := 0, false
	for line := range strings.SplitSeq(t, "\n") {
		b := strings.Trim(line, " \t\r") == ""
		if b && !blank {
			n++
		}
		blank = b
	}
	return n
}

// argFollows reports whether a brace argument follows a prose command at
// i, after a star and optional arguments.
func argFollows(t string, i int) bool {
	_, ok := argBrace(t, i)
	return ok
}

// argBrace is where the brace argument of a command at i opens, after a
// star and optional arguments; false when none follows.
func argBrace(t string, i int) (int, bool) {
	if i < len(t) && t[i] == '*' {
		i++
	}
	for i < len(t) && t[i] == '[' {
		k := strings.IndexByte(t[i:], ']')
		if k < 0 {
			return 0, false
		}
		i += k + 1
	}
	return i, i < len(t) && t[i] == '{'
}

// punctEnds reports whether the character at i ends a clause's punctuation
// (white space, the end, a placeholder or a closing sign follows), so that
// 10:30, !!{…} and the like are not punctuation.
func punctEnds(t string, i int) bool {
	if i >= len(t) {
		return true
	}
	switch t[i] {
	case ' ', '\t', '\n', '\r', 0, '}', ')', '~', '\'', '"':
		return true
	}
	return strings.HasPrefix(t[i:], "»") || strings.HasPrefix(t[i:], "\u00a0")
}

// prevSpace classifies what comes before the punctuation at i: 1 a space
// (of any kind, \, included), -1 a word, 0 a line start or anything else.
func prevSpace(t string, i int) int {
	switch t[i-1] {
	case ' ', '\t', '~':
		return 1
	case '\n':
		return 0
	case ',':
		if i >= 2 && t[i-2] == '\\' {
			return 1
		}
		return 0
	}
	r, _ := utf8.DecodeLastRuneInString(t[:i])
	switch {
	case r == '\u00a0' || r == '\u202f':
		return 1
	case r == '»' || r == ')' || r == 0 || r == '}' || r == '$':
		return -1
	case r >= utf8.RuneSelf || isLetter(byte(r)) || '0' <= r && r <= '9':
		return -1
	}
	return 0
}

// compare checks an answer's prose against the masked text's.
func (m *Masked) compare(st *stats) error {
	base := m.base
	if st.braceErr != "" {
		return verifyErr("the braces do not balance (%s)", st.braceErr)
	}
	if st.argErr != "" && base.argErr == "" {
		return verifyErr("%s", st.argErr)
	}
	for k, c := range specials {
		if st.special[k] > base.special[k] {
			return verifyErr("it has an unescaped %c, which LaTeX reads as %s; write \\%c", c, specialMeaning[k], c)
		}
	}
	names := make([]string, 0, len(st.commands))
	for name := range st.commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if base.commands[name] == 0 && !safeToAdd[name] && !(len(name) == 1 && strings.Contains(plainSymbols, name)) {
			if len(name) > 32 {
				name = name[:32] + "…"
			}
			return verifyErr(`it uses the command \%s, which the original does not`, name)
		}
	}
	for _, name := range countedNames {
		switch a, b := st.commands[name], base.commands[name]; {
		case a < b:
			return verifyErr(`it drops a \%s (the original has %d, the rewrite %d)`, name, b, a)
		case a > b:
			return verifyErr(`it adds a \%s (the original has %d, the rewrite %d)`, name, b, a)
		}
	}
	if st.breaks != base.breaks {
		verb := "merges"
		if st.breaks > base.breaks {
			verb = "splits"
		}
		return verifyErr("it %s paragraphs (%d paragraph breaks instead of %d)", verb, st.breaks, base.breaks)
	}
	// Pairs that were balanced stay balanced, in every language.
	if base.commands["og"] == base.commands["fg"] && st.commands["og"] != st.commands["fg"] {
		return verifyErr(`\og and \fg no longer pair up`)
	}
	if base.laquo == base.raquo && st.laquo != st.raquo {
		return verifyErr("« and » no longer pair up")
	}
	if err := m.compareTypography(st); err != nil {
		return err
	}
	if m.opts.Translation {
		return m.compareTies(st)
	}
	if added := st.quotes &^ base.quotes; added != 0 && (base.quotes != 0 || added&quoteStraight != 0) {
		for _, q := range quoteNames {
			if added&q.bit != 0 {
				return verifyErr("it changes the quotation marks (it uses %s, which the original does not)", q.name)
			}
		}
	}
	for _, c := range []struct {
		base, out int
		what      string
	}{
		{base.ties, st.ties, "the non-breaking spaces (~)"},
		{base.thin, st.thin, `the thin spaces (\,)`},
		{base.nbsp, st.nbsp, "the non-breaking space characters"},
	} {
		if c.base >= 2 && c.out*3 < c.base {
			return verifyErr("it removes %s: the original has %d, the rewrite %d", c.what, c.base, c.out)
		}
	}
	switch {
	case base.frSpaced >= 2 && base.frTight == 0 && st.frTight > 0:
		return verifyErr("it removes the space the original puts before : ; ! ? (French typography)")
	case base.frTight >= 2 && base.frSpaced == 0 && st.frSpaced > 0:
		return verifyErr("it adds a space before : ; ! ?, which the original never puts")
	}
	return m.compareTies(st)
}

// countedNames are the countedCommands, sorted, for stable messages.
var countedNames = func() []string {
	var s []string
	for name := range countedCommands {
		s = append(s, name)
	}
	sort.Strings(s)
	return s
}()

var specialMeaning = [len(specials)]string{"the start of a comment", "math", "a table column separator", "a macro parameter", "a subscript", "a superscript"}

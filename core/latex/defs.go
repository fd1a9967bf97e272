package latex

import (
	"strings"
)

// Role is what one of the writer's own macros or environments is, for the
// masker: whether its arguments (or body) are prose the model may rewrite
// or structure it must not touch.
type Role uint8

// Roles, decided from the definition's body.
const (
	// RoleProtected: the macro with its arguments (the environment whole)
	// is replaced by a command placeholder (C).
	RoleProtected Role = iota
	// RoleProse: the macro stays visible and its brace arguments are prose,
	// like \emph{…}; an environment's body is prose.
	RoleProse
	// RoleRef: protected, a reference, citation, label or link (R).
	RoleRef
	// RoleMath: protected, math (M): \DeclareMathOperator, macros whose
	// body is math, environments wrapping equation or align.
	RoleMath
)

func (r Role) String() string {
	switch r {
	case RoleProse:
		return "prose"
	case RoleRef:
		return "ref"
	case RoleMath:
		return "math"
	}
	return "protected"
}

// ParseRole reads a Role from its String form; false for anything else.
func ParseRole(s string) (Role, bool) {
	for _, r := range []Role{RoleProtected, RoleProse, RoleRef, RoleMath} {
		if r.String() == s {
			return r, true
		}
	}
	return 0, false
}

// Def is one definition: a macro's or environment's role and arguments.
type Def struct {
	Role Role
	// Args is the number of arguments, the optional one included.
	Args int
	// Optional: the first argument is optional ([default]).
	Optional bool
}

// Definitions are the macros and environments a document and its project
// define (\newcommand, \def, \DeclareMathOperator, \newenvironment…), by
// name without the backslash. The zero value is empty and ready to use.
type Definitions struct {
	Macros map[string]Def
	Envs   map[string]Def
}

// Len is the number of definitions.
func (d Definitions) Len() int { return len(d.Macros) + len(d.Envs) }

// Merge adds o's definitions to d; o's win over d's of the same name (a
// later \renewcommand).
func (d *Definitions) Merge(o Definitions) {
	for name, def := range o.Macros {
		d.setMacro(name, def)
	}
	for name, def := range o.Envs {
		d.setEnv(name, def)
	}
}

func (d *Definitions) setMacro(name string, def Def) {
	if d.Macros == nil {
		d.Macros = map[string]Def{}
	}
	d.Macros[name] = def
}

func (d *Definitions) setEnv(name string, def Def) {
	if d.Envs == nil {
		d.Envs = map[string]Def{}
	}
	d.Envs[name] = def
}

// MaxDefinitions bounds what ParseDefinitions keeps from one text.
const MaxDefinitions = 10000

// ParseDefinitions reads the definitions in a LaTeX text (a preamble, a
// .sty file, a whole document): \newcommand, \renewcommand,
// \providecommand (with [n] and [default]), \DeclareMathOperator(*),
// \newenvironment, \renewenvironment, \newtheorem, \def (and \gdef,
// \edef, \xdef) with #1#2… parameters, \let, and xparse's
// \NewDocumentCommand and kin. Each one's role is decided from its body.
// A definition it cannot read is skipped; it never fails. Definitions
// already in known are used to classify the new ones (\let\foo\bar,
// a macro wrapping another).
func ParseDefinitions(src string, known ...Definitions) Definitions {
	p := defParser{src: src}
	for _, k := range known {
		p.ctx.Merge(k)
	}
	p.run()
	return p.out
}

type defParser struct {
	src string
	ctx Definitions // known and parsed so far: to classify
	out Definitions // parsed
}

func (p *defParser) macro(name string, def Def) {
	if name == "" || p.out.Len() >= MaxDefinitions {
		return
	}
	p.out.setMacro(name, def)
	p.ctx.setMacro(name, def)
}

func (p *defParser) env(name string, def Def) {
	if name == "" || p.out.Len() >= MaxDefinitions {
		return
	}
	p.out.setEnv(name, def)
	p.ctx.setEnv(name, def)
}

func (p *defParser) run() {
	src := p.src
	for i := 0; i < len(src); {
		switch src[i] {
		case '%':
			i = commentEnd(src, i)
			continue
		case '\\':
		default:
			i++
			continue
		}
		j := i + 1
		for j < len(src) && isLetter(src[j]) {
			j++
		}
		if j == i+1 {
			i += 2
			continue
		}
		name := src[i+1 : j]
		next := j
		switch name {
		case "newcommand", "renewcommand", "providecommand", "DeclareRobustCommand":
			next = p.newcommand(j)
		case "DeclareMathOperator":
			next = p.mathOperator(j)
		case "newenvironment", "renewenvironment", "provideenvironment":
			next = p.newenvironment(j)
		case "newtheorem":
			next = p.newtheorem(j)
		case "def", "gdef", "edef", "xdef":
			next = p.def(j)
		case "let", "global":
			if name == "let" {
				next = p.let(j)
			}
		case "NewDocumentCommand", "RenewDocumentCommand", "ProvideDocumentCommand", "DeclareDocumentCommand":
			next = p.documentCommand(j)
		case "NewDocumentEnvironment", "RenewDocumentEnvironment", "ProvideDocumentEnvironment", "DeclareDocumentEnvironment":
			next = p.documentEnvironment(j)
		}
		i = max(next, j)
	}
}

// skip passes white space, comments and line breaks.
func (p *defParser) skip(i int) int {
	for i < len(p.src) {
		switch p.src[i] {
		case ' ', '\t', '\r', '\n':
			i++
		case '%':
			i = commentEnd(p.src, i)
		default:
			return i
		}
	}
	return i
}

// star passes an optional *.
func (p *defParser) star(i int) int {
	if i = p.skip(i); i < len(p.src) && p.src[i] == '*' {
		return i + 1
	}
	return i
}

// group reads a brace group at i (after white space): its inside and end.
func (p *defParser) group(i int) (string, int, bool) {
	i = p.skip(i)
	if i >= len(p.src) || p.src[i] != '{' {
		return "", i, false
	}
	end, ok := groupEnd(p.src, i)
	if !ok {
		return "", i, false
	}
	return p.src[i+1 : end-1], end, true
}

// bracket reads an optional [..] at i (after white space).
func (p *defParser) bracket(i int) (string, int, bool) {
	k := p.skip(i)
	if k >= len(p.src) || p.src[k] != '[' {
		return "", i, false
	}
	depth := 0
	for e := k + 1; e < len(p.src); e++ {
		switch p.src[e] {
		case '\\':
			e++
		case '{':
			depth++
		case '}':
			depth--
		case ']':
			if depth == 0 {
				return p.src[k+1 : e], e + 1, true
			}
		}
	}
	return "", i, false
}

// csName reads \name or {\name} at i: the name without the backslash.
func (p *defParser) csName(i int) (string, int) {
	i = p.skip(i)
	if i < len(p.src) && p.src[i] == '{' {
		in, end, ok := p.group(i)
		if !ok {
			return "", i
		}
		return controlName(strings.TrimSpace(in)), end
	}
	if i < len(p.src) && p.src[i] == '\\' {
		j := i + 1
		for j < len(p.src) && isLetter(p.src[j]) {
			j++
		}
		if j == i+1 && j < len(p.src) {
			j++ // a control symbol
		}
		return p.src[i+1 : j], j
	}
	return "", i
}

// controlName is the name of a lone control sequence "\name", or "".
func controlName(s string) string {
	if len(s) < 2 || s[0] != '\\' {
		return ""
	}
	for k := 1; k < len(s); k++ {
		if !isLetter(s[k]) && !(k == len(s)-1 && len(s) == 2) {
			return ""
		}
	}
	return s[1:]
}

// groupEnd is the end of the brace group opening at i, escapes and
// comments skipped.
func groupEnd(src string, i int) (int, bool) {
	depth := 0
	for k := i; k < len(src); {
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
			if depth--; depth == 0 {
				return k + 1, true
			}
		}
		k++
	}
	return 0, false
}

// argSpec reads the optional [n] (the number of arguments) and [default]
// (the first argument is optional) of a definition at j.
func (p *defParser) argSpec(j int) (args int, opt bool, end int) {
	if n, e, ok := p.bracket(j); ok {
		args, j = atoiSmall(strings.TrimSpace(n)), e
		if _, e, ok := p.bracket(j); ok {
			opt, j = true, e
		}
	}
	return args, opt, j
}

// newcommand reads what follows \newcommand (j is after its name).
func (p *defParser) newcommand(j int) int {
	j = p.star(j)
	name, j := p.csName(j)
	if name == "" {
		return j
	}
	args, opt, j := p.argSpec(j)
	body, e, ok := p.group(j)
	if !ok {
		return j
	}
	p.macro(name, Def{Role: p.classifyMacro(body, args), Args: args, Optional: opt && args > 0})
	return e
}

func (p *defParser) mathOperator(j int) int {
	j = p.star(j)
	name, j := p.csName(j)
	if name == "" {
		return j
	}
	_, e, ok := p.group(j)
	if !ok {
		return j
	}
	p.macro(name, Def{Role: RoleMath})
	return e
}

func (p *defParser) newenvironment(j int) int {
	j = p.star(j)
	name, j, ok := p.group(j)
	if !ok {
		return j
	}
	name = strings.TrimSpace(name)
	args, opt, j := p.argSpec(j)
	code, e, ok := p.envCode(j)
	if !ok {
		return j
	}
	p.env(name, Def{Role: p.classifyEnv(code), Args: args, Optional: opt && args > 0})
	return e
}

// envCode reads an environment definition's begin code and its end code
// (when there is one) at j: the two joined, and where they end.
func (p *defParser) envCode(j int) (code string, end int, ok bool) {
	begin, e, ok := p.group(j)
	if !ok {
		return "", j, false
	}
	if last, e2, ok := p.group(e); ok {
		return begin + last, e2, true
	}
	return begin, e, true
}

// newtheorem: \newtheorem{name}[counter]{Title}[within], prose.
func (p *defParser) newtheorem(j int) int {
	j = p.star(j)
	name, e, ok := p.group(j)
	if !ok {
		return j
	}
	p.env(strings.TrimSpace(name), Def{Role: RoleProse, Args: 1, Optional: true})
	return e
}

// def reads \def\name#1#2{body}.
func (p *defParser) def(j int) int {
	name, j := p.csName(j)
	if name == "" {
		return j
	}
	k := j
	args := 0
	for k < len(p.src) && p.src[k] != '{' && k-j < 64 {
		if p.src[k] == '#' && k+1 < len(p.src) && '1' <= p.src[k+1] && p.src[k+1] <= '9' {
			args = int(p.src[k+1] - '0')
		}
		k++
	}
	delimited := strings.Trim(p.src[j:k], "#123456789 \t") != "" // \def\foo(#1,#2){…}
	body, e, ok := p.group(k)
	if !ok {
		return j
	}
	role := p.classifyMacro(body, args)
	if delimited && role == RoleProse {
		role = RoleProtected // arguments not in braces: cannot be scanned as prose
	}
	p.macro(name, Def{Role: role, Args: args})
	return e
}

// let reads \let\foo\bar or \let\foo=\bar: \foo is what \bar is.
func (p *defParser) let(j int) int {
	name, j := p.csName(j)
	if name == "" {
		return j
	}
	k := p.skip(j)
	if k < len(p.src) && p.src[k] == '=' {
		k++
	}
	other, e := p.csName(k)
	if other == "" {
		return j
	}
	if d, ok := p.ctx.Macros[other]; ok {
		p.macro(name, d)
	} else {
		p.macro(name, builtinDef(other))
	}
	return e
}

// documentCommand reads xparse's \NewDocumentCommand\foo{m o m}{body}.
func (p *defParser) documentCommand(j int) int {
	name, j := p.csName(j)
	if name == "" {
		return j
	}
	spec, j, ok := p.group(j)
	if !ok {
		return j
	}
	body, e, ok := p.group(j)
	if !ok {
		return j
	}
	args, opt, braces := xparseArgs(spec)
	role := p.classifyMacro(body, args)
	if !braces && role == RoleProse {
		role = RoleProtected
	}
	p.macro(name, Def{Role: role, Args: args, Optional: opt})
	return e
}

func (p *defParser) documentEnvironment(j int) int {
	name, j, ok := p.group(j)
	if !ok {
		return j
	}
	spec, j, ok := p.group(j)
	if !ok {
		return j
	}
	code, e, ok := p.envCode(j)
	if !ok {
		return j
	}
	args, opt, _ := xparseArgs(spec)
	p.env(strings.TrimSpace(name), Def{Role: p.classifyEnv(code), Args: args, Optional: opt})
	return e
}

// xparseArgs counts the arguments of an xparse spec: how many, whether
// the first is optional, and whether all are brace or bracket arguments
// (m, o, O{…}).
func xparseArgs(spec string) (args int, firstOpt, braces bool) {
	braces = true
	for i := 0; i < len(spec); i++ {
		switch c := spec[i]; c {
		case ' ', '\t', '\n', '+', '!':
		case '{':
			if e, ok := groupEnd(spec, i); ok {
				i = e - 1
			}
		case 'm':
			args++
		case 'o', 'O', 'd', 'D':
			if args == 0 {
				firstOpt = true
			}
			args++
		default:
			args++
			braces = false
		}
	}
	return args, firstOpt, braces
}

func atoiSmall(s string) int {
	if len(s) == 1 && '0' <= s[0] && s[0] <= '9' {
		return int(s[0] - '0')
	}
	return 0
}

// builtinDef is the role of a built-in command, for \let.
func builtinDef(name string) Def {
	switch {
	case refCommands[name] || isCite(name):
		return Def{Role: RoleRef, Args: 1}
	case proseCommands[name]:
		return Def{Role: RoleProse, Args: 1}
	}
	return Def{Role: RoleProtected}
}

// textWrappers are commands whose brace arguments stay prose in a
// definition's body: a macro wrapping its argument in one of them is a
// prose macro.
var textWrappers = set(`textcolor color colorbox fcolorbox fbox framebox mbox makebox hbox text hl sout uwave ul st
	foreignlanguage MakeUppercase MakeLowercase uppercase lowercase textls emph textit textbf textsc textsl textup
	textmd textrm textsf textnormal underline uline enquote footnote marginpar marginnote sidenote
	ensuremath`)

// mathEnterers are commands whose arguments are math.
var mathEnterers = set(`ensuremath mathbb mathbf mathrm mathcal mathfrak mathsf mathit mathscr boldsymbol bm
	operatorname operatorname* overline widehat widetilde hat tilde bar vec dot ddot frac dfrac tfrac sqrt
	left right sum prod int lim sup inf max min log exp`)

// mathOnly are commands found only in math: a body using them is math.
var mathOnly = set(`lvert rvert lVert rVert langle rangle lfloor rfloor lceil rceil cdot cdots times mid
	varepsilon epsilon alpha beta gamma delta lambda mu sigma omega infty partial nabla subset subseteq in notin
	leq geq neq approx equiv to mapsto circ otimes oplus forall exists`)

// classifyMacro decides a macro's role from its body and arity.
func (p *defParser) classifyMacro(body string, args int) Role {
	b := strings.TrimSpace(body)
	if b == "" {
		return RoleProtected
	}
	// References, citations, labels, links: protected as R.
	refs, math := false, false        // the body holds references, math
	argMath, argOther := false, false // an argument is used in math, in a non-prose argument
	argBare := false                  // an argument is used outside any command's braces
	inDollar := false
	type frame struct{ math, prose, wrapped bool }
	stack := []frame{{math: false, prose: true}}
	pending := "" // the command whose arguments come next
	for i := 0; i < len(b); i++ {
		top := stack[len(stack)-1]
		c := b[i]
		switch {
		case c == '\\':
			j := i + 1
			for j < len(b) && isLetter(b[j]) {
				j++
			}
			if j == i+1 {
				if j < len(b) && (b[j] == '(' || b[j] == '[') {
					inDollar = true
				}
				if j < len(b) && (b[j] == ')' || b[j] == ']') {
					inDollar = false
				}
				i = j
				pending = ""
				continue
			}
			name := b[i+1 : j]
			switch {
			case refCommands[name] || isCite(name):
				refs = true
			case mathEnterers[name] && name != "ensuremath", mathOnly[name]:
				math = true
			}
			if d, ok := p.ctx.Macros[name]; ok {
				switch d.Role {
				case RoleRef:
					refs = true
				case RoleMath:
					math = true
				}
			}
			if name == "ensuremath" {
				math = true
			}
			pending = name
			i = j - 1
		case c == '$':
			inDollar = !inDollar
			math = true
		case c == '{':
			f := frame{math: top.math || inDollar || mathEnterers[pending], prose: top.prose, wrapped: top.wrapped || pending != ""}
			if pending != "" {
				d, user := p.ctx.Macros[pending]
				f.prose = top.prose && (textWrappers[pending] || user && d.Role == RoleProse)
			}
			stack = append(stack, f)
		case c == '}':
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			// pending stays: the next group is its next argument.
			continue
		case c == '[' || c == ']':
			continue
		case c == '#':
			if i+1 < len(b) && '1' <= b[i+1] && b[i+1] <= '9' {
				switch {
				case inDollar || top.math:
					argMath = true
				case !top.prose:
					argOther = true
				case !top.wrapped:
					argBare = true
				}
				i++
			}
			pending = ""
		case c == ' ' || c == '\t' || c == '\n':
		default:
			pending = ""
		}
	}
	switch {
	case refs:
		return RoleRef
	case args > 0 && (argMath || argBare && math):
		// Used in math, or bare in a body that is math (\left\lvert #1\right\rvert).
		return RoleMath
	case args > 0 && !argOther && strings.Contains(b, "#"):
		return RoleProse
	case args == 0 && math:
		return RoleMath
	}
	return RoleProtected
}

// classifyEnv decides an environment's role from its begin and end code.
func (p *defParser) classifyEnv(code string) Role {
	role := RoleProse
	for i := 0; ; {
		k := strings.Index(code[i:], `\begin{`)
		if k < 0 {
			break
		}
		i += k + len(`\begin{`)
		e := strings.IndexByte(code[i:], '}')
		if e < 0 {
			break
		}
		env := code[i : i+e]
		switch d, user := p.ctx.Envs[env]; {
		case mathEnvironments[env] || user && d.Role == RoleMath:
			return RoleMath
		case opaqueEnvironments[env] || rawEnvironments[env] || user && d.Role == RoleProtected:
			role = RoleProtected
		}
	}
	if strings.Contains(code, `\[`) || strings.Contains(code, "$$") {
		return RoleMath
	}
	if strings.Contains(code, `\tikz`) || strings.Contains(code, `\lstnewenvironment`) {
		return RoleProtected
	}
	return role
}

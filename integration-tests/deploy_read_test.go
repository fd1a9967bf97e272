package integrationtests

// Readers for the deployment files' languages, as far as deploy_test.go
// needs them: shell command lines (the operations guide), nginx
// configuration, systemd units and PromQL (the dashboard).

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"testing"
)

// deployNginxDirective is one directive of an nginx configuration.
type deployNginxDirective struct {
	name     string
	args     []string
	children []*deployNginxDirective
}

func (d *deployNginxDirective) all(name string) []*deployNginxDirective {
	var out []*deployNginxDirective
	for _, c := range d.children {
		if c.name == name {
			out = append(out, c)
		}
	}
	return out
}

func (d *deployNginxDirective) block(t *testing.T, name string) *deployNginxDirective {
	t.Helper()
	bs := d.all(name)
	if len(bs) != 1 {
		t.Fatalf("nginx.conf: %d %s blocks in %s, want 1", len(bs), name, d.name)
	}
	return bs[0]
}

func (d *deployNginxDirective) value(name string) string {
	if bs := d.all(name); len(bs) > 0 {
		return strings.Join(bs[len(bs)-1].args, " ")
	}
	return ""
}

// deployNginxParse reads nginx's syntax: directives ending in ';', blocks
// in braces, '#' comments, quoted strings.
func deployNginxParse(t *testing.T, src string) *deployNginxDirective {
	t.Helper()
	var toks []string
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '{' || c == '}' || c == ';':
			toks = append(toks, string(c))
			i++
		case c == '\'' || c == '"':
			j := strings.IndexByte(src[i+1:], c)
			if j < 0 {
				t.Fatal("nginx.conf: unterminated string")
			}
			toks = append(toks, src[i+1:i+1+j])
			i += j + 2
		default:
			j := i
			for j < len(src) && !strings.ContainsRune(" \t\r\n{};", rune(src[j])) {
				j++
			}
			toks = append(toks, src[i:j])
			i = j
		}
	}
	root := &deployNginxDirective{name: "main"}
	stack := []*deployNginxDirective{root}
	var cur *deployNginxDirective
	for _, tok := range toks {
		top := stack[len(stack)-1]
		switch tok {
		case ";":
			if cur == nil {
				t.Fatal("nginx.conf: empty directive")
			}
			top.children = append(top.children, cur)
			cur = nil
		case "{":
			if cur == nil {
				t.Fatal("nginx.conf: block without a name")
			}
			top.children = append(top.children, cur)
			stack = append(stack, cur)
			cur = nil
		case "}":
			if cur != nil || len(stack) == 1 {
				t.Fatal("nginx.conf: unbalanced braces or a directive without ';'")
			}
			stack = stack[:len(stack)-1]
		default:
			if cur == nil {
				cur = &deployNginxDirective{name: tok}
			} else {
				cur.args = append(cur.args, tok)
			}
		}
	}
	if len(stack) != 1 || cur != nil {
		t.Fatal("nginx.conf: unbalanced braces")
	}
	return root
}

// deployUnitParse reads a systemd unit: section → key → values in order.
func deployUnitParse(t *testing.T, src string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	var sec string
	for n, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			sec = line[1 : len(line)-1]
			out[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || sec == "" {
				t.Fatalf("timon.service:%d: not key=value in a section: %q", n+1, line)
			}
			out[sec][k] = append(out[sec][k], v)
		}
	}
	return out
}

// deployPromMetrics returns the metric names a PromQL expression (or a
// Grafana label_values query) reads.
func deployPromMetrics(expr string) []string {
	if inner, ok := strings.CutPrefix(strings.TrimSpace(expr), "label_values("); ok {
		m, _, _ := strings.Cut(inner, ",")
		expr = m
	}
	keywords := map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
	skip := map[string]bool{"bool": true, "and": true, "or": true, "unless": true, "offset": true,
		"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
		"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true}
	var out []string
	closing := map[byte]byte{'{': '}', '[': ']', '"': '"', '\'': '\''}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case closing[c] != 0: // label matchers (with their strings), ranges, strings
			j := i + 1
			for j < len(expr) && expr[j] != closing[c] {
				if q := expr[j]; c == '{' && (q == '"' || q == '\'') {
					k := strings.IndexByte(expr[j+1:], q)
					if k < 0 {
						break
					}
					j += k + 1
				}
				j++
			}
			if j >= len(expr) {
				return append(out, "<unterminated>")
			}
			i = j + 1
		case c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(expr) && (expr[j] == '_' || expr[j] == ':' || expr[j] >= 'a' && expr[j] <= 'z' || expr[j] >= 'A' && expr[j] <= 'Z' || expr[j] >= '0' && expr[j] <= '9') {
				j++
			}
			word := expr[i:j]
			rest := strings.TrimLeft(expr[j:], " \t\n")
			switch {
			case keywords[word]: // by (a, b): a label list
				if strings.HasPrefix(rest, "(") {
					j = len(expr) - len(rest) + strings.IndexByte(rest, ')') + 1
				}
			case skip[word], strings.HasPrefix(rest, "("): // operators, functions
			default:
				out = append(out, word)
			}
			i = j
		case c >= '0' && c <= '9' || c == '.': // numbers, durations (offset 1h)
			for i < len(expr) && (expr[i] >= '0' && expr[i] <= '9' || expr[i] == '.' || expr[i] >= 'a' && expr[i] <= 'z') {
				i++
			}
		default:
			i++
		}
	}
	return out
}

func TestDeployPromQLReader(t *testing.T) {
	for expr, want := range map[string]string{
		`histogram_quantile(0.99, sum by (le, task) (rate(timon_request_duration_seconds_bucket{instance=~"$instance", a="b{c}"}[$__rate_interval])))`: "timon_request_duration_seconds_bucket",
		`max(timon_journal_lag_seconds) > 2`:              "timon_journal_lag_seconds",
		`sum(rate(a_total[5m])) / sum(rate(up[5m]))`:      "a_total up",
		`label_values(timon_requests_total, integration)`: "timon_requests_total",
		`increase(x[1d]) offset 1h and on(job) y`:         "x y",
	} {
		if got := strings.Join(deployPromMetrics(expr), " "); got != want {
			t.Errorf("%s: read %q, want %q", expr, got, want)
		}
	}
}

// deployShellCommands returns the simple commands of a shell text, as
// words: quotes removed, $(…) kept whole, comments, pipes, lists and
// redirections handled.
func deployShellCommands(s string) [][]string {
	var cmds [][]string
	var words []string
	var cur strings.Builder
	inWord, redirect := false, false
	flush := func() {
		if inWord {
			if !redirect {
				words = append(words, cur.String())
			}
			redirect = false
		}
		cur.Reset()
		inWord = false
	}
	end := func() {
		flush()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			if s[i+1] != '\n' {
				cur.WriteByte(s[i+1])
				inWord = true
			}
			i++
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			cur.WriteString(s[i+1 : min(j, len(s))])
			i = j
			inWord = true
		case c == '$' && i+1 < len(s) && s[i+1] == '(':
			depth, j := 0, i+1
			for ; j < len(s); j++ {
				if s[j] == '(' {
					depth++
				} else if s[j] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			cur.WriteString(s[i:min(j+1, len(s))])
			i = j
			inWord = true
		case c == '#' && !inWord:
			for i < len(s) && s[i] != '\n' {
				i++
			}
			end()
		case c == ' ' || c == '\t':
			flush()
		case c == '\n' || c == ';' || c == '|' || c == '&':
			end()
		case c == '>' || c == '<':
			if cur.String() == "2" || cur.String() == "1" {
				cur.Reset()
				inWord = false
			}
			flush()
			for i+1 < len(s) && (s[i+1] == '>' || s[i+1] == '&') {
				i++
			}
			redirect = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	end()
	return cmds
}

// deployTimonInvocations finds the timon command lines among shell words:
// a word naming the binary (timon, /path/timon, or an image timon:TAG),
// followed by its arguments. A word "timon" followed by a word that is not
// a command is a mistake, unless it is a user or group name (-u timon).
func deployTimonInvocations(words []string) (calls [][]string, mistakes []string) {
	for i := 0; i+1 < len(words); i++ {
		w, next := words[i], words[i+1]
		isBin := path.Base(w) == "timon" || regexp.MustCompile(`^timon:[\w.-]+$`).MatchString(w)
		if !isBin {
			continue
		}
		if _, ok := deployCommands[next]; ok {
			return append(calls, words[i+1:]), mistakes
		}
		prev := ""
		if i > 0 {
			prev = words[i-1]
		}
		if w == "timon" && regexp.MustCompile(`^[a-z]+$`).MatchString(next) && path.Base(next) != "timon" &&
			prev != "-u" && prev != "-g" && prev != "--user" && prev != "--name" {
			mistakes = append(mistakes, strings.Join(words, " "))
		}
	}
	return calls, mistakes
}

func TestDeployShellReader(t *testing.T) {
	got := deployShellCommands("sudo -u timon sqlite3 db \".backup '/x/timon-$(date +%F).db'\" # c\n" +
		"timon audit public-key --config a.yaml > audit.pub && timon token revoke \\\n  --config b tok_1 2>/dev/null | jq")
	want := [][]string{
		{"sudo", "-u", "timon", "sqlite3", "db", ".backup '/x/timon-$(date +%F).db'"},
		{"timon", "audit", "public-key", "--config", "a.yaml"},
		{"timon", "token", "revoke", "--config", "b", "tok_1"},
		{"jq"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	calls, mistakes := deployTimonInvocations(want[0])
	if len(calls) != 0 || len(mistakes) != 0 {
		t.Fatalf("sudo -u timon: %v %v", calls, mistakes)
	}
	if _, mistakes := deployTimonInvocations([]string{"timon", "tokens", "list"}); len(mistakes) != 1 {
		t.Fatal("a misspelt command is not reported")
	}
}

// deployDockerignore is a .dockerignore file, matched as Docker matches
// it (moby/patternmatcher): patterns are cleaned paths relative to the
// context, '*' and '?' stay within a path element, '**' spans any number
// of them, a pattern that matches a directory excludes everything under
// it, '!' re-includes, and the last pattern that matches decides.
type deployDockerignore struct {
	pats []deployIgnorePattern
}

type deployIgnorePattern struct {
	re     *regexp.Regexp
	negate bool
}

func deployDockerignoreParse(t *testing.T, src string) *deployDockerignore {
	t.Helper()
	d := &deployDockerignore{}
	for _, l := range strings.Split(src, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		p := deployIgnorePattern{}
		if rest, ok := strings.CutPrefix(l, "!"); ok {
			p.negate, l = true, strings.TrimSpace(rest)
		}
		l = strings.TrimPrefix(path.Clean("/"+l), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(l); i++ {
			switch c := l[i]; {
			case strings.HasPrefix(l[i:], "**/"):
				re.WriteString("(?:.*/)?")
				i += 2
			case strings.HasPrefix(l[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			case c == '\\' && i+1 < len(l):
				re.WriteString(regexp.QuoteMeta(l[i+1 : i+2]))
				i++
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		r, err := regexp.Compile(re.String())
		if err != nil {
			t.Fatalf(".dockerignore: %q: %v", l, err)
		}
		p.re = r
		d.pats = append(d.pats, p)
	}
	return d
}

// excluded reports whether the file p (slash-separated, relative to the
// context) stays out of the build context.
func (d *deployDockerignore) excluded(p string) bool {
	out := false
	for _, pat := range d.pats {
		// The path itself or one of its parent directories.
		for q := p; q != "." && q != "/" && q != ""; q = path.Dir(q) {
			if pat.re.MatchString(q) {
				out = !pat.negate
				break
			}
		}
	}
	return out
}

func (d *deployDockerignore) negates() bool {
	for _, p := range d.pats {
		if p.negate {
			return true
		}
	}
	return false
}

func TestDeployDockerignoreReader(t *testing.T) {
	d := deployDockerignoreParse(t, "# c\n.git\nbin\n**/node_modules\n**/*.db\n/data\ndocs/*.md\n!docs/keep.md\n")
	for p, want := range map[string]bool{
		".git/config": true, "bin/timon": true, "cmd/bin/x": false, "node_modules/a/b.js": true,
		"lsp/editors/vscode/node_modules/x/y.js": true, "a/node_modules_not/x": false, "timon.db": true,
		"data/x": true, "core/data/x": false, "docs/ops.md": true, "docs/keep.md": false, "docs/sub/x.md": false,
		"go.mod": false,
	} {
		if got := d.excluded(p); got != want {
			t.Errorf("%s: excluded %v, want %v", p, got, want)
		}
	}
}

// deployDotenv reads a compose .env file: NAME=VALUE lines, '#'
// comments, optional quotes. With uncomment, a commented-out assignment
// ("# NAME=value") counts too, as if the operator had filled it in.
func deployDotenv(src string, uncomment bool) map[string]string {
	out := map[string]string{}
	name := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	for _, l := range strings.Split(src, "\n") {
		l = strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(l, "#"); ok {
			if !uncomment {
				continue
			}
			l = strings.TrimSpace(rest)
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || !name.MatchString(k) || strings.ContainsAny(v, " \t") && !strings.HasPrefix(v, `"`) {
			continue
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[k] = v
	}
	return out
}

// deployInterpolate substitutes compose's ${NAME}, ${NAME:-default},
// ${NAME-default} and ${NAME:?message} from env; a missing required
// variable is an error.
func deployInterpolate(s string, env map[string]string) (string, error) {
	var err error
	out := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`).ReplaceAllStringFunc(s, func(m string) string {
		sm := regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}$`).FindStringSubmatch(m)
		v, set := env[sm[1]]
		empty := !set || (strings.HasPrefix(sm[2], ":") && v == "")
		switch strings.TrimPrefix(sm[2], ":") {
		case "-":
			if empty {
				return sm[3]
			}
		case "?":
			if empty {
				err = fmt.Errorf("%s: %s", sm[1], sm[3])
			}
		}
		return v
	})
	return out, err
}

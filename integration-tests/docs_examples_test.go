package integrationtests

// TestDocExamples runs the shell examples of the documentation (README.md
// files, docs/**/*.md) against the real binary, one hub per document with
// fakellm behind it, and fails when one breaks.
//
// Conventions for whoever writes an example:
//
//   - Fenced blocks tagged sh, bash, shell or console are examples; in a
//     console block only the lines starting with "$ " are commands (a
//     continuation may start with "> "), the rest is output. Comment lines,
//     "\" continuations, quotes spanning lines and heredocs are understood.
//   - Each command runs with `bash -c`, `set -o pipefail`, in a working
//     directory of its own per document; variables and the directory a
//     command sets carry over to the next ones of the document. It must
//     exit 0, and every curl in it must get a 2xx answer.
//   - timon, ./bin/timon: the binary under test. timon.yaml,
//     timon.example.yaml and /etc/timon/timon.yaml are the hub's
//     configuration (timon.example.yaml with the model at fakellm, and a
//     checkpoint signed after every journal entry, where a hub signs one
//     within a minute: audit verify needs one), and TIMON_DATA_DIR its
//     data, so the CLI sees what the hub did; deploy/ is a copy of the
//     repository's.
//   - curl: http://127.0.0.1:8080, http://localhost:8080,
//     https://timon.example.org and https://timon.institution.example reach
//     the test hub; any other URL fails the command (mark the block skip).
//   - Environment: TIMON_TOKEN and TOKEN hold a token of the admin group,
//     TIMON_HUB the hub's URL.
//   - Only timon, curl and a few harmless tools run (docRunnable); commands
//     of docNotRun (make, docker, systemctl, sudo…) and timon serve, lsp
//     and audit tail -f are listed as not run, with the reason; any other
//     program fails the test, so that nothing escapes unnoticed.
//
// Markers, HTML comments just before a block (blank lines allowed):
//
//	<!-- doc-test: skip (needs a Slack workspace) -->   the block is not run; the reason is required
//	<!-- doc-test: exit 1 -->                           every command of the block exits 1
//	<!-- doc-test: status 401 -->                       every curl of the block gets 401
//	<!-- doc-test: replace tok_1a2b3c4d5e6f $(…) -->    a placeholder of the block stands for shell text
//	<!-- doc-test: env NAME=value… -->                   exported before each command of the block
//	<!-- doc-test: file notes.txt
//	Write to alice@example.org.
//	-->                                                 a file the block reads, in the working directory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"timon.dev/timon/core/provider/fakellm"
)

// docTags are the info strings of the fenced blocks that hold examples.
var docTags = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true}

// docRunnable are the programs an example may run here: the binary, curl
// (sent to the test hub) and tools that only read or print.
var docRunnable = map[string]bool{
	"timon": true, "curl": true,
	"jq": true, "echo": true, "printf": true, "cat": true, "grep": true, "head": true,
	"tail": true, "sed": true, "awk": true, "sort": true, "uniq": true, "wc": true,
	"tee": true, "test": true, "[": true, "true": true, "export": true, "unset": true,
	"openssl": true, "base64": true, "sha256sum": true, "diff": true, "date": true,
	"tr": true, "cut": true, "cd": true,
}

// docNotRun are the programs an example may name that the test does not
// run, and why.
var docNotRun = map[string]string{
	"make":        "builds or tests the checkout: the test runs the binary TestMain built",
	"go":          "builds the binary: TestMain builds it",
	"docker":      "needs Docker",
	"systemctl":   "needs systemd",
	"systemd-run": "needs systemd",
	"journalctl":  "needs systemd's journal",
	"sudo":        "runs as another user",
	"useradd":     "changes the machine's users",
	"install":     "changes the machine's files",
	"cp":          "changes the machine's files",
	"mv":          "changes the machine's files",
	"rm":          "changes the machine's files",
	"mkdir":       "changes the machine's files",
	"chown":       "changes the machine's files",
	"chmod":       "changes the machine's files",
	"ln":          "changes the machine's files",
	"pg_dump":     "needs PostgreSQL",
	"pg_restore":  "needs PostgreSQL",
	"psql":        "needs PostgreSQL",
	"sqlite3":     "works on a production database",
	"git":         "works on a checkout",
	"code":        "needs an editor",
	"code-server": "needs an editor",
	"nvim":        "needs an editor",
	"vim":         "needs an editor",
	"emacs":       "needs an editor",
	"npm":         "installs software",
	"npx":         "installs software",
	"apt":         "installs software",
	"apt-get":     "installs software",
	"brew":        "installs software",
	"pip":         "installs software",
	"vllm":        "needs a model server",
	"ollama":      "needs a model server",
	"ssh":         "needs another machine",
	"scp":         "needs another machine",
	"kubectl":     "needs Kubernetes",
}

// docTimonNotRun are timon commands that do not end by themselves.
var docTimonNotRun = []struct {
	re     *regexp.Regexp
	reason string
}{
	{regexp.MustCompile(`(^|[\s/;|&(])timon\s+serve\b`), "starts a hub: the test runs its own, one per document"},
	{regexp.MustCompile(`(^|[\s/;|&(])timon\s+lsp\b`), "a language server on stdio: an editor starts it (lsp_test.go, editors_test.go)"},
	{regexp.MustCompile(`(^|[\s/;|&(])timon\s+audit\s+tail\b.*\s(-f|--follow)\b`), "follows the journal until interrupted"},
}

// docHubAliases are the hub addresses the documentation uses; curl sends
// them to the test hub.
var docHubAliases = []string{
	"http://127.0.0.1:8080", "http://localhost:8080",
	"https://timon.example.org", "https://timon.institution.example",
}

// docCommandTimeout bounds one command: a guard against a hang, not an
// assertion on speed.
const docCommandTimeout = 2 * time.Minute

// docBlock is a fenced example with the markers before it.
type docBlock struct {
	file    string
	line    int    // of the opening fence
	lang    string // sh, bash, shell or console
	lines   []string
	skip    string // reason, when a skip marker precedes the block
	exit    int    // expected exit status of every command
	status  int    // expected HTTP status of every curl, 0: any 2xx
	files   []docFixture
	replace [][2]string
	env     []string // shell text after "export"
}

// docFixture is a file a marker declares.
type docFixture struct{ name, content string }

// docCommand is one command of a block.
type docCommand struct {
	block  *docBlock
	line   int    // of its first line in the file
	text   string // as written, continuation lines included
	run    string // what runs: text with the block's replacements
	notRun string // why it is not run, "" when it runs
}

func (c docCommand) where() string { return fmt.Sprintf("%s:%d", c.block.file, c.line) }

var (
	docFence  = regexp.MustCompile("^(\\s*)(```+|~~~+)\\s*([^`\\s]*)")
	docMarker = regexp.MustCompile(`(?i)^\s*<!--\s*doc-?test\b`)
)

// parseDocBlocks returns the example blocks of a Markdown document with
// their markers. A malformed marker, a marker not followed by an example,
// or an untagged block that looks like commands is an error.
func parseDocBlocks(file, src string) ([]*docBlock, error) {
	lines := strings.Split(src, "\n")
	var blocks []*docBlock
	var errs []error
	var pending *docBlock // markers waiting for their block
	pendingLine := 0
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if docMarker.MatchString(line) {
			start := i
			text := line
			for !strings.Contains(text, "-->") && i+1 < len(lines) {
				i++
				text += "\n" + lines[i]
			}
			if pending == nil {
				pending = &docBlock{}
				pendingLine = start + 1
			}
			if err := parseDocMarker(pending, text); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %w", file, start+1, err))
			}
			continue
		}
		m := docFence.FindStringSubmatch(line)
		if m == nil {
			if pending != nil && strings.TrimSpace(line) != "" {
				errs = append(errs, fmt.Errorf("%s:%d: a doc-test marker must come just before a sh, bash, shell or console block", file, pendingLine))
				pending = nil
			}
			continue
		}
		indent, fence, tag := m[1], m[2], strings.ToLower(m[3])
		b := pending
		if b == nil {
			b = &docBlock{}
		}
		pending = nil
		b.file, b.line, b.lang = file, i+1, tag
		closed := false
		for i++; i < len(lines); i++ {
			l := lines[i]
			if t := strings.TrimSpace(l); strings.HasPrefix(t, fence[:1]) && strings.Trim(t, fence[:1]) == "" && len(t) >= len(fence) {
				closed = true
				break
			}
			// Content is indented like its fence (inside a list item).
			b.lines = append(b.lines, strings.TrimPrefix(l, indent))
		}
		if !closed {
			errs = append(errs, fmt.Errorf("%s:%d: the block is not closed", file, b.line))
		}
		switch {
		case docTags[tag]:
			blocks = append(blocks, b)
		case b.skip != "" || b.exit != 0 || b.status != 0 || len(b.files) > 0 || len(b.replace) > 0 || len(b.env) > 0:
			errs = append(errs, fmt.Errorf("%s:%d: a doc-test marker precedes a %q block, not sh, bash, shell or console", file, pendingLine, tag))
		default:
			for _, l := range b.lines {
				t := strings.TrimSpace(l)
				if t == "" {
					continue
				}
				if tag == "" || tag == "text" {
					for _, p := range []string{"$ ", "timon ", "./bin/timon ", "curl "} {
						if strings.HasPrefix(t, p) {
							errs = append(errs, fmt.Errorf("%s:%d: a block of commands must be tagged sh (or console with \"$ \" prompts) to be tested", file, b.line))
						}
					}
				}
				break
			}
		}
	}
	if pending != nil {
		errs = append(errs, fmt.Errorf("%s:%d: a doc-test marker must come just before a sh, bash, shell or console block", file, pendingLine))
	}
	return blocks, errors.Join(errs...)
}

var (
	docSkipRe    = regexp.MustCompile(`^skip\s*\((.*\S.*)\)$`)
	docExitRe    = regexp.MustCompile(`^exit\s+(\d+)$`)
	docStatusRe  = regexp.MustCompile(`^status\s+([1-5]\d\d)$`)
	docFileRe    = regexp.MustCompile(`^file\s+([\w./-]+)\s*\n`)
	docReplaceRe = regexp.MustCompile(`^replace\s+(\S+)\s+(.+)$`)
	docEnvRe     = regexp.MustCompile(`^env\s+([A-Za-z_]\w*=.*)$`)
)

// parseDocMarker adds one marker's directive to b.
func parseDocMarker(b *docBlock, text string) error {
	body, ok := strings.CutSuffix(strings.TrimSpace(text), "-->")
	if !ok {
		return errors.New("the doc-test marker is not closed with -->")
	}
	body = docMarker.ReplaceAllString(body, "")
	body, ok = strings.CutPrefix(body, ":")
	if !ok {
		return errors.New(`a doc-test marker reads <!-- doc-test: DIRECTIVE -->`)
	}
	body = strings.TrimLeft(body, " \t")
	if m := docFileRe.FindStringSubmatch(body); m != nil {
		b.files = append(b.files, docFixture{name: m[1], content: body[len(m[0]):]})
		return nil
	}
	body = strings.TrimSpace(body)
	if m := docSkipRe.FindStringSubmatch(body); m != nil {
		b.skip = strings.TrimSpace(m[1])
		return nil
	}
	if m := docExitRe.FindStringSubmatch(body); m != nil {
		b.exit, _ = strconv.Atoi(m[1])
		return nil
	}
	if m := docStatusRe.FindStringSubmatch(body); m != nil {
		b.status, _ = strconv.Atoi(m[1])
		return nil
	}
	if m := docReplaceRe.FindStringSubmatch(body); m != nil {
		b.replace = append(b.replace, [2]string{m[1], m[2]})
		return nil
	}
	if m := docEnvRe.FindStringSubmatch(body); m != nil {
		b.env = append(b.env, m[1])
		return nil
	}
	if strings.HasPrefix(body, "skip") {
		return errors.New("a skip marker needs its reason: <!-- doc-test: skip (reason) -->")
	}
	return fmt.Errorf("unknown doc-test directive %q (skip (reason), exit N, status N, replace OLD NEW, env NAME=value, file NAME)", body)
}

// splitDocCommands cuts a block into commands and says which run.
func splitDocCommands(b *docBlock) ([]docCommand, error) {
	var cmds []docCommand
	var errs []error
	var cur []string
	start := 0
	var sc docShellScanner
	for i, l := range b.lines {
		if len(cur) == 0 {
			if b.lang == "console" {
				rest, ok := strings.CutPrefix(l, "$ ")
				if !ok {
					if strings.TrimSpace(l) == "$" {
						continue
					}
					continue // output
				}
				l = rest
			}
			if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			start = i
			sc = docShellScanner{}
		} else if b.lang == "console" {
			l = strings.TrimPrefix(l, "> ")
		}
		cur = append(cur, l)
		sc.feed(l)
		if sc.complete() {
			cmds = append(cmds, docCommand{block: b, line: b.line + 1 + start, text: strings.Join(cur, "\n")})
			cur = nil
		}
	}
	if len(cur) > 0 {
		errs = append(errs, fmt.Errorf("%s:%d: the command does not end (an open quote, heredoc or continuation)", b.file, b.line+1+start))
	}
	for i := range cmds {
		c := &cmds[i]
		c.run = c.text
		for _, r := range b.replace {
			c.run = strings.ReplaceAll(c.run, r[0], r[1])
		}
		why, err := classifyDocCommand(c.run)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.where(), err))
			why = err.Error()
		}
		c.notRun = why
	}
	return cmds, errors.Join(errs...)
}

// classifyDocCommand returns why a command is not run ("" when it runs),
// or an error naming a program the test does not know.
func classifyDocCommand(text string) (string, error) {
	var unknown []string
	notRun := ""
	for _, p := range docPrograms(text) {
		name := filepath.Base(p)
		switch {
		case docRunnable[name]:
		case docNotRun[name] != "":
			if notRun == "" {
				notRun = name + ": " + docNotRun[name]
			}
		default:
			unknown = append(unknown, p)
		}
	}
	if len(unknown) > 0 {
		return "", fmt.Errorf("unknown program %s: add it to docRunnable or docNotRun in integration-tests/docs_examples_test.go, or mark the block <!-- doc-test: skip (reason) -->", strings.Join(unknown, ", "))
	}
	if notRun != "" {
		return notRun, nil
	}
	for _, n := range docTimonNotRun {
		if n.re.MatchString(text) {
			return "timon: " + n.reason, nil
		}
	}
	return "", nil
}

// docShellScanner follows a command's lines far enough to know where it
// ends: quotes, $( ) and ( ) nesting, "\" continuations, trailing | && ||,
// comments and heredocs.
type docShellScanner struct {
	single, double bool
	depth          int
	cont           bool     // the last line asks for another one
	heredocs       []string // delimiters still awaited, "-" prefixed for <<-
}

var docHeredoc = regexp.MustCompile(`^<<(-?)\s*(['"]?)([A-Za-z_][\w]*)(['"]?)`)

func (s *docShellScanner) complete() bool {
	return !s.single && !s.double && s.depth <= 0 && !s.cont && len(s.heredocs) == 0
}

func (s *docShellScanner) feed(line string) {
	if len(s.heredocs) > 0 {
		d := s.heredocs[0]
		l := line
		if strings.HasPrefix(d, "-") {
			d, l = d[1:], strings.TrimLeft(line, "\t")
		}
		if l == d {
			s.heredocs = s.heredocs[1:]
		}
		return
	}
	s.cont = false
	var pending []string
	last := ""   // last operator token outside quotes
	word := true // at the start of a word
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case s.single:
			if c == '\'' {
				s.single = false
			}
			continue
		case c == '\\':
			if i == len(line)-1 {
				s.cont = true
				return
			}
			i++
			word = false
			continue
		case s.double:
			switch {
			case c == '"':
				s.double = false
			case c == '$' && i+1 < len(line) && line[i+1] == '(':
				s.depth++
				i++
			case c == ')' && s.depth > 0:
				s.depth--
			}
			continue
		}
		switch c {
		case '\'':
			s.single, word, last = true, false, ""
		case '"':
			s.double, word, last = true, false, ""
		case '#':
			if word {
				i = len(line)
				continue
			}
		case '(':
			s.depth++
			word, last = true, ""
		case ')':
			s.depth--
			word, last = false, ""
		case '<':
			if m := docHeredoc.FindStringSubmatch(line[i:]); m != nil && !strings.HasPrefix(line[i:], "<<<") {
				pending = append(pending, m[1]+m[3])
				i += len(m[0]) - 1
				word, last = false, ""
				continue
			}
			word, last = true, ""
		case '|', '&':
			op := string(c)
			if i+1 < len(line) && line[i+1] == c {
				op += op
				i++
			}
			word, last = true, op
		case ';':
			word, last = true, ""
		case ' ', '\t':
			word = true
		default:
			word, last = false, ""
		}
	}
	if last == "|" || last == "||" || last == "&&" {
		s.cont = true
	}
	s.heredocs = append(s.heredocs, pending...)
}

// docPrograms returns the program each simple command of text starts
// with: the first word that is not an assignment, at the start, after
// | || & && ; ( and a newline, and inside $( ) and backquotes.
func docPrograms(text string) []string {
	// Heredoc bodies are data, and continuations join lines.
	var kept []string
	var sc docShellScanner
	for _, l := range strings.Split(text, "\n") {
		body := len(sc.heredocs) > 0
		sc.feed(l)
		if !body {
			kept = append(kept, l)
		}
	}
	var out []string
	docWalk(strings.ReplaceAll(strings.Join(kept, "\n"), "\\\n", " "), &out)
	return out
}

var (
	docAssignment = regexp.MustCompile(`^[A-Za-z_]\w*\+?=`)
	docPrefixes   = []string{"!", "time", "then", "do", "else", "if", "while", "until", "exec", "command", "env", "nohup"}
)

func docWalk(s string, out *[]string) {
	atCmd, redirect := true, false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '<' && docHeredoc.MatchString(s[i:]) && !strings.HasPrefix(s[i:], "<<<"):
			i += len(docHeredoc.FindString(s[i:]))
		case c == '<' || c == '>':
			for i < len(s) && strings.IndexByte("<>&", s[i]) >= 0 {
				i++
			}
			redirect = true
		case strings.IndexByte("|&;(){}\n", c) >= 0:
			i++
			atCmd = c != ')'
		default:
			w, subs, n := docWord(s[i:])
			i += n
			for _, sub := range subs {
				docWalk(sub, out)
			}
			switch {
			case redirect:
				redirect = false
			case !atCmd, docAssignment.MatchString(w), slices.Contains(docPrefixes, w):
			default:
				if _, err := strconv.Atoi(w); err == nil && i < len(s) && (s[i] == '>' || s[i] == '<') {
					continue // 2>file
				}
				*out = append(*out, w)
				atCmd = false
			}
		}
	}
}

// docWord reads one shell word at the start of s: its text without
// quotes, the contents of the command substitutions in it, and its length.
func docWord(s string) (string, []string, int) {
	var w strings.Builder
	var subs []string
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || strings.IndexByte("|&;<>()", c) >= 0:
			return w.String(), subs, i
		case c == '\\' && i+1 < len(s):
			w.WriteByte(s[i+1])
			i += 2
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 2
		case c == '"':
			i++
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' && i+1 < len(s) {
					w.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '$' && i+1 < len(s) && s[i+1] == '(' {
					sub, n := docSubst(s[i+2:])
					subs = append(subs, sub)
					w.WriteString("$(" + sub + ")")
					i += n + 2
					continue
				}
				w.WriteByte(s[i])
				i++
			}
			i++
		case strings.HasPrefix(s[i:], "$(("):
			_, n := docSubst(s[i+2:])
			w.WriteString(s[i : i+2+n])
			i += n + 2
		case c == '$' && i+1 < len(s) && s[i+1] == '(':
			sub, n := docSubst(s[i+2:])
			subs = append(subs, sub)
			w.WriteString("$(" + sub + ")")
			i += n + 2
		case c == '`':
			j := strings.IndexByte(s[i+1:], '`')
			if j < 0 {
				j = len(s) - i - 1
			}
			subs = append(subs, s[i+1:i+1+j])
			w.WriteString(s[i : i+2+j])
			i += j + 2
		default:
			w.WriteByte(c)
			i++
		}
	}
	if i > len(s) {
		i = len(s)
	}
	return w.String(), subs, i
}

// docSubst reads the inside of $( … ) after its "$(": the text and the
// length consumed, closing parenthesis included.
func docSubst(s string) (string, int) {
	depth := 1
	var single, double bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case single:
			single = c != '\''
		case c == '\\':
			i++
		case double:
			double = c != '"'
		case c == '\'':
			single = true
		case c == '"':
			double = true
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return s[:i], i + 1
			}
		}
	}
	return s, len(s)
}

// docFiles lists the documents whose examples are tested: every README.md
// and everything under docs/, from the repository root.
func docFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", "testdata", "vendor":
				return filepath.SkipDir
			}
			if strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() == "README.md" || strings.HasPrefix(rel, "docs"+string(filepath.Separator)) && strings.HasSuffix(rel, ".md") {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// docCurl is the curl the examples find first on PATH: it sends the
// documentation's hub addresses to the test hub, refuses any other URL,
// and appends the HTTP status of each answer to $DOCTEST_STATUS.
const docCurl = `#!/usr/bin/env bash
args=()
dump=yes
for a in "$@"; do
  case "$a" in -D|--dump-header|-D?*|--dump-header=*) dump=;; esac
  for alias in $DOCTEST_ALIASES; do
    a=${a//"$alias"/"$DOCTEST_HUB"}
  done
  case "$a" in
    http://*|https://*)
      case "$a" in "$DOCTEST_HUB"|"$DOCTEST_HUB"/*) ;;
        *) echo "doc-test: curl $a: only the hub ($DOCTEST_ALIASES) is reachable here; mark the block <!-- doc-test: skip (reason) -->" >&2; exit 97;;
      esac;;
  esac
  args+=("$a")
done
if [ -z "$dump" ]; then
  "$DOCTEST_CURL" "${args[@]}"; rc=$?
  echo "?" >>"$DOCTEST_STATUS"
  exit $rc
fi
hdr=$(mktemp)
"$DOCTEST_CURL" "${args[@]}" -D "$hdr"; rc=$?
code=$(grep -a '^HTTP/' "$hdr" | tail -n 1 | cut -d' ' -f2)
rm -f "$hdr"
echo "${code:-none}" >>"$DOCTEST_STATUS"
exit $rc
`

// docPrologue and docEpilogue surround each command: the variables and
// the directory of the previous commands come back, and this one's are
// kept for the next.
const docPrologue = `set -o pipefail
if [ -f "$DOCTEST_STATE" ]; then . "$DOCTEST_STATE"; fi
__doctest_save() {
  local __doctest_n
  {
    for __doctest_n in $(compgen -v); do
      case $__doctest_n in
        BASH*|FUNCNAME|PIPESTATUS|GROUPS|DIRSTACK|LINENO|RANDOM|SRANDOM|SECONDS|EPOCH*|_|HIST*|COMP*|OPT*|SHLVL|PWD|OLDPWD|SHELLOPTS|EUID|UID|PPID|IFS|PS?|DOCTEST_*|__doctest_*) ;;
        *) declare -p "$__doctest_n" 2>/dev/null ;;
      esac
    done
    printf 'cd -- %q\n' "$PWD"
  } >"$DOCTEST_STATE.new" && mv "$DOCTEST_STATE.new" "$DOCTEST_STATE"
}
trap '__doctest_rc=$?; __doctest_save; exit $__doctest_rc' EXIT
`

// docEnv is where a document's commands run.
type docEnv struct {
	work   string // working directory
	status string // curl's status file
	env    []string
}

// docResult is what a command did.
type docResult struct {
	code           int
	stdout, stderr string
	statuses       []string // HTTP statuses of its curls
	err            error    // it could not be run, or timed out
}

// run runs one command.
func (e *docEnv) run(c docCommand) docResult {
	os.Remove(e.status)
	ctx, cancel := context.WithTimeout(context.Background(), docCommandTimeout)
	defer cancel()
	script := c.run
	for _, kv := range c.block.env {
		script = "export " + kv + "\n" + script
	}
	script = strings.ReplaceAll(script, "/etc/timon/", filepath.Join(e.work, "etc", "timon")+"/")
	cmd := exec.CommandContext(ctx, "bash", "-c", docPrologue+script)
	cmd.Dir = e.work
	cmd.Env = e.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var o, er bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &er
	err := cmd.Run()
	r := docResult{stdout: o.String(), stderr: er.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.err = fmt.Errorf("still running after %s: killed", docCommandTimeout)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		r.err = err
	}
	if data, err := os.ReadFile(e.status); err == nil {
		r.statuses = strings.Fields(string(data))
	}
	return r
}

// checkDocResult says what is wrong with a command's result, nil if
// nothing.
func checkDocResult(c docCommand, r docResult) error {
	var problems []string
	if r.err != nil {
		problems = append(problems, r.err.Error())
	} else if r.code != c.block.exit {
		hint := ""
		if c.block.exit == 0 {
			hint = " (if the example means to fail, say so: <!-- doc-test: exit N --> before the block)"
		}
		problems = append(problems, fmt.Sprintf("exit status %d, want %d%s", r.code, c.block.exit, hint))
	}
	for _, s := range r.statuses {
		if s == "?" {
			continue
		}
		code, _ := strconv.Atoi(s)
		switch {
		case c.block.status != 0 && code != c.block.status:
			problems = append(problems, fmt.Sprintf("curl got HTTP %s, want %d", s, c.block.status))
		case c.block.status == 0 && (code < 200 || code > 299):
			problems = append(problems, fmt.Sprintf("curl got HTTP %s, want 2xx (if the example means it, say so: <!-- doc-test: status %s --> before the block)", s, s))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	ran := ""
	if c.run != c.text {
		ran = "\n  run as (doc-test: replace): " + strings.ReplaceAll(c.run, "\n", "\n    ")
	}
	return fmt.Errorf("%s: %s\n  $ %s%s\n  stdout (end):\n%s\n  stderr (end):\n%s", c.where(), strings.Join(problems, "; "),
		strings.ReplaceAll(c.text, "\n", "\n    "), ran, docTail(r.stdout), docTail(r.stderr))
}

// docTail returns the last lines of out, indented.
func docTail(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > 15 {
		lines = append([]string{"…"}, lines[len(lines)-15:]...)
	}
	for i, l := range lines {
		if len(l) > 300 {
			l = l[:300] + "…"
		}
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n")
}

// newDocEnv prepares a document's working directory and environment
// around a running hub.
func newDocEnv(t *testing.T, h *hub, hubURL, token string) *docEnv {
	t.Helper()
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	tools := filepath.Join(dir, "tools")
	home := filepath.Join(dir, "home")
	cfg, err := os.ReadFile(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(work, "bin"), filepath.Join(work, "etc", "timon"), tools, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"timon.yaml", "timon.example.yaml", "etc/timon/timon.yaml"} {
		if err := os.WriteFile(filepath.Join(work, p), cfg, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.CopyFS(filepath.Join(work, "deploy"), os.DirFS("../deploy")); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{{binary, filepath.Join(work, "bin", "timon")}, {binary, filepath.Join(tools, "timon")}} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(tools, "curl"), []byte(docCurl), 0o755); err != nil {
		t.Fatal(err)
	}
	realCurl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("the documentation examples need curl:", err)
	}
	e := &docEnv{work: work, status: filepath.Join(dir, "curl-status")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TIMON_") && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_") {
			e.env = append(e.env, kv)
		}
	}
	e.env = append(e.env,
		"PATH="+tools+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home,
		"TIMON_DATA_DIR="+h.data,
		"TIMON_TOKEN="+token,
		"TOKEN="+token,
		"TIMON_HUB="+hubURL,
		"DOCTEST_HUB="+hubURL,
		"DOCTEST_ALIASES="+strings.Join(docHubAliases, " "),
		"DOCTEST_CURL="+realCurl,
		"DOCTEST_STATUS="+e.status,
		"DOCTEST_STATE="+filepath.Join(dir, "shell-state"),
	)
	return e
}

func TestDocExamples(t *testing.T) {
	example, err := os.ReadFile("../timon.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const ollama, checkpoints = "http://127.0.0.1:11434/v1", "checkpoint_every: 1000"
	for _, s := range []string{ollama, checkpoints} {
		if !bytes.Contains(example, []byte(s)) {
			t.Fatalf("timon.example.yaml no longer has %q, which the test replaces", s)
		}
	}
	example = bytes.ReplaceAll(example, []byte(checkpoints), []byte("checkpoint_every: 1"))
	for _, file := range docFiles(t, "..") {
		t.Run(file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("..", file))
			if err != nil {
				t.Fatal(err)
			}
			blocks, err := parseDocBlocks(file, string(src))
			if err != nil {
				t.Error(err)
			}
			var cmds []docCommand
			for _, b := range blocks {
				c, err := splitDocCommands(b)
				if err != nil {
					t.Error(err)
				}
				cmds = append(cmds, c...)
			}
			if t.Failed() {
				return
			}
			toRun := 0
			for _, c := range cmds {
				if c.block.skip == "" && c.notRun == "" {
					toRun++
				}
			}
			var e *docEnv
			if toRun > 0 {
				fake := fakellm.New()
				t.Cleanup(fake.Close)
				fake.SetModels("mistral-small", "codestral")
				fake.Handle(docModel)
				dir := t.TempDir()
				cfg := filepath.Join(dir, "timon.yaml")
				if err := os.WriteFile(cfg, bytes.ReplaceAll(example, []byte(ollama), []byte(fake.URL())), 0o600); err != nil {
					t.Fatal(err)
				}
				h := launchHub(t, fake, cfg, filepath.Join(dir, "data"))
				e = newDocEnv(t, h, h.url, h.token("doc-admin", "admin"))
			}
			ran, notRun, skipped := 0, 0, 0
			written := map[*docBlock]bool{}
			for _, c := range cmds {
				switch {
				case c.block.skip != "":
					skipped++
					t.Logf("%s: skipped (%s): %s", c.where(), c.block.skip, firstLine(c.text))
					continue
				case c.notRun != "":
					notRun++
					t.Logf("%s: not run (%s): %s", c.where(), c.notRun, firstLine(c.text))
					continue
				}
				if !written[c.block] {
					written[c.block] = true
					for _, f := range c.block.files {
						p := filepath.Join(e.work, f.name)
						if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(p, []byte(f.content), 0o644); err != nil {
							t.Fatal(err)
						}
					}
				}
				ran++
				if err := checkDocResult(c, e.run(c)); err != nil {
					t.Error(err)
				}
			}
			t.Logf("%s: %d commands run, %d not run, %d skipped", file, ran, notRun, skipped)
		})
	}
}

func firstLine(s string) string {
	l, rest, _ := strings.Cut(s, "\n")
	if rest != "" {
		l += " …"
	}
	return l
}

// TestDocExamplesExtractor checks the extractor and the checks on
// Markdown written for it, so that a broken harness cannot pass quietly.
func TestDocExamplesExtractor(t *testing.T) {
	type want struct {
		line   int
		text   string
		notRun string // substring, "" when it runs
	}
	cases := []struct {
		name string
		md   string
		want []want
		err  string // substring of the extraction error
		skip string
		exit int
	}{{
		name: "continuations and comments",
		md:   "# T\n\n```sh\n# a comment\ntimon token create --user a \\\n  --groups b   # trailing\n\ncurl -s http://127.0.0.1:8080/healthz\n```\n",
		want: []want{
			{5, "timon token create --user a \\\n  --groups b   # trailing", ""},
			{8, "curl -s http://127.0.0.1:8080/healthz", ""},
		},
	}, {
		name: "console prompts and output",
		md:   "```console\n$ timon version\ntimon 1.0.0\n$ curl -s \\\n> http://localhost:8080/readyz\n{\"ok\":true}\n```\n",
		want: []want{
			{2, "timon version", ""},
			{4, "curl -s \\\nhttp://localhost:8080/readyz", ""},
		},
	}, {
		name: "heredoc and quotes across lines",
		md:   "```bash\ncat > notes.txt <<'EOF'\n# not a comment\nalice@example.org\nEOF\ncurl -d '{\n  \"task\": \"chat\"\n}' http://127.0.0.1:8080/v1/assist\n```\n",
		want: []want{
			{2, "cat > notes.txt <<'EOF'\n# not a comment\nalice@example.org\nEOF", ""},
			{6, "curl -d '{\n  \"task\": \"chat\"\n}' http://127.0.0.1:8080/v1/assist", ""},
		},
	}, {
		name: "programs not run, and substitutions",
		md:   "```sh\nmake run    # it's the hub\nTOKEN=$(timon token create --user a) \\\n  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8080/v1/models | jq .\njournalctl -u timon -o cat | jq -c .\nK=$(docker ps -q)\ntimon serve --config timon.yaml\n./bin/timon audit tail -f\n```\n",
		want: []want{
			{2, "make run    # it's the hub", "make:"},
			{3, "TOKEN=$(timon token create --user a) \\\n  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8080/v1/models | jq .", ""},
			{5, "journalctl -u timon -o cat | jq -c .", "journalctl:"},
			{6, "K=$(docker ps -q)", "docker:"},
			{7, "timon serve --config timon.yaml", "starts a hub"},
			{8, "./bin/timon audit tail -f", "follows"},
		},
	}, {
		name: "skip marker",
		md:   "<!-- doc-test: skip (needs Slack) -->\n\n```sh\ncurl https://slack.com/api/auth.test\n```\n",
		want: []want{{4, "curl https://slack.com/api/auth.test", ""}},
		skip: "needs Slack",
	}, {
		name: "exit marker, fixture and replacement",
		md:   "<!-- doc-test: exit 1 -->\n<!-- doc-test: file notes.txt\nhello\n-->\n<!-- doc-test: replace tok_1 \"$ID\" -->\n<!-- doc-test: env ID=tok_2 -->\n```sh\ntimon token revoke tok_1\n```\n",
		want: []want{{8, "timon token revoke tok_1", ""}},
		exit: 1,
	}, {
		name: "skip without a reason",
		md:   "<!-- doc-test: skip -->\n```sh\ntimon version\n```\n",
		err:  "needs its reason",
	}, {
		name: "unknown directive",
		md:   "<!-- doc-test: sometimes -->\n```sh\ntimon version\n```\n",
		err:  "unknown doc-test directive",
	}, {
		name: "marker away from a block",
		md:   "<!-- doc-test: exit 2 -->\nSome prose.\n```sh\ntimon version\n```\n",
		err:  "just before",
	}, {
		name: "unknown program",
		md:   "```sh\nfrobnicate --all\n```\n",
		err:  "unknown program frobnicate",
	}, {
		name: "untagged commands",
		md:   "```\n$ timon version\n```\n",
		err:  "must be tagged sh",
	}, {
		name: "open quote",
		md:   "```sh\ncurl -d '{\n```\n",
		err:  "does not end",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			blocks, err := parseDocBlocks("doc.md", tc.md)
			var cmds []docCommand
			for _, b := range blocks {
				c, e := splitDocCommands(b)
				err = errors.Join(err, e)
				cmds = append(cmds, c...)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cmds) != len(tc.want) {
				t.Fatalf("%d commands, want %d: %+v", len(cmds), len(tc.want), cmds)
			}
			for i, w := range tc.want {
				c := cmds[i]
				if c.line != w.line || c.text != w.text {
					t.Errorf("command %d: line %d %q, want line %d %q", i, c.line, c.text, w.line, w.text)
				}
				if w.notRun == "" && c.notRun != "" || w.notRun != "" && !strings.Contains(c.notRun, w.notRun) {
					t.Errorf("command %d (%q): not run %q, want %q", i, c.text, c.notRun, w.notRun)
				}
				if c.block.skip != tc.skip || c.block.exit != tc.exit {
					t.Errorf("command %d: skip %q exit %d, want %q %d", i, c.block.skip, c.block.exit, tc.skip, tc.exit)
				}
			}
			if tc.name == "exit marker, fixture and replacement" {
				b := cmds[0].block
				if len(b.files) != 1 || b.files[0] != (docFixture{"notes.txt", "hello\n"}) {
					t.Errorf("fixtures %q", b.files)
				}
				if cmds[0].run != `timon token revoke "$ID"` || !slices.Equal(b.env, []string{"ID=tok_2"}) {
					t.Errorf("run %q, env %q", cmds[0].run, b.env)
				}
			}
		})
	}
}

// TestDocExamplesChecks runs commands through the harness's own shell,
// curl and checks, against a server answering 404: a failing command, a
// curl answered with an error and a wrong exit marker are all reported.
func TestDocExamplesChecks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			w.Write([]byte("fine\n"))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	h := &hub{t: t, cfg: filepath.Join(t.TempDir(), "timon.yaml"), data: t.TempDir()}
	if err := os.WriteFile(h.cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e := newDocEnv(t, h, srv.URL, "timon_test")
	md := "```sh\n" +
		"curl -sS http://127.0.0.1:8080/ok\n" +
		"curl -sS https://timon.example.org/missing\n" +
		"curl -sS https://example.com/\n" +
		"X=41; export Y=$((X+1))\n" +
		"test \"$Y\" = 42 && echo \"$TIMON_TOKEN\"\n" +
		"grep -q nothing notes.txt\n" +
		"timon version\n" +
		"```\n"
	blocks, err := parseDocBlocks("doc.md", md)
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := splitDocCommands(blocks[0])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", "curl got HTTP 404", "exit status 97", "", "", "exit status 2", ""}
	if len(cmds) != len(want) {
		t.Fatalf("%d commands, want %d", len(cmds), len(want))
	}
	for i, c := range cmds {
		r := e.run(c)
		err := checkDocResult(c, r)
		switch {
		case want[i] == "" && err != nil:
			t.Errorf("command %d: %v", i, err)
		case want[i] != "" && (err == nil || !strings.Contains(err.Error(), want[i]) || !strings.Contains(err.Error(), c.where())):
			t.Errorf("command %d (%s): error %v, want one at %s containing %q", i, c.text, err, c.where(), want[i])
		}
		if i == 4 && strings.TrimSpace(r.stdout) != "timon_test" {
			t.Errorf("variables did not carry over, or TIMON_TOKEN is missing: stdout %q", r.stdout)
		}
	}
	// A block declared to exit 1 fails when its command succeeds.
	blocks[0].exit = 1
	if err := checkDocResult(cmds[0], e.run(cmds[0])); err == nil || !strings.Contains(err.Error(), "exit status 0, want 1") {
		t.Errorf("a command succeeding against exit 1: %v", err)
	}
}

// docModel is the model of the documented examples: a rewrite gets its
// text back unchanged (so LaTeX keeps its protected parts), anything else
// fakellm's default answer.
func docModel(r fakellm.Request) fakellm.Reply {
	user := r.LastUser()
	i, j := strings.Index(user, "<data>\n"), strings.LastIndex(user, "\n</data>")
	if !strings.HasSuffix(r.Path, "/chat/completions") || i < 0 || j < i {
		return fakellm.Reply{}
	}
	return fakellm.Reply{Text: user[i+len("<data>\n") : j]}
}

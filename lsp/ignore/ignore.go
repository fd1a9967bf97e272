// Package ignore decides which files timon lsp never sends to a model:
// those matching a .timonignore file (gitignore syntax, in the workspace
// root or any directory below it down to the file), the patterns of the
// configuration, and secret files by default (.env, *.pem, *.key, SSH keys,
// credential stores…).
//
// The defaults match whatever the case (.ENV, server.PEM); the other
// patterns do too where file systems ignore case (macOS, Windows). A
// document with no place in a workspace (an untitled buffer, a remote or
// virtual file) is judged by IgnoredName: the most restrictive reading.
package ignore

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"
)

// FileName is the name of the ignore files read in the workspace.
const FileName = ".timonignore"

// Defaults are ignored everywhere, whatever the ignore files say.
var Defaults = []string{
	".env", ".env.*", ".envrc",
	"*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.kdbx", "*.gpg", "*.tfvars",
	"id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
	".netrc", ".pgpass", ".git-credentials", ".npmrc", ".pypirc", ".htpasswd", "credentials",
	".ssh/", ".gnupg/", ".aws/", "**/.docker/config.json", "**/.kube/config",
}

// foldCase is whether file names differ only by case here: patterns then
// match whatever the case.
var foldCase = runtime.GOOS == "darwin" || runtime.GOOS == "windows"

// rule is one pattern line.
type rule struct {
	re      *regexp.Regexp // as written (case-insensitive when folding)
	fold    *regexp.Regexp // whatever the case
	negate  bool
	dirOnly bool
	source  string // "file:line: pattern" or "default: pattern", for messages
}

// Compile parses gitignore-style lines; source names where they come from
// in the rules' descriptions. Blank lines and comments are skipped.
func compile(lines []string, source string, fold bool) ([]rule, error) {
	var out []rule
	for i, raw := range lines {
		r, ok, err := parseLine(raw, fold)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", source, i+1, err)
		}
		if ok {
			r.source = fmt.Sprintf("%s:%d: %s", source, i+1, strings.TrimSpace(raw))
			out = append(out, r)
		}
	}
	return out, nil
}

func parseLine(line string, fold bool) (rule, bool, error) {
	line = strings.TrimRight(line, "\r")
	// Trailing spaces are ignored unless escaped.
	for strings.HasSuffix(line, " ") && !strings.HasSuffix(line, `\ `) {
		line = line[:len(line)-1]
	}
	if line == "" || strings.HasPrefix(line, "#") {
		return rule{}, false, nil
	}
	var r rule
	if strings.HasPrefix(line, "!") {
		r.negate = true
		line = line[1:]
	} else if strings.HasPrefix(line, `\!`) || strings.HasPrefix(line, `\#`) {
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") {
		r.dirOnly = true
		line = strings.TrimRight(line, "/")
	}
	if line == "" {
		return rule{}, false, nil
	}
	anchored := strings.Contains(line, "/")
	line = strings.TrimPrefix(line, "/")
	var b strings.Builder
	b.WriteString("^")
	if !anchored {
		b.WriteString("(?:.*/)?")
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case strings.HasPrefix(line[i:], "**/"):
			b.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(line[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '\\' && i+1 < len(line):
			i++
			b.WriteString(regexp.QuoteMeta(line[i : i+1]))
		case c == '[':
			j := strings.IndexByte(line[i+1:], ']')
			if j < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := line[i+1 : i+1+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += j + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	var err error
	if r.fold, err = regexp.Compile("(?i)" + b.String()); err != nil {
		return rule{}, false, fmt.Errorf("pattern %q: %v", line, err)
	}
	r.re = r.fold
	if !fold {
		r.re = regexp.MustCompile(b.String())
	}
	return r, true, nil
}

// layer is the rules of one directory (paths matched relative to base).
type layer struct {
	base  string // slash path relative to the matcher's root, "" for the root
	rules []rule
}

// verdict applies the rules of layers in order to rel (slash path
// relative to the root); the last matching rule decides.
func verdict(layers []layer, rel string, isDir bool) (ignored bool, why string, matched bool) {
	for _, l := range layers {
		p := rel
		if l.base != "" {
			if !strings.HasPrefix(rel, l.base+"/") {
				continue
			}
			p = rel[len(l.base)+1:]
		}
		for _, r := range l.rules {
			if r.dirOnly && !isDir {
				continue
			}
			if r.re.MatchString(p) {
				ignored, why, matched = !r.negate, r.source, true
			}
		}
	}
	return ignored, why, matched
}

// Matcher answers whether a file may be sent. It is safe for concurrent
// use; ignore files are re-read when they change.
type Matcher struct {
	roots    []string // absolute, cleaned workspace roots
	defaults []rule
	extra    []rule

	mu    sync.Mutex
	files map[string]*cached // ignore file path → its rules
}

type cached struct {
	mod   time.Time
	size  int64
	rules []rule
	err   error
}

// New returns a matcher for the workspace roots (absolute directories;
// none is allowed) with extra gitignore-style patterns relative to each
// root, on top of the defaults.
func New(roots []string, extra []string) (*Matcher, error) {
	m := &Matcher{files: map[string]*cached{}}
	for _, r := range roots {
		if r != "" {
			m.roots = append(m.roots, filepath.Clean(r))
		}
	}
	var err error
	// The defaults name secrets whatever the case: .ENV, server.PEM.
	if m.defaults, err = compile(Defaults, "default", true); err != nil {
		return nil, err
	}
	if m.extra, err = compile(extra, "lsp.ignore", foldCase); err != nil {
		return nil, err
	}
	return m, nil
}

// Ignored reports whether the file at path (absolute) must never be sent,
// and which pattern says so.
func (m *Matcher) Ignored(path string) (bool, string) {
	path = filepath.Clean(path)
	root := m.rootOf(path)
	if root == "" {
		root = filepath.Dir(path)
	}
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return true, "the file's path cannot be resolved"
	}
	rel = filepath.ToSlash(rel)
	dirs := strings.Split(rel, "/")
	// The defaults hold whatever the ignore files say: no "!" re-includes
	// a key file.
	defaults := []layer{{rules: m.defaults}}
	for i := 1; i <= len(dirs); i++ {
		if ign, why, _ := verdict(defaults, strings.Join(dirs[:i], "/"), i < len(dirs)); ign {
			return true, why
		}
	}
	layers := []layer{{rules: m.extra}}
	// Ignore files from the root down to the file's directory.
	for i := 0; i < len(dirs); i++ {
		base := strings.Join(dirs[:i], "/")
		rules := m.load(filepath.Join(root, filepath.FromSlash(base), FileName))
		if len(rules) > 0 {
			layers = append(layers, layer{base: base, rules: rules})
		}
	}
	// A file under an ignored directory is ignored (as in git, it cannot be
	// re-included).
	for i := 1; i < len(dirs); i++ {
		if ign, why, _ := verdict(layers, strings.Join(dirs[:i], "/"), true); ign {
			return true, why
		}
	}
	ign, why, _ := verdict(layers, rel, false)
	return ign, why
}

// InRoot reports whether path (absolute) lies in a workspace root.
func (m *Matcher) InRoot(path string) bool { return m.rootOf(filepath.Clean(path)) != "" }

// maxNameParts bounds the components IgnoredName looks at (the last ones).
const maxNameParts = 32

// IgnoredName judges a document that has no place in a workspace (an
// untitled buffer's name, the path of a remote or virtual file) by the
// most restrictive reading: every pattern — the defaults, the
// configuration's, and the .timonignore at each workspace root — is tried
// against every trailing part of name (a slash path), whatever the case,
// and no "!" pattern re-includes anything.
func (m *Matcher) IgnoredName(name string) (bool, string) {
	parts := strings.FieldsFunc(filepath.ToSlash(name), func(r rune) bool { return r == '/' })
	if len(parts) > maxNameParts {
		parts = parts[len(parts)-maxNameParts:]
	}
	rules := append(append([]rule(nil), m.defaults...), m.extra...)
	for _, root := range m.roots {
		rules = append(rules, m.load(filepath.Join(root, FileName))...)
	}
	for i := range parts {
		for j := i + 1; j <= len(parts); j++ {
			p, isDir := strings.Join(parts[i:j], "/"), j < len(parts)
			for _, r := range rules {
				if r.negate || (r.dirOnly && !isDir) {
					continue
				}
				if r.fold.MatchString(p) {
					return true, r.source
				}
			}
		}
	}
	return false, ""
}

// rootOf returns the deepest workspace root holding path, "" if none.
func (m *Matcher) rootOf(path string) string {
	best := ""
	for _, r := range m.roots {
		if (path == r || strings.HasPrefix(path, r+string(filepath.Separator)) || r == string(filepath.Separator)) && len(r) > len(best) {
			best = r
		}
	}
	return best
}

// load returns the rules of the ignore file at path (none if absent). A
// file that cannot be read or parsed ignores everything below it: fail
// closed.
func (m *Matcher) load(path string) []rule {
	st, err := os.Stat(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return failClosed(path, err)
	}
	m.mu.Lock()
	c := m.files[path]
	m.mu.Unlock()
	if c != nil && c.mod.Equal(st.ModTime()) && c.size == st.Size() {
		if c.err != nil {
			return failClosed(path, c.err)
		}
		return c.rules
	}
	c = &cached{mod: st.ModTime(), size: st.Size()}
	c.rules, c.err = readFile(path)
	m.mu.Lock()
	m.files[path] = c
	m.mu.Unlock()
	if c.err != nil {
		return failClosed(path, c.err)
	}
	return c.rules
}

func failClosed(path string, err error) []rule {
	all := regexp.MustCompile(".*")
	return []rule{{re: all, fold: all, source: fmt.Sprintf("%s could not be used (%v): everything below it is ignored", path, err)}}
}

func readFile(path string) ([]rule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return compile(lines, path, foldCase)
}

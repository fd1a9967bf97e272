package actions

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/latex"
)

// Bounds of what a Project reads from the workspace for one rewrite.
const (
	maxIncludeDepth = 4       // \input inside \input…
	maxProjectFiles = 64      // files read for one document
	maxFileBytes    = 1 << 20 // larger files are skipped
	maxMainFiles    = 16      // root-level .tex files looked at for a preamble
)

// GlossaryFile is the project glossary, relative to a workspace root:
// tab-separated lines "source<TAB>target" or "source<TAB>keep", # comments.
// The source is the French term and the target the English one; a
// translation into French uses them the other way round.
const GlossaryFile = ".timon/glossary.tsv"

// Project gathers what a LaTeX rewrite needs from the writer's workspace:
// the definitions of the document, of the files it pulls in with \input
// and \include, of its local .sty packages and of the project's main file;
// and the glossary of a translation (the institution's, then the
// project's .timon/glossary.tsv). Files are read again only when their
// modification time or size changes. Nothing outside the workspace roots
// is read. Safe for concurrent use.
type Project struct {
	institution []core.GlossaryTerm

	mu    sync.Mutex
	files map[string]*projectFile
	gloss map[string]*glossaryFile
}

type projectFile struct {
	mod  time.Time
	size int64
	defs latex.Definitions
	refs []fileRef
	main bool // has \documentclass
}

type glossaryFile struct {
	mod      time.Time
	size     int64
	terms    []core.GlossaryTerm
	warnings []string
}

// fileRef is a file a LaTeX text pulls in.
type fileRef struct {
	name string
	sty  bool // \usepackage: name.sty
}

// NewProject returns a Project whose translations also follow the
// institution's glossary (from the configuration; source French, target
// English).
func NewProject(institution []core.GlossaryTerm) *Project {
	return &Project{institution: institution, files: map[string]*projectFile{}, gloss: map[string]*glossaryFile{}}
}

// Context is what a rewrite by action s of the document text (at docPath,
// "" when it is not a file) needs beside the text: the definitions, and a
// translation's glossary oriented for its direction. roots are the
// workspace roots; skip reports files never to be read (.timonignore).
// Warnings are bad lines of a glossary file, to show the user.
func (p *Project) Context(s Spec, text, docPath string, roots []string, skip func(string) bool) (*core.LaTeXContext, []string) {
	if !s.LaTeX {
		return nil, nil
	}
	if skip == nil {
		skip = func(string) bool { return false }
	}
	c := &core.LaTeXContext{}
	defs := p.definitions(text, docPath, roots, skip)
	c.Definitions = wireDefinitions(defs)
	var warnings []string
	if s.ID == TranslateEN || s.ID == TranslateFR {
		terms := append([]core.GlossaryTerm{}, p.institution...)
		for _, r := range roots {
			g := p.glossaryOf(filepath.Join(r, GlossaryFile))
			if g == nil {
				continue
			}
			terms = append(terms, g.terms...)
			warnings = append(warnings, g.warnings...)
		}
		c.Glossary = orient(terms, s.ID == TranslateFR)
	}
	if len(c.Definitions) == 0 && len(c.Glossary) == 0 {
		return nil, warnings
	}
	return c, warnings
}

// orient turns French→English terms into those of the translation asked.
func orient(terms []core.GlossaryTerm, intoFrench bool) []core.GlossaryTerm {
	if len(terms) > core.MaxGlossaryTerms {
		terms = terms[len(terms)-core.MaxGlossaryTerms:] // the project's, last, win
	}
	out := make([]core.GlossaryTerm, 0, len(terms))
	for _, t := range terms {
		if intoFrench && !t.Keep {
			t.Source, t.Target = t.Target, t.Source
		}
		if t.Source != "" {
			out = append(out, t)
		}
	}
	return out
}

// wireDefinitions is the request form of d, sorted for stable requests.
func wireDefinitions(d latex.Definitions) []core.LaTeXDefinition {
	out := make([]core.LaTeXDefinition, 0, d.Len())
	for name, def := range d.Macros {
		out = append(out, core.LaTeXDefinition{Name: name, Role: def.Role.String(), Args: def.Args, Optional: def.Optional})
	}
	for name, def := range d.Envs {
		out = append(out, core.LaTeXDefinition{Name: name, Environment: true, Role: def.Role.String(), Args: def.Args, Optional: def.Optional})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Environment != out[j].Environment {
			return !out[i].Environment
		}
		return out[i].Name < out[j].Name
	})
	if len(out) > core.MaxLaTeXDefinitions {
		out = out[:core.MaxLaTeXDefinitions]
	}
	for i := range out {
		if len(out[i].Name) > 128 || out[i].Args > 9 {
			out[i].Name = ""
		}
	}
	return slicesDeleteEmpty(out)
}

func slicesDeleteEmpty(ds []core.LaTeXDefinition) []core.LaTeXDefinition {
	out := ds[:0]
	for _, d := range ds {
		if d.Name != "" {
			out = append(out, d)
		}
	}
	return out
}

// definitions gathers the definitions for a document: the project's main
// files (root-level .tex files with \documentclass, when the document has
// none: a chapter), the files pulled in, then the document's own.
func (p *Project) definitions(text, docPath string, roots []string, skip func(string) bool) latex.Definitions {
	var d latex.Definitions
	seen := map[string]bool{}
	budget := maxProjectFiles
	dir := ""
	if docPath != "" {
		dir = filepath.Dir(docPath)
		seen[filepath.Clean(docPath)] = true
	}
	if !strings.Contains(text, `\documentclass`) {
		for _, main := range p.mainFiles(roots, skip) {
			if !seen[main] {
				p.walk(&d, main, filepath.Dir(main), roots, skip, seen, &budget, 0)
			}
		}
	}
	for _, ref := range refsOf(text) {
		if path, ok := resolve(ref, dir, roots); ok {
			p.walk(&d, path, filepath.Dir(path), roots, skip, seen, &budget, 1)
		}
	}
	d.Merge(latex.ParseDefinitions(text, d))
	return d
}

// walk reads path's definitions and those of the files it pulls in.
func (p *Project) walk(d *latex.Definitions, path, dir string, roots []string, skip func(string) bool, seen map[string]bool, budget *int, depth int) {
	if seen[path] || *budget <= 0 || depth > maxIncludeDepth || skip(path) {
		return
	}
	seen[path] = true
	*budget--
	f := p.file(path, *d)
	if f == nil {
		return
	}
	for _, ref := range f.refs {
		if sub, ok := resolve(ref, dir, roots); ok {
			p.walk(d, sub, dir, roots, skip, seen, budget, depth+1)
		}
	}
	d.Merge(f.defs)
}

// mainFiles are the root-level .tex files of the roots that hold
// \documentclass.
func (p *Project) mainFiles(roots []string, skip func(string) bool) []string {
	var out []string
	for _, r := range roots {
		names, err := filepath.Glob(filepath.Join(r, "*.tex"))
		if err != nil {
			continue
		}
		sort.Strings(names)
		for _, n := range names {
			if len(out) == maxMainFiles {
				return out
			}
			if skip(n) {
				continue
			}
			if f := p.file(n, latex.Definitions{}); f != nil && f.main {
				out = append(out, n)
			}
		}
	}
	return out
}

// file reads and parses path, from the cache when unchanged; nil when it
// cannot be read or is too large.
func (p *Project) file(path string, known latex.Definitions) *projectFile {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || st.Size() > maxFileBytes {
		return nil
	}
	p.mu.Lock()
	f := p.files[path]
	p.mu.Unlock()
	if f != nil && f.mod.Equal(st.ModTime()) && f.size == st.Size() {
		return f
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) > maxFileBytes {
		return nil
	}
	text := string(b)
	f = &projectFile{mod: st.ModTime(), size: st.Size(), defs: latex.ParseDefinitions(text, known),
		refs: refsOf(text), main: strings.Contains(text, `\documentclass`)}
	p.mu.Lock()
	p.files[path] = f
	p.mu.Unlock()
	return f
}

var (
	inputRe   = regexp.MustCompile(`\\(?:input|include|subfile)\s*\{([^{}%\n]+)\}`)
	packageRe = regexp.MustCompile(`\\(?:usepackage|RequirePackage)\s*(?:\[[^\]]*\])?\s*\{([^{}%]+)\}`)
)

// refsOf lists the files a text pulls in (comments ignored).
func refsOf(text string) []fileRef {
	var b strings.Builder
	for line := range strings.SplitSeq(text, "\n") {
		if k := commentStart(line); k >= 0 {
			line = line[:k]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	clean := b.String()
	var out []fileRef
	for _, m := range inputRe.FindAllStringSubmatch(clean, -1) {
		out = append(out, fileRef{name: strings.TrimSpace(m[1])})
	}
	for _, m := range packageRe.FindAllStringSubmatch(clean, -1) {
		for name := range strings.SplitSeq(m[1], ",") {
			if name = strings.TrimSpace(name); name != "" {
				out = append(out, fileRef{name: name, sty: true})
			}
		}
	}
	return out
}

// commentStart is the index of the unescaped % of line, or -1.
func commentStart(line string) int {
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case '%':
			return i
		}
	}
	return -1
}

// resolve finds a pulled-in file relative to the document's directory,
// then to each root, with .tex (or .sty) added when it has no extension.
// The file must be inside a root, symbolic links followed.
func resolve(ref fileRef, dir string, roots []string) (string, bool) {
	name := ref.name
	if ref.sty {
		name += ".sty"
	} else if filepath.Ext(name) == "" {
		name += ".tex"
	}
	if filepath.IsAbs(name) {
		return "", false
	}
	var bases []string
	if dir != "" {
		bases = append(bases, dir)
	}
	bases = append(bases, roots...)
	for _, b := range bases {
		path := filepath.Join(b, filepath.FromSlash(name))
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			continue
		}
		if inRoots(real, roots) {
			return filepath.Clean(path), true
		}
	}
	return "", false
}

// inRoots reports whether path (symbolic links resolved) is inside one of
// the roots.
func inRoots(path string, roots []string) bool {
	for _, r := range roots {
		rr, err := filepath.EvalSymlinks(r)
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(rr, path)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel) {
			return true
		}
	}
	return false
}

// glossaryOf reads a glossary file, from the cache when unchanged; nil
// when there is none.
func (p *Project) glossaryOf(path string) *glossaryFile {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || st.Size() > maxFileBytes {
		return nil
	}
	p.mu.Lock()
	g := p.gloss[path]
	p.mu.Unlock()
	if g != nil && g.mod.Equal(st.ModTime()) && g.size == st.Size() {
		return g
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	terms, warnings := ParseGlossary(f, GlossaryFile)
	g = &glossaryFile{mod: st.ModTime(), size: st.Size(), terms: terms, warnings: warnings}
	p.mu.Lock()
	p.gloss[path] = g
	p.mu.Unlock()
	return g
}

// ParseGlossary reads a tab-separated glossary: "source<TAB>target" or
// "source<TAB>keep" a line, # comments and blank lines skipped. A bad line
// is skipped and reported with its number (name says which file), never
// fatal.
func ParseGlossary(r io.Reader, name string) ([]core.GlossaryTerm, []string) {
	var terms []core.GlossaryTerm
	var warnings []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, maxFileBytes)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		switch {
		case len(fields) != 2:
			warnings = append(warnings, fmt.Sprintf("%s line %d: expected a source term, a tab, and a target term or \"keep\" (found %d fields)", name, n, len(fields)))
		case fields[0] == "" || fields[1] == "":
			warnings = append(warnings, fmt.Sprintf("%s line %d: the source or the target term is empty", name, n))
		case len(fields[0]) > 256 || len(fields[1]) > 256:
			warnings = append(warnings, fmt.Sprintf("%s line %d: a term is longer than 256 bytes", name, n))
		case strings.EqualFold(fields[1], "keep"):
			terms = append(terms, core.GlossaryTerm{Source: fields[0], Keep: true})
		default:
			terms = append(terms, core.GlossaryTerm{Source: fields[0], Target: fields[1]})
		}
	}
	if err := sc.Err(); err != nil {
		warnings = append(warnings, fmt.Sprintf("%s: %v", name, err))
	}
	return terms, warnings
}

package gitleaks

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp/syntax"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/report"

	"timon.dev/timon/core/redact"
	"timon.dev/timon/core/redact/redacttest"
)

// The superset test: on a corpus of realistic fake secrets for most of
// gitleaks' rules, every secret gitleaks' own detector finds must be
// covered by a redact Scan finding.
//
// core/redact/testdata/gitleaks_corpus.txt is generated (go test -run
// TestGitleaksSuperset -update): for every rule, strings are generated from
// the rule's own expression and kept when gitleaks' detector reports that
// rule on them. Samples are separated by lines holding "###".

var update = flag.Bool("update", false, "rewrite the gitleaks corpus")

var (
	glOnce     sync.Once
	glDetector *detect.Detector
	glErr      error
)

func gitleaksDetector(tb testing.TB) *detect.Detector {
	tb.Helper()
	glOnce.Do(func() { glDetector, glErr = detect.NewDetectorDefaultConfig() })
	if glErr != nil {
		tb.Fatal(glErr)
	}
	return glDetector
}

// TestGeneratedRules: core/redact/gitleaks_rules.go is what the generator
// gives for the gitleaks version of go.mod (else: go generate ./core/redact).
func TestGeneratedRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/zricethezav/gitleaks/v8").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	want, err := Generate(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	const file = "../../core/redact/gitleaks_rules.go"
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not what the generator gives: run go generate ./core/redact", file)
	}
}

// templateHead is how gitleaks' standard semi-generic rules begin; the
// group after it is the rule's keywords.
const templateHead = `(?i)[\w.-]{0,50}?(?:`

// firstCapture returns the first capture group of re, if any.
func firstCapture(re *syntax.Regexp) *syntax.Regexp {
	if re.Op == syntax.OpCapture {
		return re
	}
	for _, sub := range re.Sub {
		if c := firstCapture(sub); c != nil {
			return c
		}
	}
	return nil
}

// genString writes a random string matching re (assertions ignored;
// gitleaks' detector validates the result).
func genString(re *syntax.Regexp, rng *rand.Rand, b *strings.Builder) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 && r < 128 && rng.IntN(4) == 0 {
				r = unicode.SimpleFold(r)
				if r >= 128 {
					r = re.Rune[0]
				}
			}
			b.WriteRune(r)
		}
	case syntax.OpCharClass:
		b.WriteRune(pickRune(re.Rune, rng))
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteByte(redacttest.B64Chars[rng.IntN(62)])
	case syntax.OpCapture:
		genString(re.Sub[0], rng, b)
	case syntax.OpConcat:
		for _, s := range re.Sub {
			genString(s, rng, b)
		}
	case syntax.OpAlternate:
		genString(re.Sub[rng.IntN(len(re.Sub))], rng, b)
	case syntax.OpQuest:
		if rng.IntN(2) == 0 {
			genString(re.Sub[0], rng, b)
		}
	case syntax.OpStar, syntax.OpPlus, syntax.OpRepeat:
		lo, hi := 0, 3
		switch re.Op {
		case syntax.OpPlus:
			lo, hi = 1, 4
		case syntax.OpRepeat:
			lo = re.Min
			hi = re.Max
			if hi < 0 || hi > lo+3 {
				hi = lo + 3
			}
			// identifier prefixes and separators: keep them short
			if re.Min == 0 {
				hi = min(hi, 2)
			}
		}
		n := lo + rng.IntN(hi-lo+1)
		for i := 0; i < n; i++ {
			genString(re.Sub[0], rng, b)
		}
	}
}

// pickRune picks a printable ASCII rune of a class, preferring letters and
// digits, then a space, then anything.
func pickRune(ranges []rune, rng *rand.Rand) rune {
	var alnum, space, other []rune
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := ranges[i]; r <= ranges[i+1] && r < 127; r++ {
			switch {
			case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
				alnum = append(alnum, r)
			case r == ' ':
				space = append(space, r)
			case r > ' ':
				other = append(other, r)
			}
		}
	}
	switch {
	case len(alnum) > 0 && (len(other) == 0 || rng.IntN(10) > 0):
		return alnum[rng.IntN(len(alnum))]
	case len(space) > 0:
		return ' '
	case len(other) > 0:
		return other[rng.IntN(len(other))]
	case len(ranges) > 0:
		return ranges[0]
	}
	return 'x'
}

// contexts place a sample the way secrets appear in real files ({i}: an
// identifier, {I}: the same upper-case, {s}: the secret), after gitleaks'
// own rule tests.
var contexts = []string{
	"{i}_token = \"{s}\"",
	"export {I}_API_KEY={s}",
	"{i}_secret: '{s}'",
	"{\n  \"{i}_token\": \"{s}\"\n}",
	"var {i}Key string = \"{s}\"",
	"{i}Token := `{s}`",
	"{i}_token: {s}",
	"System.setProperty(\"{I}_TOKEN\", \"{s}\")",
	"  \"{i}Token\" => \"{s}\"",
	"curl -s https://api.example.net/v1 -d token={s} # {i}",
	"config.{i}.key = {s}",
}

var identifiers = []string{"service", "deploy", "prod", "ci", "backup", "app"}

// generateCorpus builds samples for every rule gitleaks confirms.
func generateCorpus(t *testing.T) []string {
	d := gitleaksDetector(t)
	rules, _, err := Rules(d.Config)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(42, 7))
	var out []string
	gen := func(re *syntax.Regexp) string {
		var b strings.Builder
		genString(re, rng, &b)
		return b.String()
	}
	for _, g := range rules {
		tree, err := syntax.Parse(g.Regex.String(), syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		secretNode := firstCapture(tree)
		var kwNode *syntax.Regexp
		if strings.HasPrefix(g.Regex.String(), templateHead) && tree.Op == syntax.OpConcat && len(tree.Sub) > 1 {
			kwNode = tree.Sub[1]
		}
		kept := 0
		seen := map[string]bool{}
		for attempt := 0; attempt < 600 && kept < 2; attempt++ {
			var s string
			switch {
			case attempt < 400 && secretNode != nil:
				id := identifiers[rng.IntN(len(identifiers))]
				if kwNode != nil {
					id = strings.ToLower(gen(kwNode))
				}
				ctx := contexts[rng.IntN(len(contexts))]
				s = strings.NewReplacer("{i}", id, "{I}", strings.ToUpper(id), "{s}", gen(secretNode)).Replace(ctx)
			default:
				s = gen(tree)
				if attempt%2 == 1 {
					s = "export CONFIG_VALUE=" + s
				}
			}
			if strings.Contains(s, "\n\n") || strings.Contains(s, "###") || strings.Contains(strings.ToLower(s), "example") || seen[s] {
				continue
			}
			found := false
			for _, f := range d.DetectString(s) {
				if f.RuleID == g.RuleID {
					found = true
				}
			}
			if found {
				seen[s] = true
				out = append(out, strings.Trim(s, "\n"))
				kept++
			}
		}
	}
	return out
}

// lines returns the byte range of the lines gitleaks reports f on (it
// reports lines and the secret, not byte offsets); offs are the offsets of
// the text's line starts.
func lines(text string, offs []int, f report.Finding) (lo, hi int) {
	lo, hi = offs[min(f.StartLine, len(offs)-1)], len(text)
	if f.EndLine+1 < len(offs) {
		hi = offs[f.EndLine+1]
	}
	return lo, hi
}

// lineOffsets returns the offset of each line start.
func lineOffsets(s string) []int {
	offs := []int{0}
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			offs = append(offs, i+1)
		}
	}
	return offs
}

// covered reports whether [s, e) is inside the union of findings.
func covered(fs []redact.Finding, s, e int) bool {
	for _, f := range fs {
		if f.Start <= s && e <= f.End {
			return true
		}
	}
	return false
}

// uncoveredGitleaks returns gitleaks' findings on text that Scan misses.
func uncoveredGitleaks(text string, gl []report.Finding, ours []redact.Finding) []report.Finding {
	offs := lineOffsets(text)
	var missed []report.Finding
	for _, f := range gl {
		if f.Secret == "" {
			continue
		}
		lo, hi := lines(text, offs, f)
		ok := false
		for off := lo; off < hi; {
			i := strings.Index(text[off:hi], f.Secret)
			if i < 0 {
				break
			}
			if covered(ours, off+i, off+i+len(f.Secret)) {
				ok = true
				break
			}
			off += i + 1
		}
		if !ok {
			missed = append(missed, f)
		}
	}
	return missed
}

func TestGitleaksSuperset(t *testing.T) {
	if *update {
		samples := generateCorpus(t)
		if err := os.WriteFile(redacttest.GitleaksCorpusFile, []byte(strings.Join(samples, redacttest.SampleSep)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	samples := redacttest.GitleaksSamples(t)
	corpus := strings.Join(samples, redacttest.SampleSep)
	d := gitleaksDetector(t)
	gl := d.DetectString(corpus)
	ids := map[string]bool{}
	for _, f := range gl {
		ids[f.RuleID] = true
	}
	if len(ids) < 50 {
		t.Fatalf("corpus exercises only %d gitleaks rules, want >= 50", len(ids))
	}
	r, err := redact.New(redact.Profile{})
	if err != nil {
		t.Fatal(err)
	}
	ours := r.Scan(corpus)
	missed := uncoveredGitleaks(corpus, gl, ours)
	for _, f := range missed {
		t.Errorf("missed %s secret %q on line %d: %q", f.RuleID, f.Secret, f.StartLine, f.Line)
	}
	// Sample by sample too: a sample alone is a short prompt (gitleaks'
	// detector takes seconds over all of them: not in -short mode).
	if testing.Short() {
		return
	}
	for _, s := range samples {
		missed := uncoveredGitleaks(s, d.DetectString(s), r.Scan(s))
		for _, f := range missed {
			t.Errorf("alone: missed %s secret %q in %q", f.RuleID, f.Secret, s)
		}
	}
	list := make([]string, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	sort.Strings(list)
	t.Logf("%d gitleaks findings over %d rule ids, %d samples; %d Scan findings", len(gl), len(ids), len(samples), len(ours))
}

package redact

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The clean corpus: realistic source code, configuration, lockfiles, logs,
// LaTeX, diffs and prose in English and French (testdata/clean/*.txt), with
// near misses everywhere (SHAs, UUIDs, lockfile hashes, data URIs, AWS
// documentation keys, DOIs, arXiv ids, ORCIDs, versions, dates, IPs,
// amounts, references to secrets). Templates hold macros ({{UUID}},
// {{SHA}}, {{INT}}…) expanded with a seeded generator, so a corpus of any
// size is deterministic and never repeats a value.

var macroRe = regexp.MustCompile(`\{\{([A-Z0-9_]+)\}\}`)

var words = []string{"atlas", "boreal", "cygne", "delta", "equinoxe", "fjord", "granit", "helios",
	"iris", "jade", "korrigan", "lagune", "mistral", "nacre", "orion", "pollen", "quartz", "rhone",
	"sirocco", "tundra", "ubac", "vortex", "wapiti", "xenon", "yole", "zephyr", "lab", "team", "dev"}

func loadTemplates(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "clean", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no clean templates: %v", err)
	}
	sort.Strings(files)
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

const hexDigits = "0123456789abcdef"
const b64Chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func randString(rng *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func expandMacros(rng *rand.Rand, tpl string) string {
	return macroRe.ReplaceAllStringFunc(tpl, func(m string) string {
		name := m[2 : len(m)-2]
		switch {
		case name == "UUID":
			return randString(rng, hexDigits, 8) + "-" + randString(rng, hexDigits, 4) + "-4" +
				randString(rng, hexDigits, 3) + "-a" + randString(rng, hexDigits, 3) + "-" + randString(rng, hexDigits, 12)
		case name == "SHA":
			return randString(rng, hexDigits, 40)
		case name == "SHA7":
			return randString(rng, hexDigits, 7)
		case name == "SHA256":
			return randString(rng, hexDigits, 64)
		case name == "INT":
			return strconv.Itoa(rng.IntN(1000))
		case name == "INT5":
			return strconv.Itoa(10000 + rng.IntN(90000))
		case name == "DATE":
			return "2024-" + twoDigits(1+rng.IntN(12)) + "-" + twoDigits(1+rng.IntN(28))
		case name == "WORD":
			return words[rng.IntN(len(words))]
		case strings.HasPrefix(name, "B64_"):
			n, _ := strconv.Atoi(name[4:])
			return randString(rng, b64Chars, n)
		}
		return m
	})
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// cleanCorpus returns about size bytes of secret-free text.
func cleanCorpus(t testing.TB, size int, seed uint64) string {
	t.Helper()
	tpls := loadTemplates(t)
	rng := rand.New(rand.NewPCG(seed, 0x7153))
	var b strings.Builder
	for b.Len() < size {
		b.WriteString(expandMacros(rng, tpls[rng.IntN(len(tpls))]))
		b.WriteString("\n")
	}
	return b.String()
}

var (
	corpusOnce  sync.Once
	corpusClean string
)

// benchCorpus is the ~1 MB clean corpus shared by tests and benchmarks.
func benchCorpus(t testing.TB) string {
	corpusOnce.Do(func() { corpusClean = cleanCorpus(t, 1<<20, 1) })
	return corpusClean
}

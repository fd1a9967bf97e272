package redacttest

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
	"time"
)

// The clean corpus: realistic source code, configuration, lockfiles, logs,
// LaTeX, diffs and prose in English and French (testdata/clean/*.txt), with
// near misses everywhere (SHAs, UUIDs, lockfile hashes, data URIs, AWS
// documentation keys, DOIs, arXiv ids, ORCIDs, versions, dates, IPs,
// amounts, references to secrets). Templates hold macros ({{UUID}},
// {{SHA}}, {{INT}}…) expanded with a seeded generator, so a corpus of any
// size is deterministic and never repeats a value.

var macroRe = regexp.MustCompile(`\{\{([A-Z0-9_]+)\}\}`)

// Words are the filler words of the clean corpus.
var Words = []string{"atlas", "boreal", "cygne", "delta", "equinoxe", "fjord", "granit", "helios",
	"iris", "jade", "korrigan", "lagune", "mistral", "nacre", "orion", "pollen", "quartz", "rhone",
	"sirocco", "tundra", "ubac", "vortex", "wapiti", "xenon", "yole", "zephyr", "lab", "team", "dev"}

func loadTemplates(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(Testdata("clean", "*.txt"))
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

// Alphabets of generated values.
const (
	HexDigits = "0123456789abcdef"
	B64Chars  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// RandString returns n bytes drawn from alphabet.
func RandString(rng *rand.Rand, alphabet string, n int) string {
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
			return RandString(rng, HexDigits, 8) + "-" + RandString(rng, HexDigits, 4) + "-4" +
				RandString(rng, HexDigits, 3) + "-a" + RandString(rng, HexDigits, 3) + "-" + RandString(rng, HexDigits, 12)
		case name == "SHA":
			return RandString(rng, HexDigits, 40)
		case name == "SHA7":
			return RandString(rng, HexDigits, 7)
		case name == "SHA256":
			return RandString(rng, HexDigits, 64)
		case name == "INT":
			return strconv.Itoa(rng.IntN(1000))
		case name == "INT5":
			return strconv.Itoa(10000 + rng.IntN(90000))
		case name == "DATE":
			return "2024-" + twoDigits(1+rng.IntN(12)) + "-" + twoDigits(1+rng.IntN(28))
		case name == "WORD":
			return Words[rng.IntN(len(Words))]
		case strings.HasPrefix(name, "B64_"):
			n, _ := strconv.Atoi(name[4:])
			return RandString(rng, B64Chars, n)
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

// CleanCorpus returns about size bytes of secret-free text.
func CleanCorpus(t testing.TB, size int, seed uint64) string {
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

// BenchCorpus is the ~1 MB clean corpus shared by tests and benchmarks.
func BenchCorpus(t testing.TB) string {
	corpusOnce.Do(func() { corpusClean = CleanCorpus(t, 1<<20, 1) })
	return corpusClean
}

// The gitleaks corpus (testdata/gitleaks_corpus.txt): realistic fake
// secrets for most of gitleaks' rules, each confirmed by gitleaks' own
// detector, separated by lines holding "###". tools/gitleaks generates it.
const SampleSep = "\n###\n"

// GitleaksCorpusFile is the path of the gitleaks corpus.
var GitleaksCorpusFile = Testdata("gitleaks_corpus.txt")

// GitleaksSamples returns the samples of the gitleaks corpus.
func GitleaksSamples(tb testing.TB) []string {
	tb.Helper()
	b, err := os.ReadFile(GitleaksCorpusFile)
	if err != nil {
		tb.Fatalf("reading %s (regenerate it with go test -run TestGitleaksSuperset -update in tools/gitleaks): %v", GitleaksCorpusFile, err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), SampleSep)
}

// Sprinkled is BenchCorpus with a gitleaks sample every ~150 lines.
func Sprinkled(tb testing.TB) string {
	tb.Helper()
	base := BenchCorpus(tb)
	samples := GitleaksSamples(tb)
	rng := rand.New(rand.NewPCG(2, 2))
	lines := strings.SplitAfter(base, "\n")
	var b strings.Builder
	for i, l := range lines {
		b.WriteString(l)
		if i%150 == 75 {
			b.WriteString(samples[rng.IntN(len(samples))])
			b.WriteString("\n")
		}
	}
	return b.String()
}

// Requests4KB cuts 64 requests of 4 KB from Sprinkled: half of them hold a
// secret.
func Requests4KB(tb testing.TB) []string {
	c := Sprinkled(tb)
	var reqs []string
	for off := 0; off+4096 <= len(c) && len(reqs) < 64; off += len(c) / 64 {
		reqs = append(reqs, c[off:off+4096])
	}
	return reqs
}

// BenchScan runs scan over inputs b.N times on a locked thread, reports
// the throughput (MB/s wall from SetBytes, cpu-MB/s from the thread's CPU
// time, robust to a loaded machine) and returns the CPU time spent.
func BenchScan(b *testing.B, inputs []string, scan func(string)) time.Duration {
	total := 0
	for _, in := range inputs {
		total += len(in)
		scan(in) // warm-up: compile what this input needs
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	defer LockThread()()
	b.ResetTimer()
	cpu0 := ThreadCPU()
	for i := 0; i < b.N; i++ {
		for _, in := range inputs {
			scan(in)
		}
	}
	cpu := ThreadCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(total)*float64(b.N)/cpu.Seconds()/1e6, "cpu-MB/s")
	return cpu
}

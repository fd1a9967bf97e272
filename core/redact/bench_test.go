package redact

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zricethezav/gitleaks/v8/detect"
)

// Benchmarks: Scan's throughput on ~1 MB of mixed source code,
// configuration, lockfiles, logs and prose (the clean corpus, then the same
// with secrets sprinkled in), and its cost per 4 KB request. Each benchmark
// also measures gitleaks' own detector on the same input and reports its
// MB/s and our speed-up ("x-gitleaks"); run with `go test -bench Scan
// -run '^$' ./core/redact/`.

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

// gitleaksMBps measures gitleaks' DetectString on inputs, in wall-clock and
// thread-CPU MB/s (cached per name: it is slow, so it is timed once per
// process, over at least a second).
var glSpeed sync.Map

type speed struct{ wall, cpu float64 }

func gitleaksMBps(tb testing.TB, name string, inputs []string) speed {
	if v, ok := glSpeed.Load(name); ok {
		return v.(speed)
	}
	d := gitleaksDetector(tb)
	defer lockThread()()
	var n int
	start, cpu0 := time.Now(), threadCPU()
	for time.Since(start) < time.Second {
		for _, in := range inputs {
			d.DetectString(in)
			n += len(in)
		}
	}
	sp := speed{
		wall: float64(n) / time.Since(start).Seconds() / 1e6,
		cpu:  float64(n) / (threadCPU() - cpu0).Seconds() / 1e6,
	}
	glSpeed.Store(name, sp)
	return sp
}

// reportSpeed adds the comparison metrics: our CPU MB/s, gitleaks' wall and CPU
// MB/s, and the speed-up on CPU time (robust to a loaded machine) and on
// wall-clock time.
func reportSpeed(b *testing.B, name string, inputs []string, bytes int64, cpu time.Duration) {
	ours := float64(bytes) / b.Elapsed().Seconds() / 1e6
	oursCPU := float64(bytes) / cpu.Seconds() / 1e6
	gl := gitleaksMBps(b, name, inputs)
	b.ReportMetric(oursCPU, "cpu-MB/s")
	b.ReportMetric(gl.cpu, "gitleaks-cpu-MB/s")
	b.ReportMetric(oursCPU/gl.cpu, "x-gitleaks-cpu")
	b.ReportMetric(ours/gl.wall, "x-gitleaks-wall")
	if b.N > 1 {
		fmt.Fprintf(os.Stderr, "%s: redact %.1f MB/s wall, %.1f MB/s cpu; gitleaks %.2f MB/s wall, %.2f MB/s cpu; speed-up %.0fx cpu, %.0fx wall\n",
			name, ours, oursCPU, gl.wall, gl.cpu, oursCPU/gl.cpu, ours/gl.wall)
	}
}

func sprinkled(tb testing.TB) string {
	tb.Helper()
	base := benchCorpus(tb)
	samples := corpusSamples(tb)
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

func benchScan(b *testing.B, name string, inputs []string) {
	r, err := New(Profile{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	total := 0
	for _, in := range inputs {
		total += len(in)
		r.Scan(in) // compile the expressions this input needs
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	defer lockThread()()
	b.ResetTimer()
	cpu0 := threadCPU()
	for i := 0; i < b.N; i++ {
		for _, in := range inputs {
			r.Scan(in)
		}
	}
	cpu := threadCPU() - cpu0
	b.StopTimer()
	reportSpeed(b, name, inputs, int64(total)*int64(b.N), cpu)
}

// BenchmarkScanClean: ~1 MB without secrets.
func BenchmarkScanClean(b *testing.B) {
	benchScan(b, "clean-1MB", []string{benchCorpus(b)})
}

// BenchmarkScanSecrets: the same with a secret every ~150 lines.
func BenchmarkScanSecrets(b *testing.B) {
	benchScan(b, "secrets-1MB", []string{sprinkled(b)})
}

// requests4KB cuts 64 requests of 4 KB from the corpus with secrets.
func requests4KB(b *testing.B) []string {
	c := sprinkled(b)
	var reqs []string
	for off := 0; off+4096 <= len(c) && len(reqs) < 64; off += len(c) / 64 {
		reqs = append(reqs, c[off:off+4096])
	}
	return reqs
}

// BenchmarkScan4KB: the cost of one 4 KB request (ns/op is per request);
// half of the requests hold a secret.
func BenchmarkScan4KB(b *testing.B) {
	reqs := requests4KB(b)
	r, err := New(Profile{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range reqs {
		r.Scan(q)
	}
	b.SetBytes(4096)
	b.ReportAllocs()
	defer lockThread()()
	b.ResetTimer()
	cpu0 := threadCPU()
	for i := 0; i < b.N; i++ {
		r.Scan(reqs[i%len(reqs)])
	}
	cpu := threadCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	reportSpeed(b, "4KB", reqs, 4096*int64(b.N), cpu)
}

// BenchmarkRedact4KB: Redact (scan, vault, placeholders) per 4 KB request.
func BenchmarkRedact4KB(b *testing.B) {
	reqs := requests4KB(b)
	r, err := New(Profile{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v := NewVault()
		if _, _, err := r.Redact(v, reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNew: building a Redactor with custom terms and patterns (the
// built-in rule set is compiled once per process, measured by
// TestInitTime).
func BenchmarkNew(b *testing.B) {
	p := Profile{Name: "bench", Terms: []string{"ProjectX", "Blue Harbor"}, Patterns: []Pattern{{"ticket", `\bPRJ-\d{4,6}\b`}}}
	for i := 0; i < b.N; i++ {
		if _, err := New(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStages splits Scan's cost on the clean corpus: the keyword
// automaton alone, the personal-data scanners, all regex-based rules
// (automaton included).
func BenchmarkStages(b *testing.B) {
	c := benchCorpus(b)
	rs, err := shared()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("automaton", func(b *testing.B) {
		var buf []int32
		b.SetBytes(int64(len(c)))
		for i := 0; i < b.N; i++ {
			buf = rs.ac.scanInto(c, buf[:0])
		}
	})
	b.Run("personal", func(b *testing.B) {
		var out []cand
		b.SetBytes(int64(len(c)))
		for i := 0; i < b.N; i++ {
			out = out[:0]
			scanPersonal(c, &out)
		}
	})
	b.Run("rules", func(b *testing.B) {
		st := &scanState{}
		b.SetBytes(int64(len(c)))
		for i := 0; i < b.N; i++ {
			st.findings = st.findings[:0]
			rs.scanRules(c, st)
		}
	})
}

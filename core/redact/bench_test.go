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

// gitleaksMBps measures gitleaks' DetectString on inputs (cached per name:
// it is slow, so it is timed once per process, over at least a second).
var glSpeed sync.Map

func gitleaksMBps(tb testing.TB, name string, inputs []string) float64 {
	if v, ok := glSpeed.Load(name); ok {
		return v.(float64)
	}
	d := gitleaksDetector(tb)
	var n int
	start := time.Now()
	for time.Since(start) < time.Second {
		for _, in := range inputs {
			d.DetectString(in)
			n += len(in)
		}
	}
	mbps := float64(n) / time.Since(start).Seconds() / 1e6
	glSpeed.Store(name, mbps)
	return mbps
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
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, in := range inputs {
			r.Scan(in)
		}
	}
	b.StopTimer()
	ours := float64(total) * float64(b.N) / b.Elapsed().Seconds() / 1e6
	gl := gitleaksMBps(b, name, inputs)
	b.ReportMetric(gl, "gitleaks-MB/s")
	b.ReportMetric(ours/gl, "x-gitleaks")
	if b.N > 1 {
		fmt.Fprintf(os.Stderr, "%s: redact %.1f MB/s, gitleaks %.2f MB/s, ratio %.0fx\n", name, ours, gl, ours/gl)
	}
}

// BenchmarkScanClean: ~1 MB without secrets.
func BenchmarkScanClean(b *testing.B) {
	benchScan(b, "clean-1MB", []string{benchCorpus(b)})
}

// BenchmarkScanSecrets: the same with a secret every ~150 lines.
func BenchmarkScanSecrets(b *testing.B) {
	benchScan(b, "secrets-1MB", []string{sprinkled(b)})
}

// BenchmarkScan4KB: the cost of one 4 KB request (ns/op is per request).
func BenchmarkScan4KB(b *testing.B) {
	c := sprinkled(b)
	var reqs []string
	for off := 0; off+4096 <= len(c) && len(reqs) < 64; off += len(c) / 64 {
		reqs = append(reqs, c[off:off+4096])
	}
	r, err := New(Profile{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Scan(reqs[i%len(reqs)])
	}
	b.StopTimer()
	ours := 4096 * float64(b.N) / b.Elapsed().Seconds() / 1e6
	gl := gitleaksMBps(b, "4KB", reqs)
	b.ReportMetric(gl, "gitleaks-MB/s")
	b.ReportMetric(ours/gl, "x-gitleaks")
}

// BenchmarkRedact4KB: Redact (scan, vault, placeholders) per 4 KB request.
func BenchmarkRedact4KB(b *testing.B) {
	c := sprinkled(b)
	var reqs []string
	for off := 0; off+4096 <= len(c) && len(reqs) < 64; off += len(c) / 64 {
		reqs = append(reqs, c[off:off+4096])
	}
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

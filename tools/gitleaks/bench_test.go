package gitleaks

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zricethezav/gitleaks/v8/report"

	"timon.dev/timon/core/redact"
	"timon.dev/timon/core/redact/redacttest"
)

// Benchmarks of gitleaks' detector beside ours, on the inputs of
// core/redact's benchmarks: the ~1 MB clean corpus, the same with secrets
// sprinkled in, and 4 KB requests (speed); the labelled quality corpus
// (precision and recall).

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
	defer redacttest.LockThread()()
	var n int
	start, cpu0 := time.Now(), redacttest.ThreadCPU()
	for time.Since(start) < time.Second {
		for _, in := range inputs {
			d.DetectString(in)
			n += len(in)
		}
	}
	sp := speed{
		wall: float64(n) / time.Since(start).Seconds() / 1e6,
		cpu:  float64(n) / (redacttest.ThreadCPU() - cpu0).Seconds() / 1e6,
	}
	glSpeed.Store(name, sp)
	return sp
}

// BenchmarkVsGitleaks times our Scan on each input (as core/redact's
// BenchmarkScan* do), then gitleaks' detector, and reports gitleaks' MB/s
// and our speed-up on CPU time (robust to a loaded machine) and on
// wall-clock time.
func BenchmarkVsGitleaks(b *testing.B) {
	inputs := []struct {
		name  string
		texts func(testing.TB) []string
	}{
		{"clean-1MB", func(tb testing.TB) []string { return []string{redacttest.BenchCorpus(tb)} }},
		{"secrets-1MB", func(tb testing.TB) []string { return []string{redacttest.Sprinkled(tb)} }},
		{"4KB", redacttest.Requests4KB},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			texts := in.texts(b)
			r, err := redact.New(redact.Profile{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			cpu := redacttest.BenchScan(b, texts, func(s string) { r.Scan(s) })
			n := 0
			for _, t := range texts {
				n += len(t)
			}
			bytes := float64(n) * float64(b.N)
			ours, oursCPU := bytes/b.Elapsed().Seconds()/1e6, bytes/cpu.Seconds()/1e6
			gl := gitleaksMBps(b, in.name, texts)
			b.ReportMetric(gl.cpu, "gitleaks-cpu-MB/s")
			b.ReportMetric(oursCPU/gl.cpu, "x-gitleaks-cpu")
			b.ReportMetric(ours/gl.wall, "x-gitleaks-wall")
			if b.N > 1 {
				fmt.Fprintf(os.Stderr, "%s: redact %.1f MB/s wall, %.1f MB/s cpu; gitleaks %.2f MB/s wall, %.2f MB/s cpu; speed-up %.0fx cpu, %.0fx wall\n",
					in.name, ours, oursCPU, gl.wall, gl.cpu, oursCPU/gl.cpu, ours/gl.wall)
			}
		})
	}
}

// BenchmarkGitleaksQuality prints gitleaks' per-type table on the quality
// corpus, beside redact's (core/redact's BenchmarkDetectionQuality).
// gitleaks finds secrets only: personal data is n/a for it, and its overall
// figures cover secrets.
func BenchmarkGitleaksQuality(b *testing.B) {
	docs := redacttest.QualityCorpus(b)
	d := gitleaksDetector(b)
	secrets := func(typ string) bool { return !redacttest.IsPersonalType(typ) }
	var gl *redacttest.Result
	for i := 0; i < b.N; i++ {
		gl = redacttest.ScoreCorpus(docs, func(text string) []redacttest.Span {
			return gitleaksSpans(text, d.DetectString(text))
		}, secrets)
	}
	b.ReportMetric(gl.All.Precision(), "gitleaks-precision")
	b.ReportMetric(gl.All.Recall(), "gitleaks-recall")
	fmt.Fprintln(os.Stderr, gl.Table("gitleaks on the quality corpus (secrets)", true))
}

// gitleaksSpans locates gitleaks' secrets in text.
func gitleaksSpans(text string, gl []report.Finding) []redacttest.Span {
	offs := lineOffsets(text)
	var out []redacttest.Span
	for _, f := range gl {
		if f.Secret == "" {
			continue
		}
		lo, hi := lines(text, offs, f)
		secret := f.Secret
		if i := strings.Index(text[lo:hi], secret); i >= 0 {
			out = append(out, redacttest.Span{Type: f.RuleID, Start: lo + i, End: lo + i + len(secret)})
		} else if i := strings.Index(text, secret); i >= 0 {
			out = append(out, redacttest.Span{Type: f.RuleID, Start: i, End: i + len(secret)})
		}
	}
	return out
}

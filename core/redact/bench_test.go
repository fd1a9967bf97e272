package redact

import (
	"testing"

	"timon.dev/timon/core/redact/redacttest"
)

// Benchmarks: Scan's throughput on ~1 MB of mixed source code,
// configuration, lockfiles, logs and prose (the clean corpus, then the same
// with secrets sprinkled in), and its cost per 4 KB request; run with `go
// test -bench Scan -run '^$' ./core/redact/`. tools/gitleaks measures
// gitleaks' own detector on the same inputs, and our speed-up.

func benchScan(b *testing.B, inputs []string) {
	r, err := New(Profile{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	redacttest.BenchScan(b, inputs, func(s string) { r.Scan(s) })
}

// BenchmarkScanClean: ~1 MB without secrets.
func BenchmarkScanClean(b *testing.B) {
	benchScan(b, []string{redacttest.BenchCorpus(b)})
}

// BenchmarkScanSecrets: the same with a secret every ~150 lines.
func BenchmarkScanSecrets(b *testing.B) {
	benchScan(b, []string{redacttest.Sprinkled(b)})
}

// BenchmarkScan4KB: the cost of one 4 KB request (ns/op is per request);
// half of the requests hold a secret.
func BenchmarkScan4KB(b *testing.B) {
	reqs := redacttest.Requests4KB(b)
	r, err := New(Profile{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range reqs {
		r.Scan(q)
	}
	b.SetBytes(4096)
	b.ReportAllocs()
	defer redacttest.LockThread()()
	b.ResetTimer()
	cpu0 := redacttest.ThreadCPU()
	for i := 0; i < b.N; i++ {
		r.Scan(reqs[i%len(reqs)])
	}
	cpu := redacttest.ThreadCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(4096*float64(b.N)/cpu.Seconds()/1e6, "cpu-MB/s")
}

// BenchmarkRedact4KB: Redact (scan, vault, placeholders) per 4 KB request.
func BenchmarkRedact4KB(b *testing.B) {
	reqs := redacttest.Requests4KB(b)
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
	c := redacttest.BenchCorpus(b)
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

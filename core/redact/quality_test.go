package redact

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"timon.dev/timon/core/redact/redacttest"
)

// Detection quality on the labelled corpus (quality_gen_test.go), scored
// as redacttest describes.

var updateQuality = flag.Bool("update-quality", false, "rewrite testdata/quality/corpus.json from the generator")

const (
	qualityDocs = 800
	qualitySeed = 12
)

func marshalQuality(docs []redacttest.Doc) []byte {
	b, err := json.MarshalIndent(docs, "", " ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// TestQualityCorpusFile: the committed corpus is what the seeded generator
// gives, and its labels are consistent.
func TestQualityCorpusFile(t *testing.T) {
	docs := generateQuality(qualityDocs, qualitySeed)
	want := marshalQuality(docs)
	if *updateQuality {
		if err := os.MkdirAll(filepath.Dir(redacttest.QualityFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(redacttest.QualityFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(redacttest.QualityFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not what the generator gives: run go test -run TestQualityCorpusFile -update-quality ./core/redact/", redacttest.QualityFile)
	}
	types := map[string]int{}
	for _, d := range docs {
		for _, l := range d.Labels {
			if l.Start < 0 || l.End > len(d.Text) || l.End <= l.Start {
				t.Fatalf("%s: bad label %+v", d.Name, l)
			}
			types[l.Type]++
		}
	}
	if len(types) < 25 {
		t.Errorf("only %d types in the corpus", len(types))
	}
	for typ, n := range types {
		if n < 15 {
			t.Errorf("type %s has only %d values", typ, n)
		}
	}
}

func scoreOurs(t testing.TB, docs []redacttest.Doc) *redacttest.Result {
	r, err := New(Profile{Name: "quality"})
	if err != nil {
		t.Fatal(err)
	}
	return redacttest.ScoreCorpus(docs, func(text string) []redacttest.Span {
		var fs []redacttest.Span
		for _, f := range r.Scan(text) {
			fs = append(fs, redacttest.Span{Type: f.Type, Start: f.Start, End: f.End})
		}
		return fs
	}, func(string) bool { return true })
}

// TestDetectionQuality: precision and recall ≥ 0.97 overall on the
// labelled corpus, and ≥ 0.90 for every type.
func TestDetectionQuality(t *testing.T) {
	docs := redacttest.QualityCorpus(t)
	q := scoreOurs(t, docs)
	t.Log("\n" + q.Table("redact on the quality corpus", false))
	for _, m := range q.Misses {
		t.Log(m)
	}
	for _, a := range q.Alarms {
		t.Log(a)
	}
	if p, r := q.All.Precision(), q.All.Recall(); p < 0.97 || r < 0.97 {
		t.Errorf("overall precision %.3f recall %.3f, want both ≥ 0.97", p, r)
	}
	for typ, s := range q.Per {
		if strings.HasPrefix(typ, "other:") {
			if s.FP > 0 {
				t.Errorf("%d false alarms of %s", s.FP, typ[len("other:"):])
			}
			continue
		}
		if s.Precision() < 0.90 || s.Recall() < 0.90 {
			t.Errorf("%s: precision %.3f recall %.3f, want both ≥ 0.90", typ, s.Precision(), s.Recall())
		}
	}
}

// BenchmarkDetectionQuality prints the per-type table for redact on the
// corpus (tools/gitleaks prints gitleaks' on the same corpus).
func BenchmarkDetectionQuality(b *testing.B) {
	docs := redacttest.QualityCorpus(b)
	var ours *redacttest.Result
	for i := 0; i < b.N; i++ {
		ours = scoreOurs(b, docs)
	}
	b.StopTimer()
	b.ReportMetric(ours.All.Precision(), "precision")
	b.ReportMetric(ours.All.Recall(), "recall")
	fmt.Fprintln(os.Stderr, ours.Table("redact on the quality corpus", false))
}

package redact

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/zricethezav/gitleaks/v8/report"
)

// Detection quality on the labelled corpus (quality_gen_test.go).
//
// Matching rule, span-wise: a labelled value is found when the findings
// cover every byte of its span (a finding may be wider: "Basic xyz", a
// whole key=value); the finding's type does not matter, since every
// finding is masked. A finding is a true positive when it overlaps a
// labelled value, a false alarm otherwise. Recall per type is found/total
// labelled values of that type; precision per type counts the findings
// overlapping values of that type against the false alarms whose finding
// type belongs to it (classOf); overall figures count every value and every
// finding.

var updateQuality = flag.Bool("update-quality", false, "rewrite testdata/quality/corpus.json from the generator")

const (
	qualityDocs = 800
	qualitySeed = 12
	qualityFile = "testdata/quality/corpus.json"
)

func qualityCorpus(t testing.TB) []qDoc {
	t.Helper()
	b, err := os.ReadFile(qualityFile)
	if err != nil {
		t.Fatalf("reading the quality corpus (go test -run TestQualityCorpusFile -update-quality): %v", err)
	}
	var docs []qDoc
	if err := json.Unmarshal(b, &docs); err != nil {
		t.Fatalf("parsing %s: %v", qualityFile, err)
	}
	return docs
}

func marshalQuality(docs []qDoc) []byte {
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
		if err := os.MkdirAll(filepath.Dir(qualityFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(qualityFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(qualityFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not what the generator gives: run go test -run TestQualityCorpusFile -update-quality ./core/redact/", qualityFile)
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

// classOf maps a finding type to the corpus type it stands for (false
// alarms are charged to it).
func classOf(typ string) string {
	switch typ {
	case "email", "phone", "iban", "nir", "siren", "siret", "card", "passport", "id_card":
		return typ
	case "aws-access-token":
		return "aws_key_id"
	case "aws_secret_key":
		return "aws_secret"
	case "azure_storage_key":
		return "azure_storage"
	case "gcp-api-key":
		return "gcp_key"
	case "stripe-access-token":
		return "stripe"
	case "npm-access-token":
		return "npm"
	case "slack-webhook-url":
		return "slack_webhook"
	case "github-pat", "github-fine-grained-pat", "github-oauth", "github-app-token":
		return "github_token"
	case "gitlab-pat":
		return "gitlab_token"
	case "openai-api-key":
		return "openai"
	case "mistral_api_key":
		return "mistral"
	case "vault-service-token", "vault-batch-token":
		return "vault"
	case "jwt":
		return "jwt"
	case "private-key":
		return "private_key"
	case "url_password":
		return "url_password"
	case "auth_header", "basic_auth":
		return "auth_header"
	case "password_assignment", "generic-api-key":
		return "password"
	}
	if strings.HasPrefix(typ, "slack-") {
		return "slack_token"
	}
	return "other:" + typ
}

// qScore accumulates figures per type.
type qScore struct {
	total, found int // labelled values
	tp, fp       int // findings
}

type qResult struct {
	per    map[string]*qScore
	all    qScore
	misses []string
	alarms []string
}

func (q *qResult) score(typ string) *qScore {
	s := q.per[typ]
	if s == nil {
		s = &qScore{}
		q.per[typ] = s
	}
	return s
}

// span is a detector's finding reduced to what scoring needs.
type span struct {
	typ        string
	start, end int
}

// scoreDoc scores the findings on one document; only labels whose type
// keep accepts count (gitleaks: secrets only).
func (q *qResult) scoreDoc(d qDoc, fs []span, keep func(string) bool) {
	sort.Slice(fs, func(i, j int) bool { return fs[i].start < fs[j].start })
	for _, l := range d.Labels {
		if !keep(l.Type) {
			continue
		}
		s := q.score(l.Type)
		s.total++
		q.all.total++
		if spanCovered(fs, l.Start, l.End) {
			s.found++
			q.all.found++
		} else {
			q.misses = append(q.misses, fmt.Sprintf("%s: missed %s %q in %q", d.Name, l.Type, d.Text[l.Start:l.End], qLineAround(d.Text, l.Start)))
		}
	}
	for _, f := range fs {
		var hit *qLabel
		for i := range d.Labels {
			if l := &d.Labels[i]; l.Start < f.end && f.start < l.End {
				hit = l
				break
			}
		}
		if hit != nil {
			if !keep(hit.Type) {
				continue
			}
			q.score(hit.Type).tp++
			q.all.tp++
			continue
		}
		c := classOf(f.typ)
		if !keep(c) {
			continue
		}
		q.score(c).fp++
		q.all.fp++
		q.alarms = append(q.alarms, fmt.Sprintf("%s: false alarm %s %q in %q", d.Name, f.typ, d.Text[f.start:f.end], qLineAround(d.Text, f.start)))
	}
}

// spanCovered: the union of the (sorted) findings covers [s, e).
func spanCovered(fs []span, s, e int) bool {
	p := s
	for _, f := range fs {
		if f.start <= p && f.end > p {
			p = f.end
			if p >= e {
				return true
			}
		}
	}
	return p >= e
}

func qLineAround(text string, p int) string {
	lo := strings.LastIndexByte(text[:p], '\n') + 1
	hi := strings.IndexByte(text[p:], '\n')
	if hi < 0 {
		hi = len(text)
	} else {
		hi += p
	}
	if hi-lo > 200 {
		lo, hi = maxInt(lo, p-80), minInt(hi, p+120)
	}
	return text[lo:hi]
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

func (s qScore) recall() float64    { return ratio(s.found, s.total) }
func (s qScore) precision() float64 { return ratio(s.tp, s.tp+s.fp) }

func scoreOurs(t testing.TB, docs []qDoc) *qResult {
	r, err := New(Profile{Name: "quality"})
	if err != nil {
		t.Fatal(err)
	}
	q := &qResult{per: map[string]*qScore{}}
	for _, d := range docs {
		var fs []span
		for _, f := range r.Scan(d.Text) {
			fs = append(fs, span{f.Type, f.Start, f.End})
		}
		q.scoreDoc(d, fs, func(string) bool { return true })
	}
	return q
}

// secretTypes are the corpus types gitleaks is meant to find.
func isPersonalType(typ string) bool {
	switch typ {
	case "email", "phone", "iban", "nir", "siren", "siret", "card", "passport", "id_card":
		return true
	}
	return false
}

func scoreGitleaks(t testing.TB, docs []qDoc) *qResult {
	d := gitleaksDetector(t)
	q := &qResult{per: map[string]*qScore{}}
	for _, doc := range docs {
		q.scoreDoc(doc, gitleaksSpans(doc.Text, d.DetectString(doc.Text)), func(typ string) bool { return !isPersonalType(typ) })
	}
	return q
}

// gitleaksSpans locates gitleaks' secrets in text (it reports lines and
// the secret, not byte offsets).
func gitleaksSpans(text string, gl []report.Finding) []span {
	offs := lineOffsets(text)
	var out []span
	for _, f := range gl {
		if f.Secret == "" {
			continue
		}
		lo := offs[minInt(f.StartLine, len(offs)-1)]
		hi := len(text)
		if f.EndLine+1 < len(offs) {
			hi = offs[f.EndLine+1]
		}
		secret := f.Secret
		if i := strings.Index(text[lo:hi], secret); i >= 0 {
			out = append(out, span{f.RuleID, lo + i, lo + i + len(secret)})
		} else if i := strings.Index(text, secret); i >= 0 {
			out = append(out, span{f.RuleID, i, i + len(secret)})
		}
	}
	return out
}

func (q *qResult) table(title string, personalNA bool) string {
	var types []string
	for typ := range q.per {
		types = append(types, typ)
	}
	sort.Strings(types)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%-16s %6s %6s %9s %9s\n", title, "type", "values", "alarms", "precision", "recall")
	for _, typ := range types {
		s := q.per[typ]
		if strings.HasPrefix(typ, "other:") {
			fmt.Fprintf(&b, "%-16s %6s %6d\n", typ, "", s.fp)
			continue
		}
		fmt.Fprintf(&b, "%-16s %6d %6d %9.3f %9.3f\n", typ, s.total, s.fp, s.precision(), s.recall())
	}
	if personalNA {
		for _, typ := range []string{"card", "email", "iban", "id_card", "nir", "passport", "phone", "siren", "siret"} {
			fmt.Fprintf(&b, "%-16s %6s %6s %9s %9s\n", typ, "", "", "n/a", "n/a")
		}
	}
	fmt.Fprintf(&b, "%-16s %6d %6d %9.3f %9.3f\n", "OVERALL", q.all.total, q.all.fp, q.all.precision(), q.all.recall())
	return b.String()
}

// TestDetectionQuality: precision and recall ≥ 0.97 overall on the
// labelled corpus, and ≥ 0.90 for every type.
func TestDetectionQuality(t *testing.T) {
	docs := qualityCorpus(t)
	q := scoreOurs(t, docs)
	t.Log("\n" + q.table("redact on the quality corpus", false))
	for _, m := range q.misses {
		t.Log(m)
	}
	for _, a := range q.alarms {
		t.Log(a)
	}
	if p, r := q.all.precision(), q.all.recall(); p < 0.97 || r < 0.97 {
		t.Errorf("overall precision %.3f recall %.3f, want both ≥ 0.97", p, r)
	}
	for typ, s := range q.per {
		if strings.HasPrefix(typ, "other:") {
			if s.fp > 0 {
				t.Errorf("%d false alarms of %s", s.fp, typ[len("other:"):])
			}
			continue
		}
		if s.precision() < 0.90 || s.recall() < 0.90 {
			t.Errorf("%s: precision %.3f recall %.3f, want both ≥ 0.90", typ, s.precision(), s.recall())
		}
	}
}

// BenchmarkDetectionQuality prints the per-type table for redact and for
// gitleaks' detector on the same corpus (gitleaks finds secrets only:
// personal data is n/a for it, and its overall figures cover secrets).
func BenchmarkDetectionQuality(b *testing.B) {
	docs := qualityCorpus(b)
	var ours, gl *qResult
	for i := 0; i < b.N; i++ {
		ours = scoreOurs(b, docs)
	}
	b.StopTimer()
	gl = scoreGitleaks(b, docs)
	b.ReportMetric(ours.all.precision(), "precision")
	b.ReportMetric(ours.all.recall(), "recall")
	b.ReportMetric(gl.all.precision(), "gitleaks-precision")
	b.ReportMetric(gl.all.recall(), "gitleaks-recall")
	fmt.Fprintln(os.Stderr, ours.table("redact on the quality corpus", false))
	fmt.Fprintln(os.Stderr, gl.table("gitleaks on the quality corpus (secrets)", true))
}

package redacttest

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
)

// Detection quality on the labelled corpus (testdata/quality/corpus.json,
// written by the seeded generator in core/redact's quality_gen_test.go).
//
// Matching rule, span-wise: a labelled value is found when the findings
// cover every byte of its span (a finding may be wider: "Basic xyz", a
// whole key=value); the finding's type does not matter, since every
// finding is masked. A finding is a true positive when it overlaps a
// labelled value, a false alarm otherwise. Recall per type is found/total
// labelled values of that type; precision per type counts the findings
// overlapping values of that type against the false alarms whose finding
// type belongs to it (ClassOf); overall figures count every value and every
// finding.

// QualityFile is the path of the labelled quality corpus.
var QualityFile = Testdata("quality", "corpus.json")

// Label is a sensitive value of a quality document: its type and byte span.
type Label struct {
	Type  string `json:"type"`
	Start int    `json:"start"`
	End   int    `json:"end"`
}

// Doc is a document of the quality corpus.
type Doc struct {
	Name   string  `json:"name"`
	Text   string  `json:"text"`
	Labels []Label `json:"labels"`
}

// QualityCorpus reads the labelled quality corpus.
func QualityCorpus(tb testing.TB) []Doc {
	tb.Helper()
	b, err := os.ReadFile(QualityFile)
	if err != nil {
		tb.Fatalf("reading the quality corpus (go test -run TestQualityCorpusFile -update-quality ./core/redact/): %v", err)
	}
	var docs []Doc
	if err := json.Unmarshal(b, &docs); err != nil {
		tb.Fatalf("parsing %s: %v", QualityFile, err)
	}
	return docs
}

// ClassOf maps a finding type to the corpus type it stands for (false
// alarms are charged to it).
func ClassOf(typ string) string {
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

// IsPersonalType reports whether a corpus type is personal data (gitleaks
// is meant to find the other types, secrets).
func IsPersonalType(typ string) bool {
	switch typ {
	case "email", "phone", "iban", "nir", "siren", "siret", "card", "passport", "id_card":
		return true
	}
	return false
}

// Score accumulates figures per type.
type Score struct {
	Total, Found int // labelled values
	TP, FP       int // findings
}

// Recall is Found/Total (1 without values).
func (s Score) Recall() float64 { return ratio(s.Found, s.Total) }

// Precision is TP/(TP+FP) (1 without findings).
func (s Score) Precision() float64 { return ratio(s.TP, s.TP+s.FP) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// Result is a detector's score on the corpus: per type (false alarms of
// types outside the corpus under "other:TYPE"), overall, and the misses
// and false alarms described.
type Result struct {
	Per    map[string]*Score
	All    Score
	Misses []string
	Alarms []string
}

func (q *Result) score(typ string) *Score {
	if q.Per == nil {
		q.Per = map[string]*Score{}
	}
	s := q.Per[typ]
	if s == nil {
		s = &Score{}
		q.Per[typ] = s
	}
	return s
}

// Span is a detector's finding reduced to what scoring needs.
type Span struct {
	Type       string
	Start, End int
}

// ScoreDoc scores the findings on one document; only labels whose type
// keep accepts count (gitleaks: secrets only).
func (q *Result) ScoreDoc(d Doc, fs []Span, keep func(string) bool) {
	sort.Slice(fs, func(i, j int) bool { return fs[i].Start < fs[j].Start })
	for _, l := range d.Labels {
		if !keep(l.Type) {
			continue
		}
		s := q.score(l.Type)
		s.Total++
		q.All.Total++
		if SpanCovered(fs, l.Start, l.End) {
			s.Found++
			q.All.Found++
		} else {
			q.Misses = append(q.Misses, fmt.Sprintf("%s: missed %s %q in %q", d.Name, l.Type, d.Text[l.Start:l.End], lineAround(d.Text, l.Start)))
		}
	}
	for _, f := range fs {
		var hit *Label
		for i := range d.Labels {
			if l := &d.Labels[i]; l.Start < f.End && f.Start < l.End {
				hit = l
				break
			}
		}
		if hit != nil {
			if !keep(hit.Type) {
				continue
			}
			q.score(hit.Type).TP++
			q.All.TP++
			continue
		}
		c := ClassOf(f.Type)
		if !keep(c) {
			continue
		}
		q.score(c).FP++
		q.All.FP++
		q.Alarms = append(q.Alarms, fmt.Sprintf("%s: false alarm %s %q in %q", d.Name, f.Type, d.Text[f.Start:f.End], lineAround(d.Text, f.Start)))
	}
}

// SpanCovered reports whether the union of the (sorted) findings covers
// [s, e).
func SpanCovered(fs []Span, s, e int) bool {
	p := s
	for _, f := range fs {
		if f.Start <= p && f.End > p {
			p = f.End
			if p >= e {
				return true
			}
		}
	}
	return p >= e
}

func lineAround(text string, p int) string {
	lo := strings.LastIndexByte(text[:p], '\n') + 1
	hi := strings.IndexByte(text[p:], '\n')
	if hi < 0 {
		hi = len(text)
	} else {
		hi += p
	}
	if hi-lo > 200 {
		lo, hi = max(lo, p-80), min(hi, p+120)
	}
	return text[lo:hi]
}

// Table formats the per-type figures; personalNA adds the personal types
// as n/a (for a detector of secrets only).
func (q *Result) Table(title string, personalNA bool) string {
	var types []string
	for typ := range q.Per {
		types = append(types, typ)
	}
	sort.Strings(types)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%-16s %6s %6s %9s %9s\n", title, "type", "values", "alarms", "precision", "recall")
	for _, typ := range types {
		s := q.Per[typ]
		if strings.HasPrefix(typ, "other:") {
			fmt.Fprintf(&b, "%-16s %6s %6d\n", typ, "", s.FP)
			continue
		}
		fmt.Fprintf(&b, "%-16s %6d %6d %9.3f %9.3f\n", typ, s.Total, s.FP, s.Precision(), s.Recall())
	}
	if personalNA {
		for _, typ := range []string{"card", "email", "iban", "id_card", "nir", "passport", "phone", "siren", "siret"} {
			fmt.Fprintf(&b, "%-16s %6s %6s %9s %9s\n", typ, "", "", "n/a", "n/a")
		}
	}
	fmt.Fprintf(&b, "%-16s %6d %6d %9.3f %9.3f\n", "OVERALL", q.All.Total, q.All.FP, q.All.Precision(), q.All.Recall())
	return b.String()
}

// ScoreCorpus scores the findings of find on every document; only labels
// whose type keep accepts count.
func ScoreCorpus(docs []Doc, find func(text string) []Span, keep func(string) bool) *Result {
	q := &Result{}
	for _, d := range docs {
		q.ScoreDoc(d, find(d.Text), keep)
	}
	return q
}

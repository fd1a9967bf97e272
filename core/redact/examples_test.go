package redact

import (
	"os"
	"strings"
	"testing"

	"timon.dev/timon/core/redact/redacttest"
)

// TestQualityExamples: hand-written examples (testdata/quality/
// examples.txt), among them every form named in issue 12: lines with
// ⟦value⟧ marks must have each value covered by findings, lines without
// marks must give none.
func TestQualityExamples(t *testing.T) {
	b, err := os.ReadFile("testdata/quality/examples.txt")
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Profile{})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "# ") {
			continue
		}
		var spans [][2]int
		var clean strings.Builder
		rest := strings.ReplaceAll(line, `\n`, "\n")
		for {
			i := strings.Index(rest, "⟦")
			if i < 0 {
				clean.WriteString(rest)
				break
			}
			clean.WriteString(rest[:i])
			rest = rest[i+len("⟦"):]
			j := strings.Index(rest, "⟧")
			s := clean.Len()
			clean.WriteString(rest[:j])
			spans = append(spans, [2]int{s, clean.Len()})
			rest = rest[j+len("⟧"):]
		}
		text := strings.ReplaceAll(clean.String(), `\n`, "\n")
		fs := r.Scan(text)
		var ss []redacttest.Span
		for _, f := range fs {
			ss = append(ss, redacttest.Span{Type: f.Type, Start: f.Start, End: f.End})
		}
		for _, sp := range spans {
			if !redacttest.SpanCovered(ss, sp[0], sp[1]) {
				t.Errorf("missed %q in %q", text[sp[0]:sp[1]], text)
			}
		}
		for _, f := range fs {
			ok := false
			for _, sp := range spans {
				if f.Start < sp[1] && sp[0] < f.End {
					ok = true
				}
			}
			if !ok {
				t.Errorf("false alarm %s %q in %q", f.Type, text[f.Start:f.End], text)
			}
		}
	}
}

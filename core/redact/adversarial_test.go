package redact

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/redact/redacttest"
)

// Adversarial inputs: texts built to make a scanner do per-hit work that
// grows with the input (repeated keywords and anchors, long runs of value
// bytes, one huge line, overlapping candidates). Redaction must stay linear
// on all of them (invariant 5); BenchmarkAdversarial prints the cost per MiB
// and TestAdversarial checks the findings stay right.

type advInput struct {
	name string
	gen  func() string // built on demand: the whole set at 1 MiB is large
}

// repeatTo repeats unit until the text holds n bytes (at least one unit).
func repeatTo(unit string, n int) string {
	k := n / len(unit)
	if k < 1 {
		k = 1
	}
	return strings.Repeat(unit, k)
}

// advKeywords are the repeated literals the issue names.
var advKeywords = []string{
	"key=", "password=", "token=", "secret=", "Bearer ", "Authorization: ",
	"-----BEGIN", "@", "+33", "FR76", "://", `"password":"`,
	"ghp_", "xox", "AKIA", "sk-", "eyJ", "glpat-", "AIza", "xoxb-", "mistral", "api_key",
}

// adversarialInputs builds the adversarial set at about n bytes each.
func adversarialInputs(tb testing.TB, n int) []advInput {
	tb.Helper()
	var in []advInput
	add := func(name string, gen func() string) { in = append(in, advInput{name, gen}) }
	rep := func(name, unit string) { add(name, func() string { return repeatTo(unit, n) }) }
	for _, k := range advKeywords {
		rep("rep:"+k, k)
		// the keyword followed by a value-like run, repeated
		rep("val:"+k, k+"A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 ")
	}
	rep("pairs:password=secretvalue", "password=secretvalue\n")
	rep("pairs:no-separator", "password=s3cr3tvalue")
	rep("pairs:json", `{"password":"s3cr3t-v4lue"},`)
	rep("pairs:key=value", "key=9f8e7d6c5b4a39281706f5e4d3c2b1a0 ")
	add("value:key=longrun", func() string { return "key=" + redacttest.RandString(advRNG(), redacttest.B64Chars[:62], n) })
	add("value:password=longrun", func() string { return "password=" + redacttest.RandString(advRNG(), redacttest.B64Chars[:62], n) })
	add("digits", func() string { return redacttest.RandString(advRNG(), "0123456789", n) })
	rep("digit-groups", "4970 1012 3456 7890 ")
	rep("digits-spaced", "1 ")
	rep("phones", "+33 6 12 34 56 78 ")
	add("hex", func() string { return redacttest.RandString(advRNG(), redacttest.HexDigits, n) })
	add("base64", func() string { return redacttest.RandString(advRNG(), redacttest.B64Chars, n) })
	add("base64-after-h1", func() string { return "h1:" + redacttest.RandString(advRNG(), redacttest.B64Chars, n) })
	add("word-run", func() string { return redacttest.RandString(advRNG(), "abcdefghijklmnopqrstuvwxyz", n) })
	add("one-line", func() string { return strings.ReplaceAll(advClean(tb, n), "\n", " ") })
	rep("short-lines", "a\n")
	rep("newlines", "\n")
	rep("unicode", "é日本語🔑 ")
	rep("invalid-utf8", "\xff\xfekey=\xc3")
	rep("emails", "a.b@c.fr ")
	rep("at-run", "a@")
	rep("urls", "https://u:p@h ")
	add("url-colons", func() string { return "https://" + repeatTo("a:", n) })
	rep("iban-prefix", "FR7630006000011234567890189 ")

	rs, err := shared()
	if err != nil {
		tb.Fatal(err)
	}
	// Every pattern of the automaton (gating keywords, anchors), one after
	// the other, then each anchor on its own.
	pats := append([]string(nil), rs.ac.patterns...)
	sort.Strings(pats)
	rep("all-patterns", strings.Join(pats, ""))
	rep("all-patterns-spaced", strings.Join(pats, " = ")+" = ")
	seen := map[string]bool{}
	for _, r := range rs.rules {
		for _, a := range r.anchors {
			if seen[a.orig] {
				continue
			}
			seen[a.orig] = true
			rep("anchor:"+a.orig, a.orig)
		}
	}
	return in
}

func advRNG() *rand.Rand { return rand.New(rand.NewPCG(12, 4)) }

// advClean is the clean corpus cut or repeated to n bytes.
func advClean(tb testing.TB, n int) string {
	c := redacttest.BenchCorpus(tb)
	for len(c) < n {
		c += c
	}
	return c[:n]
}

// BenchmarkAdversarial runs Redact and MaskOutput once per iteration on
// every adversarial input of 1 MiB and prints the CPU cost of each in ms
// per MiB, then the worst (the target is under 100 ms). REDACT_ADV=substr
// keeps only the inputs whose name contains substr (for profiling).
func BenchmarkAdversarial(b *testing.B) {
	size := 1 << 20
	if s, err := strconv.Atoi(os.Getenv("REDACT_ADV_KIB")); err == nil && s > 0 {
		size = s << 10
	}
	r, err := New(Profile{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	var ins []advInput
	for _, in := range adversarialInputs(b, size) {
		if f := os.Getenv("REDACT_ADV"); f == "" || strings.Contains(in.name, f) {
			ins = append(ins, in)
		}
	}
	type cost struct{ redact, mask time.Duration }
	costs := make([]cost, len(ins))
	sizes := make([]int, len(ins))
	var total int64
	defer redacttest.LockThread()()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k, in := range ins {
			b.StopTimer()
			text := in.gen()
			sizes[k] = len(text)
			if i == 0 {
				r.Scan(text) // compile what this input needs, size the scratch memory
			}
			b.StartTimer()
			t0 := redacttest.ThreadCPU()
			if _, _, err := r.Redact(NewVault(), text); err != nil {
				var be *BlockedError
				if !errors.As(err, &be) {
					b.Fatalf("%s: %v", in.name, err)
				}
			}
			t1 := redacttest.ThreadCPU()
			r.MaskOutput(NewVault(), text)
			t2 := redacttest.ThreadCPU()
			costs[k].redact += t1 - t0
			costs[k].mask += t2 - t1
			total += int64(len(text))
		}
	}
	b.StopTimer()
	b.SetBytes(total / int64(b.N))
	perMiB := func(d time.Duration, n int) float64 {
		return float64(d.Nanoseconds()) / 1e6 / float64(b.N) / (float64(n) / (1 << 20))
	}
	worstR, worstM, worstName := 0.0, 0.0, ""
	for k, in := range ins {
		rm, mm := perMiB(costs[k].redact, sizes[k]), perMiB(costs[k].mask, sizes[k])
		fmt.Fprintf(os.Stderr, "adversarial %-48q Redact %8.1f ms/MiB  MaskOutput %8.1f ms/MiB\n", in.name, rm, mm)
		if max(rm, mm) > max(worstR, worstM) {
			worstName = in.name
		}
		worstR, worstM = max(worstR, rm), max(worstM, mm)
	}
	fmt.Fprintf(os.Stderr, "adversarial worst: Redact %.1f ms/MiB, MaskOutput %.1f ms/MiB (%q)\n", worstR, worstM, worstName)
	b.ReportMetric(worstR, "worst-Redact-ms/MiB")
	b.ReportMetric(worstM, "worst-MaskOutput-ms/MiB")
}

// TestAdversarial checks the findings on every adversarial input at a
// moderate size: redaction round-trips, findings are ordered, in bounds
// and disjoint, a repeated unit is detected as often in a text twice as
// long (no detection lost to a bound at scale), and the repeated secrets
// and personal data are all masked.
func TestAdversarial(t *testing.T) {
	t.Parallel()
	const n = 16 << 10
	r, err := New(Profile{Name: "adversarial"})
	if err != nil {
		t.Fatal(err)
	}
	small := adversarialInputs(t, n)
	large := adversarialInputs(t, 2*n)
	if len(small) < 100 {
		t.Fatalf("only %d adversarial inputs", len(small))
	}
	for k, in := range small {
		text := in.gen()
		v := NewVault()
		out, masked, err := r.Redact(v, text)
		if err != nil {
			t.Errorf("%s: %v", in.name, err)
			continue
		}
		if got := v.Restore(out); got != text {
			t.Errorf("%s: Restore(Redact(x)) != x", in.name)
		}
		for i, f := range masked {
			if f.Start < 0 || f.End > len(text) || f.Start >= f.End || (i > 0 && f.Start < masked[i-1].End) {
				t.Errorf("%s: bad finding %+v after %+v", in.name, f, masked[max(0, i-1)])
				break
			}
		}
		mo, sec := r.MaskOutput(NewVault(), text)
		for _, f := range sec {
			if f.Kind != KindSecret {
				t.Errorf("%s: MaskOutput masked a %s", in.name, f.Kind)
			}
		}
		if len(sec) == 0 && mo != text {
			t.Errorf("%s: MaskOutput changed a text without secrets", in.name)
		}
		// Twice the text, (about) twice the findings.
		if large[k].name != in.name {
			t.Fatalf("input lists differ: %s vs %s", in.name, large[k].name)
		}
		ltext := large[k].gen()
		c1, c2 := len(r.Scan(text)), len(r.Scan(ltext))
		want := float64(c1) * float64(len(ltext)) / float64(len(text))
		if d := float64(c2) - want; d < -(3+want/10) || d > 3+want/10 {
			t.Errorf("%s: %d findings in %d bytes but %d in %d", in.name, c1, len(text), c2, len(ltext))
		}
	}

	// What a repeated unit holds must be masked in every repetition.
	for _, c := range []struct {
		unit, value string
		each        bool // one finding per repetition
	}{
		// (A bare value runs up to 512 bytes: "password=x" repeated
		// without a separator is masked in 512-byte pieces, as before.)
		{"password=s3cr3tvalue\n", "s3cr3tvalue", true},
		{"password = 's3cr3t-v4lu3';", "s3cr3t-v4lu3", true},
		{`{"password":"s3cr3t-v4lue"},`, "s3cr3t-v4lue", true},
		{"key=9f8e7d6c5b4a39281706f5e4d3c2b1a0 ", "9f8e7d6c5b4a39281706f5e4d3c2b1a0", true},
		{"token: ghp_R2x1dGVuVG9rZW5WYWx1ZTEyMzQ1Njc4 ", "ghp_R2x1dGVuVG9rZW5WYWx1ZTEyMzQ1Njc4", true},
		{"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.Zm9vYmFy\n", "eyJhbGciOiJIUzI1NiJ9", true},
		{"postgres://app:Sup3rS3cret@db.internal/app ", "Sup3rS3cret", true},
		{"jean.dupont@cnrs.fr ", "jean.dupont@cnrs.fr", true},
		{"+33 6 12 34 56 78\n", "12 34 56 78", true},
		{"FR7630006000011234567890189 ", "FR7630006000011234567890189", true},
	} {
		text := repeatTo(c.unit, n)
		reps := strings.Count(text, c.unit)
		out, masked, err := r.Redact(NewVault(), text)
		if err != nil {
			t.Errorf("%q: %v", c.unit, err)
			continue
		}
		if strings.Contains(out, c.value) {
			t.Errorf("%q ×%d: %q left in the redacted text", c.unit, reps, c.value)
		}
		if c.each && len(masked) != reps {
			t.Errorf("%q ×%d: %d findings, want one per repetition", c.unit, reps, len(masked))
		}
	}
}

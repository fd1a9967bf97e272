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
)

// Adversarial inputs: texts built to make a scanner do per-hit work that
// grows with the input (repeated keywords and anchors, long runs of value
// bytes, one huge line, overlapping candidates). Redaction must stay linear
// on all of them (invariant 5); BenchmarkAdversarial prints the cost per MiB
// and TestAdversarial checks the findings stay right.

type advInput struct {
	name string
	text string
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
	rng := rand.New(rand.NewPCG(12, 4))
	var in []advInput
	add := func(name, text string) { in = append(in, advInput{name, text}) }
	for _, k := range advKeywords {
		add("rep:"+k, repeatTo(k, n))
		// the keyword followed by a value-like run, repeated
		add("val:"+k, repeatTo(k+"A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 ", n))
	}
	add("pairs:password=secretvalue", repeatTo("password=secretvalue\n", n))
	add("pairs:no-separator", repeatTo("password=s3cr3tvalue", n))
	add("pairs:json", repeatTo(`{"password":"s3cr3t-v4lue"},`, n))
	add("pairs:key=value", repeatTo("key=9f8e7d6c5b4a39281706f5e4d3c2b1a0 ", n))
	add("value:key=longrun", "key="+randString(rng, b64Chars[:62], n))
	add("value:password=longrun", "password="+randString(rng, b64Chars[:62], n))
	add("digits", randString(rng, "0123456789", n))
	add("digit-groups", repeatTo("4970 1012 3456 7890 ", n))
	add("digits-spaced", repeatTo("1 ", n))
	add("phones", repeatTo("+33 6 12 34 56 78 ", n))
	add("hex", randString(rng, hexDigits, n))
	add("base64", randString(rng, b64Chars, n))
	add("base64-after-h1", "h1:"+randString(rng, b64Chars, n))
	add("word-run", randString(rng, "abcdefghijklmnopqrstuvwxyz", n))
	add("one-line", strings.ReplaceAll(advClean(tb, n), "\n", " "))
	add("short-lines", repeatTo("a\n", n))
	add("newlines", repeatTo("\n", n))
	add("unicode", repeatTo("é日本語🔑 ", n))
	add("invalid-utf8", repeatTo("\xff\xfekey=\xc3", n))
	add("emails", repeatTo("a.b@c.fr ", n))
	add("at-run", repeatTo("a@", n))
	add("urls", repeatTo("https://u:p@h ", n))
	add("url-colons", "https://"+repeatTo("a:", n))
	add("iban-prefix", repeatTo("FR7630006000011234567890189 ", n))

	rs, err := shared()
	if err != nil {
		tb.Fatal(err)
	}
	// Every pattern of the automaton (gating keywords, anchors), one after
	// the other, then each anchor on its own.
	pats := append([]string(nil), rs.ac.patterns...)
	sort.Strings(pats)
	add("all-patterns", repeatTo(strings.Join(pats, ""), n))
	add("all-patterns-spaced", repeatTo(strings.Join(pats, " = ")+" = ", n))
	seen := map[string]bool{}
	for _, r := range rs.rules {
		for _, a := range r.anchors {
			if seen[a.orig] {
				continue
			}
			seen[a.orig] = true
			add("anchor:"+a.orig, repeatTo(a.orig, n))
		}
	}
	return in
}

// advClean is the clean corpus cut or repeated to n bytes.
func advClean(tb testing.TB, n int) string {
	c := benchCorpus(tb)
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
	for _, in := range ins {
		r.Scan(in.text[:4096]) // compile the expressions this input needs
	}
	type cost struct{ redact, mask time.Duration }
	costs := make([]cost, len(ins))
	var total int64
	defer lockThread()()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k, in := range ins {
			t0 := threadCPU()
			if _, _, err := r.Redact(NewVault(), in.text); err != nil {
				var be *BlockedError
				if !errors.As(err, &be) {
					b.Fatalf("%s: %v", in.name, err)
				}
			}
			t1 := threadCPU()
			r.MaskOutput(NewVault(), in.text)
			t2 := threadCPU()
			costs[k].redact += t1 - t0
			costs[k].mask += t2 - t1
			total += int64(len(in.text))
		}
	}
	b.StopTimer()
	b.SetBytes(total / int64(b.N))
	perMiB := func(d time.Duration, n int) float64 {
		return float64(d.Nanoseconds()) / 1e6 / float64(b.N) / (float64(n) / (1 << 20))
	}
	worstR, worstM, worstName := 0.0, 0.0, ""
	for k, in := range ins {
		rm, mm := perMiB(costs[k].redact, len(in.text)), perMiB(costs[k].mask, len(in.text))
		if b.N >= 1 {
			fmt.Fprintf(os.Stderr, "adversarial %-48q Redact %8.1f ms/MiB  MaskOutput %8.1f ms/MiB\n", in.name, rm, mm)
		}
		if max(rm, mm) > max(worstR, worstM) {
			worstName = in.name
		}
		worstR, worstM = max(worstR, rm), max(worstM, mm)
	}
	fmt.Fprintf(os.Stderr, "adversarial worst: Redact %.1f ms/MiB, MaskOutput %.1f ms/MiB (%q)\n", worstR, worstM, worstName)
	b.ReportMetric(worstR, "worst-Redact-ms/MiB")
	b.ReportMetric(worstM, "worst-MaskOutput-ms/MiB")
}

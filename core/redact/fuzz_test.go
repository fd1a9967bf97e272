package redact

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"timon.dev/timon/core/redact/redacttest"
)

// Fuzz targets (go test -fuzz=FuzzX ./core/redact/). Seeded from the
// detector tables, the golden input, the gitleaks corpus and the clean
// templates; without -fuzz they run on the seeds as ordinary tests.

func fuzzSeeds(f *testing.F) []string {
	var seeds []string
	for _, cs := range allDetCases {
		for _, c := range cs {
			seeds = append(seeds, c.text)
		}
	}
	samples := redacttest.GitleaksSamples(f)
	for i := 0; i < len(samples); i += 7 {
		seeds = append(seeds, samples[i])
	}
	files, _ := filepath.Glob("testdata/golden/*.input")
	more, _ := filepath.Glob("testdata/clean/*.txt")
	for _, p := range append(files, more...) {
		if b, err := os.ReadFile(p); err == nil {
			seeds = append(seeds, string(b))
		}
	}
	seeds = append(seeds,
		"",
		"[[EMAIL_1]] bob@lab.fr [[EMAIL_2]]",
		"[[[[SECRET_1]]]] password: hunter2! [[SECRET_1",
		"a@b.fr[[EMAIL_1]]a@b.fr",
		"\xff\xfe password=\x00abc123",
	)
	return seeds
}

var fuzzProfile = Profile{Name: "fuzz", Terms: []string{"ProjectX", "Opération Æther"}, Patterns: []Pattern{{"ticket", `\bPRJ-\d{4,6}\b`}}}

// FuzzMaskRestore: Restore(Redact(text)) == text, on a fresh vault and on a
// vault already used by another text of the conversation; the masked text
// never contains a detected value.
func FuzzMaskRestore(f *testing.F) {
	seeds := fuzzSeeds(f)
	for i, s := range seeds {
		f.Add(s, seeds[(i+1)%len(seeds)])
	}
	r := mustNew(f, fuzzProfile)
	f.Fuzz(func(t *testing.T, text, earlier string) {
		for _, v := range []*Vault{NewVault(), func() *Vault {
			v := NewVault()
			out, _, err := r.Redact(v, earlier)
			if err != nil {
				t.Fatal(err)
			}
			if v.Restore(out) != earlier {
				t.Fatalf("earlier text does not round-trip")
			}
			return v
		}()} {
			out, fs, err := r.Redact(v, text)
			if err != nil {
				t.Fatalf("Redact: %v", err)
			}
			if back := v.Restore(out); back != text {
				t.Fatalf("round trip:\n text %q\n out  %q\n back %q", text, out, back)
			}
			for _, fd := range fs {
				if fd.Start < 0 || fd.End > len(text) || fd.Start >= fd.End {
					t.Fatalf("bad finding %+v", fd)
				}
			}
		}
	})
}

// FuzzRestore: Restore never panics on arbitrary model output, changes
// nothing without an issued placeholder, and the streaming restorer gives
// the same output whatever the chunking.
func FuzzRestore(f *testing.F) {
	r := mustNew(f, fuzzProfile)
	v := NewVault()
	out, _, err := r.Redact(v, "a@lab.fr b@lab.fr 06 12 34 56 78 password: hunter2! ProjectX PRJ-12345 [[EMAIL_2]]")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range fuzzSeeds(f) {
		f.Add(s, []byte{3, 1, 4, 1, 5, 9, 2, 6})
	}
	f.Add(out, []byte{1})
	f.Add(out+" [[EMAIL_1"+out, []byte{2, 7, 1, 8, 2, 8})
	f.Add("[[[[EMAIL_1]]]] [[PHONE_1]]]]] [[TERM_1]][[TICKET_1]]", []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, answer string, cuts []byte) {
		whole := v.Restore(answer)
		if !strings.Contains(answer, "[[") && whole != answer {
			t.Fatalf("changed text without placeholders: %q -> %q", answer, whole)
		}
		var chunks []string
		rest := answer
		for _, c := range cuts {
			if rest == "" {
				break
			}
			n := int(c) % (len(rest) + 1)
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		chunks = append(chunks, rest)
		if got := streamRestore(t, v, chunks); got != whole {
			t.Fatalf("stream %q != whole %q (chunks %q)", got, whole, chunks)
		}
		// MaskOutput must not panic either, and keeps placeholders.
		masked, _ := r.MaskOutput(v, answer)
		if utf8.ValidString(answer) && strings.Contains(answer, "[[EMAIL_1]]") && !strings.Contains(masked, "[[EMAIL_1]]") {
			t.Fatalf("MaskOutput removed a placeholder: %q", masked)
		}
	})
}

// FuzzStreamRestore: byte-by-byte and random chunkings of a masked text
// restore to the original.
func FuzzStreamRestore(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint8(5))
	}
	r := mustNew(f, fuzzProfile)
	f.Fuzz(func(t *testing.T, text string, step uint8) {
		v := NewVault()
		out, _, err := r.Redact(v, text)
		if err != nil {
			t.Fatal(err)
		}
		n := int(step%16) + 1
		var chunks []string
		for i := 0; i < len(out); i += n {
			chunks = append(chunks, out[i:minInt(len(out), i+n)])
		}
		if got := streamRestore(t, v, chunks); got != text {
			t.Fatalf("stream restore (step %d): %q, want %q", n, got, text)
		}
	})
}

package jsonw

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

var stringSeeds = []string{
	"", "a", "plain ASCII text that is long enough to use the word path",
	`quote " backslash \ slash /`, "tab\tnew line\ncarriage\rbell\abs\bff\f\x00\x1f\x7f",
	"Bonjour <PERSON_1>, le résultat est 42 ✓ — voilà & co.", "emoji 😀 and 𝄞",
	"line sep \u2028 para sep \u2029", "bad utf8 \xff\xfe end", "truncated \xe2\x82",
	"surrogate-ish \xed\xa0\x80", strings.Repeat("Summarise the attached lab notebook page. ", 100),
	"<script>alert('x')</script>",
}

// encodeStd is encoding/json's encoding of v without HTML escaping.
func encodeStd(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendString(t *testing.T) {
	for _, s := range stringSeeds {
		if got, want := AppendString(nil, s), encodeStd(t, s); !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := AppendString([]byte("x"), s), append([]byte("x"), encodeStd(t, s)...); !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func BenchmarkAppendString(b *testing.B) {
	s := strings.Repeat("Summarise the attached lab notebook page. ", 100)[:4096]
	buf := make([]byte, 0, 8192)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = AppendString(buf[:0], s)
	}
}

package server

import "testing"

func TestLanguageOfPrefersAKnownExtension(t *testing.T) {
	for _, c := range []struct{ uri, id, want string }{
		{"file:///p/paper.tex", "go", "latex"}, // eglot: the first mode's id for every file
		{"file:///p/main.py", "go", "python"},
		{"file:///p/main.go", "go", "go"},
		{"file:///p/Makefile", "makefile", "makefile"},
		{"file:///p/notes.unknown", "plaintext", "plaintext"},
	} {
		if got := languageOf(c.uri, c.id); got != c.want {
			t.Errorf("languageOf(%s, %s) = %s, want %s", c.uri, c.id, got, c.want)
		}
	}
}

func TestFilterTextIsNeverEmpty(t *testing.T) {
	if got := filterText("\n\treturn a + b", "return a + b"); got != "return a + b" {
		t.Errorf("a suggestion starting on a new line filters on %q", got)
	}
	if got := filterText("ret\n\treturn", "ret"); got != "ret" {
		t.Errorf("filter text %q, want the typed word's line", got)
	}
}

package latex_test

import (
	"strings"
	"testing"

	"timon.dev/timon/core/latex"
)

func TestWordEdits(t *testing.T) {
	cases := []struct {
		old, new string
		want     []string // old text → new text of each edit
	}{
		{"the cat sat on the mat", "the dog sat on the mat", []string{"cat→dog"}},
		{"the cat sat on the mat", "the cat sat on the mat", nil},
		{"the cat sat", "the big cat sat", []string{"→big "}},
		{"Let $x$ be real.", "Let $x$ be a real number.", []string{"→a ", "→ number"}},
		{`Voir~\cite{k} : c'est évident.`, `Voir~\cite{k} : c'est clair.`, []string{"évident→clair"}},
		{"a\nb", "a b", []string{"\n→ "}},
		{"", "new", []string{"→new"}},
		{"old", "", []string{"old→"}},
	}
	for _, c := range cases {
		edits := latex.WordEdits(c.old, c.new)
		var got []string
		for _, e := range edits {
			got = append(got, c.old[e.Start:e.End]+"→"+e.NewText)
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%q → %q: edits %q, want %q", c.old, c.new, got, c.want)
		}
		if applied, err := latex.ApplyEdits(c.old, edits); err != nil || applied != c.new {
			t.Errorf("%q → %q: applied %q (%v)", c.old, c.new, applied, err)
		}
	}
}

func TestWordEditsNeverSplitWordsOrCommands(t *testing.T) {
	old := `The \emph{quick} brown fox jumps over \textbf{lazy} dogs.`
	new := `The \emph{quickest} brown fox leaps over \textit{lazy} dogs.`
	for _, e := range latex.WordEdits(old, new) {
		for _, at := range []int{e.Start, e.End} {
			if at > 0 && at < len(old) && isWordByte(old[at-1]) && isWordByte(old[at]) {
				t.Errorf("edit [%d,%d) cuts a word: %q|%q", e.Start, e.End, old[:at], old[at:])
			}
		}
	}
}

func isWordByte(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func TestApplyEditsRefusesBadEdits(t *testing.T) {
	if _, err := latex.ApplyEdits("abc", []latex.Edit{{Start: 2, End: 3}, {Start: 0, End: 1}}); err == nil {
		t.Error("out-of-order edits were applied")
	}
	if _, err := latex.ApplyEdits("abc", []latex.Edit{{Start: 2, End: 9}}); err == nil {
		t.Error("an out-of-range edit was applied")
	}
}

// TestWordEditsLargeRewrite: a whole rewrite of a long text stays exact and
// does not take quadratic memory or time beyond the budget.
func TestWordEditsLargeRewrite(t *testing.T) {
	t.Parallel()
	var a, b strings.Builder
	for i := range 40000 {
		a.WriteString("alpha ")
		if i%2 == 0 {
			b.WriteString("beta ")
		} else {
			b.WriteString("gamma ")
		}
	}
	edits := latex.WordEdits(a.String(), b.String())
	got, err := latex.ApplyEdits(a.String(), edits)
	if err != nil || got != b.String() {
		t.Fatal("a large rewrite is not exact")
	}
}

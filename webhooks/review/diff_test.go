package review

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

const sampleDiff = `@@ -1,5 +1,7 @@ package main
 package main
 
-import "fmt"
+import (
+	"fmt"
+)
 
 func main() {
@@ -10,3 +12,2 @@ func helper() {
 	a := 1
-	b := 2
 	return
\ No newline at end of file
`

func TestParseHunksNumbersEveryLine(t *testing.T) {
	hs, err := ParseHunks(sampleDiff)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 {
		t.Fatalf("got %d hunks, want 2", len(hs))
	}
	h := hs[0]
	if h.OldStart != 1 || h.OldLines != 5 || h.NewStart != 1 || h.NewLines != 7 || h.Section != "package main" {
		t.Fatalf("header parsed as %+v", h)
	}
	want := []Line{
		{Context, 1, 1, "package main"},
		{Context, 2, 2, ""},
		{Removed, 3, 0, `import "fmt"`},
		{Added, 0, 3, "import ("},
		{Added, 0, 4, "\t\"fmt\""},
		{Added, 0, 5, ")"},
		{Context, 4, 6, ""},
		{Context, 5, 7, "func main() {"},
	}
	if len(h.Lines) != len(want) {
		t.Fatalf("got %d lines, want %d: %+v", len(h.Lines), len(want), h.Lines)
	}
	for i, l := range want {
		if h.Lines[i] != l {
			t.Errorf("line %d: got %+v, want %+v", i, h.Lines[i], l)
		}
	}
	second := hs[1].Lines
	if second[1] != (Line{Removed, 11, 0, "\tb := 2"}) || second[2] != (Line{Context, 12, 13, "\treturn"}) {
		t.Fatalf("second hunk: %+v", second)
	}
}

func TestParseHunksRefusesWhatIsNotADiff(t *testing.T) {
	for name, diff := range map[string]string{
		"no header":       "+added\n",
		"bad header":      "@@ -x +1 @@\n+a\n",
		"too many added":  "@@ -1,1 +1,1 @@\n+a\n+b\n",
		"ends early":      "@@ -1,3 +1,3 @@\n a\n",
		"bad line marker": "@@ -1,1 +1,1 @@\n*a\n",
	} {
		if _, err := ParseHunks(diff); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

// The shared fixtures carry GitLab's documented diff payloads: the client
// library's (one line per hunk, as it appears in its tests) and the
// documentation's verbatim one (backslash-escaped, not a valid diff).
func TestParseHunksOnDocumentedPayloads(t *testing.T) {
	var diffs []FileDiff
	data, err := os.ReadFile("../gitlab/gitlabtest/fixtures/api_list_merge_request_diffs.client-go.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw []struct {
		OldPath string `json:"old_path"`
		NewPath string `json:"new_path"`
		Diff    string `json:"diff"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, r := range raw {
		diffs = append(diffs, FileDiff{OldPath: r.OldPath, NewPath: r.NewPath, Diff: r.Diff})
	}
	// "@@ -1 +1 @@ -Title +README" is a header whose section text holds
	// the lines, and whose counts (1 and 1) are never met.
	if _, err := ParseHunks(diffs[0].Diff); err == nil || !strings.Contains(err.Error(), "ends early") {
		t.Errorf("README diff: got %v, want a hunk that ends early", err)
	}
	if _, err := ParseHunks(diffs[1].Diff); err == nil {
		t.Errorf("VERSION diff %q parsed", diffs[1].Diff)
	}

	// The documented version payload has a real diff (a new LICENSE).
	data, err = os.ReadFile("../gitlab/gitlabtest/fixtures/api_get_merge_request_version.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Diffs []struct {
			Diff string `json:"diff"`
		} `json:"diffs"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	hs, err := ParseHunks(v.Diffs[0].Diff)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || len(hs[0].Lines) != 21 || hs[0].Lines[20].NewLine != 21 || hs[0].Lines[2].Text != "Copyright (c) 2018 Administrator" {
		t.Fatalf("LICENSE hunk: %+v", hs)
	}
}

func TestPositionsFollowTheLineKind(t *testing.T) {
	hs, _ := ParseHunks(sampleDiff)
	f := &File{FileDiff: FileDiff{OldPath: "main.go", NewPath: "main.go"}, Hunks: hs}
	refs := DiffRefs{BaseSHA: "b", StartSHA: "s", HeadSHA: "h"}
	cases := []struct {
		quote            string
		oldLine, newLine int
	}{
		{"import (", 0, 3},               // added: new_line only
		{`import "fmt"`, 3, 0},           // removed: old_line only
		{"func main() {", 5, 7},          // context: both
		{"+ import (", 0, 3},             // the model copied the marker
		{"   import   (  ", 0, 3},        // spacing differs
		{"import\u200b (", 0, 3},         // invisible characters
		{"-\tb := 2", 11, 0},             // removed, with marker
		{"package main", 1, 1},           // context
		{"not in the diff", -1, -1},      // unknown
		{"", -1, -1},                     // empty
		{"return", 12, 13},               // context in the second hunk
		{"\t\"fmt\"", 0, 4},              // added, tab kept
		{"  \"fmt\"", 0, 4},              // added, spaces for the tab
		{"}", -1, -1},                    // nothing
		{"a := 1", 10, 12},               // context
		{"import (\n", 0, 3},             // trailing newline
		{"  + import (", 0, 3},           // leading spaces then marker
		{"+import (", 0, 3},              // marker without a space
		{"-import \"fmt\"", 3, 0},        // removed marker without space
		{"import \"fmt\" ", 3, 0},        // trailing space
		{"IMPORT (", -1, -1},             // case matters
		{"import (  // comment", -1, -1}, // more text
		{"fmt", -1, -1},                  // part of a line
		{"package", -1, -1},              // part of a line
		{"func  main()  {", 5, 7},        // inner spacing
		{"\u202efunc main() {", 5, 7},    // bidi control
		{"func main() {\u2066", 5, 7},    // isolate
		{"import (\u00ad", 0, 3},         // soft hyphen
		{"import (\U000E0041", 0, 3},     // tag character
		{"\ufeffpackage main", 1, 1},     // BOM
		{" ", -1, -1},                    // blank
		{"+", -1, -1},                    // marker only
		{"-", -1, -1},                    // marker only
		{"\t", -1, -1},                   // tab only
		{"import", -1, -1},               // prefix of a line
		{"(", -1, -1},                    // suffix of a line
		{"func main() {}", -1, -1},       // different
		{"package main\n", 1, 1},         // trailing newline
		{"package main\r\n", 1, 1},       // CRLF
		{"  package main", 1, 1},         // indentation
		{"package  main", 1, 1},          // double space
		{"package\tmain", 1, 1},          // tab instead of space
		{"packagemain", -1, -1},          // no space
		{"import (\t", 0, 3},             // trailing tab
		{"\"fmt\"", 0, 4},                // added without indentation
		{"\t\t\"fmt\"", 0, 4},            // more indentation
		{")", 0, 5},                      // closing paren
		{"+)", 0, 5},                     // closing paren with marker
		{"+ )", 0, 5},                    // closing paren with marker and space
		{"- )", 0, 5},                    // the marker is dropped: the added ")" matches
		{"a := 1\n\n", 10, 12},           // trailing blank lines
		{"  a := 1  ", 10, 12},           // spaces around
		{"a:=1", -1, -1},                 // spacing inside tokens matters
		{"b := 2", 11, 0},                // removed, without marker
		{"return\u200d", 12, 13},         // zero-width joiner
		{"\u2067return", 12, 13},         // right-to-left isolate
		{"ret\u200burn", 12, 13},         // zero-width space inside
		{"re turn", -1, -1},              // a real space inside
		{"import (\u202c", 0, 3},         // pop directional formatting
		{"import (\u2069", 0, 3},         // pop directional isolate
		{"import (\u200e", 0, 3},         // left-to-right mark
		{"import (\u200f", 0, 3},         // right-to-left mark
		{"import (\u061c", 0, 3},         // Arabic letter mark
		{"import (\u2060", 0, 3},         // word joiner
		{"import (\u180e", 0, 3},         // Mongolian vowel separator
		{"import (\u2062", 0, 3},         // invisible times
		{"import (\U000E007F", 0, 3},     // cancel tag
		{"import (\u200c", 0, 3},         // zero-width non-joiner
		{"import (\ufeff", 0, 3},         // BOM at the end
		{"import (\u202a", 0, 3},         // left-to-right embedding
		{"import (\u202b", 0, 3},         // right-to-left embedding
		{"import (\u202d", 0, 3},         // left-to-right override
		{"import (\u2066\u2069", 0, 3},   // an empty isolate
		{"\u202eimport (\u202c", 0, 3},   // an override around the line
		{"import (\u00a0", 0, 3},         // no-break space counts as space
		{"import\u00a0(", 0, 3},          // no-break space inside
		{"import\u3000(", 0, 3},          // ideographic space
		{"import\u2003(", 0, 3},          // em space
		{"import\u2028(", 0, 3},          // line separator is white space
		{"import\u0085(", 0, 3},          // next line is white space
		{"import\u000b(", 0, 3},          // vertical tab
		{"import\u000c(", 0, 3},          // form feed
		{"import\u001c(", -1, -1},        // file separator is not space
		{"import\u00b7(", -1, -1},        // middle dot is not space
		{"import (\u0301", -1, -1},       // a combining accent is visible
		{"ímport (", -1, -1},             // accented letter
		{"import（", -1, -1},              // fullwidth parenthesis
		{"іmport (", -1, -1},             // Cyrillic і: a homoglyph is a different line
		{"import (" + strings.Repeat(" ", 100), 0, 3},
	}
	for _, c := range cases {
		l, ok := Locate(f, c.quote)
		if c.oldLine < 0 {
			if ok {
				t.Errorf("Locate(%q) found %+v, want nothing", c.quote, l)
			}
			continue
		}
		if !ok {
			t.Errorf("Locate(%q) found nothing", c.quote)
			continue
		}
		p := PositionOf(refs, f, l)
		if p.OldLine != c.oldLine || p.NewLine != c.newLine || p.OldPath != "main.go" || p.NewPath != "main.go" || p.DiffRefs != refs {
			t.Errorf("Locate(%q): position %+v, want old %d new %d", c.quote, p, c.oldLine, c.newLine)
		}
	}
}

func TestLocatePrefersAddedLines(t *testing.T) {
	hs, err := ParseHunks("@@ -1,3 +1,4 @@\n x := 1\n-x := 1\n+y := 2\n+x := 1\n x := 1\n")
	if err != nil {
		t.Fatal(err)
	}
	f := &File{FileDiff: FileDiff{NewPath: "a.go"}, Hunks: hs}
	l, ok := Locate(f, "x := 1")
	if !ok || l.Kind != Added || l.NewLine != 3 {
		t.Fatalf("got %+v %v, want the added line 3", l, ok)
	}
	p := PositionOf(DiffRefs{}, f, l)
	if p.OldPath != "a.go" || p.NewPath != "a.go" {
		t.Fatalf("paths not both set: %+v", p)
	}
}

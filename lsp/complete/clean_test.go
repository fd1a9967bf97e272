package complete

import (
	"strings"
	"testing"
)

// at splits a document written with | at the cursor.
func at(doc string) (text string, offset int) {
	i := strings.Index(doc, "|")
	return doc[:i] + doc[i+1:], i
}

func TestClean(t *testing.T) {
	cases := []struct {
		name, doc, lang, answer, want string
	}{
		{"block body, closing brace already there",
			"func add(a, b int) int {|\n}\n", "go", "\n\treturn a + b\n}", "\n\treturn a + b"},
		{"block body, closing brace missing",
			"func add(a, b int) int {|", "go", "\n\treturn a + b\n}\n\nfunc sub(a, b int) int {\n\treturn a - b\n}", "\n\treturn a + b\n}"},
		{"stops at the end of the enclosing block",
			"func f() {\n\tif ok {\n\t\t|\n\t}\n}", "go", "log.Print(\"ok\")\n\t}\n\tdone()\n}", "log.Print(\"ok\")"},
		{"inside call parentheses",
			"fmt.Println(|)\n", "go", `"hello", name)`, `"hello", name`},
		{"no overlap with the rest of the line",
			"x := compute(|) + 1\n", "go", "a, b) + 1", "a, b"},
		{"echo of the current line removed",
			"\tresult := |", "go", "\tresult := strings.TrimSpace(s)", "strings.TrimSpace(s)"},
		{"repeated lines cut",
			"def f():\n    |", "python", "print(1)\n    print(1)\n    print(1)", "print(1)"},
		{"python dedent ends the block",
			"def f(x):\n    |\n\ndef g():\n    pass\n", "python", "y = x * 2\n    return y\n\nclass A:\n    pass", "y = x * 2\n    return y"},
		{"python new block after a colon",
			"def f(x):|", "python", "\n    return x\ndef g():\n    pass", "\n    return x"},
		{"existing following lines not repeated",
			"a := 1\n|\nfmt.Println(a, b)\n", "go", "b := 2\nfmt.Println(a, b)\nreturn", "b := 2"},
		{"the whole suggestion already follows",
			"|\nreturn nil\n", "go", "return nil", ""},
		{"too short",
			"x := |", "go", "1", ""},
		{"blank",
			"x := |", "go", "  \n ", ""},
		{"unclosed bracket from a cut answer",
			"func f() {\n\t|\n}", "go", "a := 1\n\tfor i := range xs {\n\t\tsum += i", "a := 1"},
		{"mismatched bracket cut",
			"|", "go", "call(a, b]", "call(a, b"},
		{"markdown fence removed",
			"x := |", "go", "```go\nstrings.ToUpper(s)\n```", "strings.ToUpper(s)"},
		{"CRLF normalised",
			"if err != nil {|\r\n}", "go", "\r\n\treturn err\r\n}", "\n\treturn err"},
		{"closing brace before the cursor's own line kept with its newline",
			"func f() {\n|}\n", "go", "\treturn\n}", "\treturn\n"},
		{"brackets inside strings ignored",
			"s := |", "go", `"a(b" + "]"`, `"a(b" + "]"`},
		{"two blank lines end the suggestion",
			"|", "go", "x := 1\n\n\nfunc other() {}", "x := 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text, off := at(c.doc)
			got := Clean(c.answer, around(text, off, c.lang))
			if got != c.want {
				t.Fatalf("Clean(%q) = %q, want %q", c.answer, got, c.want)
			}
		})
	}
}

func TestInCommentOrString(t *testing.T) {
	cases := []struct {
		lang, doc string
		want      bool
	}{
		{"go", "x := 1 // the |", true},
		{"go", "x := 1 // c\ny := |", false},
		{"go", "/* a\n b |", true},
		{"go", "/* a */ b |", false},
		{"go", `s := "abc |`, true},
		{"go", `s := "a\"b" + |`, false},
		{"go", "s := `raw\n|", true},
		{"go", "r := 'a'; |", false},
		{"go", `u := "http://x" + |`, false},
		{"rust", "fn f<'a>(x: &'a str) { |", false},
		{"python", "x = 1  # note |", true},
		{"python", "s = \"\"\"doc\nmore |", true},
		{"python", "s = \"\"\"doc\"\"\"\n|", false},
		{"python", "s = 'it''s' + |", false},
		{"javascript", "const s = 'a long string |", true},
		{"shellscript", "echo ${#arr[@]} |", false},
		{"shellscript", "echo hi # |", true},
		{"lua", "--[[ block\n |", true},
		{"sql", "SELECT 1 -- why |", true},
		{"latex", `50\% of the |`, false},
		{"latex", "text % a comment |", true},
		{"plaintext", "// not code |", false},
		{"clojure", "(defn f [] ; note |", true},
	}
	for _, c := range cases {
		text, off := at(c.doc)
		if got := InCommentOrString(text[:off], c.lang); got != c.want {
			t.Errorf("%s %q: got %v, want %v", c.lang, c.doc, got, c.want)
		}
	}
}

func TestWindowBudgetsAndCutsAtLines(t *testing.T) {
	var b strings.Builder
	for i := range 1000 {
		b.WriteString("line ")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString("\n")
	}
	text := b.String()
	off := len(text) / 2
	prefix, suffix := Window(text, off, 100, 50)
	if len(prefix) > 400 || len(suffix) > 200 {
		t.Fatalf("over budget: %d, %d", len(prefix), len(suffix))
	}
	if len(prefix) < 300 || len(suffix) < 150 {
		t.Fatalf("budget badly used: %d, %d", len(prefix), len(suffix))
	}
	if !strings.HasPrefix(prefix, "line") || !strings.HasSuffix(text[:off], prefix) {
		t.Fatalf("prefix must start at a line start and end at the cursor: %q", prefix[:20])
	}
	if !strings.HasSuffix(suffix, "\n") || !strings.HasPrefix(text[off:], suffix) {
		t.Fatalf("suffix must end at a line end: %q", suffix[len(suffix)-20:])
	}
	// A single huge line is cut on a rune boundary.
	long := strings.Repeat("é", 1000)
	p, s := Window(long, 1000, 10, 10)
	if !strings.HasSuffix(long[:1000], p) || len(p) > 40 || !strings.HasPrefix(long[1000:], s) || len(s) > 40 {
		t.Fatalf("long line: %d %d", len(p), len(s))
	}
	for _, r := range p + s {
		if r == '\uFFFD' {
			t.Fatal("window split a character")
		}
	}
	// Small texts are sent whole.
	p, s = Window("ab\ncd", 3, 100, 100)
	if p != "ab\n" || s != "cd" {
		t.Fatalf("%q %q", p, s)
	}
}

package actions

import (
	"strings"
	"testing"

	"timon.dev/timon/core"
)

func TestOffered(t *testing.T) {
	if got := Offered("go", "a.go", true); got != nil {
		t.Fatalf("code without a selection: %v", got)
	}
	if got := Offered("go", "a.go", false); len(got) != 4 || got[0].ID != Explain {
		t.Fatalf("code: %v", got)
	}
	for _, c := range [][2]string{{"latex", "x"}, {"", "/p/paper.tex"}, {"plaintext", "thesis.TEX"}} {
		if got := Offered(c[0], c[1], true); len(got) != 5 || !got[0].LaTeX {
			t.Fatalf("%v: %v", c, got)
		}
	}
	for _, s := range All() {
		if got, ok := ByCommand(s.Command()); !ok || got.ID != s.ID {
			t.Fatalf("%s: command %s does not find it", s.ID, s.Command())
		}
	}
	if _, ok := ByCommand("other.fix"); ok {
		t.Fatal("a foreign command must not be found")
	}
}

func TestTargetIsTheSelectionOrTheParagraph(t *testing.T) {
	text := "\\section{Intro}\n\nFirst line of the\nparagraph here.\r\n\nSecond one.\n"
	cur := strings.Index(text, "line")
	s, e, ok := Target(text, cur, cur, true)
	if !ok || text[s:e] != "First line of the\nparagraph here." {
		t.Fatalf("paragraph: %q", text[s:e])
	}
	cur = strings.Index(text, "Second")
	if s, e, ok = Target(text, cur, cur, true); !ok || text[s:e] != "Second one." {
		t.Fatalf("last paragraph: %q", text[s:e])
	}
	if s, e, ok = Target(text, 0, 0, true); !ok || text[s:e] != "\\section{Intro}" {
		t.Fatalf("first paragraph: %q", text[s:e])
	}
	if _, _, ok = Target(text, 16, 16, true); ok {
		t.Fatal("a blank line has no paragraph")
	}
	if _, _, ok = Target("func f() {}", 3, 3, false); ok {
		t.Fatal("code needs a selection")
	}
	if s, e, ok = Target("func f() {}", 0, 4, false); !ok || s != 0 || e != 4 {
		t.Fatal("selection")
	}
}

func TestRequests(t *testing.T) {
	p := core.Principal{UserID: "u", Integration: core.IntegrationLSP}
	o := core.Origin{Path: "a/b.go", Language: "go"}
	exp, _ := Lookup(Explain)
	r := Request(exp, "x := 1", "", o, p)
	if r.Task != core.TaskExplain || r.Input != "x := 1" || r.Instruction != "" || r.Validate() != nil {
		t.Fatalf("explain: %+v", r)
	}
	ref, _ := Lookup(Refactor)
	r = Request(ref, "x := 1", " use a map ", o, p)
	if r.Task != core.TaskRewrite || r.Format != core.FormatText || !strings.Contains(r.Instruction, "go code") ||
		!strings.HasSuffix(r.Instruction, "The author adds: use a map") || r.Validate() != nil {
		t.Fatalf("refactor: %+v", r)
	}
	gr, _ := Lookup(Grammar)
	r = Request(gr, "Teh text.", "", core.Origin{Language: "latex"}, p)
	if r.Task != core.TaskRewrite || r.Format != core.FormatLaTeX || r.Instruction != "grammar" || r.Validate() != nil {
		t.Fatalf("grammar: %+v", r)
	}
	r = Request(gr, "Teh text.", "British spelling", core.Origin{Language: "latex"}, p)
	if !strings.HasPrefix(r.Instruction, "Fix grammar") || !strings.HasSuffix(r.Instruction, "British spelling") {
		t.Fatalf("grammar with instruction: %+v", r)
	}
}

func TestEdits(t *testing.T) {
	gr, _ := Lookup(Grammar)
	text := "Intro.\n\nTeh results in \\cite{a} are good.\n"
	s := strings.Index(text, "Teh")
	e := strings.Index(text, "good.") + len("good.")
	edits := Edits(gr, text, s, e, "The results in \\cite{a} are good.")
	if len(edits) != 1 || text[edits[0].Start:edits[0].End] != "Teh" || edits[0].NewText != "The" {
		t.Fatalf("latex edits: %+v", edits)
	}
	if got := Edits(gr, text, s, e, text[s:e]); len(got) != 0 {
		t.Fatalf("unchanged answer: %+v", got)
	}
	fix, _ := Lookup(Fix)
	code := "func f() {\n\treturn 1\n}\n"
	sel := strings.Index(code, "\treturn")
	edits = Edits(fix, code, sel, sel+len("\treturn 1\n"), "```go\nreturn 2\n```")
	if len(edits) != 1 || edits[0].NewText != "\treturn 2\n" {
		t.Fatalf("code edits: %+v", edits)
	}
	if got := Edits(fix, code, sel, sel+len("\treturn 1\n"), "return 1"); got != nil {
		t.Fatalf("unchanged code: %+v", got)
	}
}

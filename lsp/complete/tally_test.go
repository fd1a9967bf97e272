package complete

import (
	"context"
	"errors"
	"testing"

	"timon.dev/timon/core"
)

func TestTallyKeepsCountsAReportFailedToDeliver(t *testing.T) {
	var delivered [][]core.SuggestionCount
	fail := true
	tl := NewTally(func(_ context.Context, cs []core.SuggestionCount) error {
		if fail {
			return errors.New("hub unreachable")
		}
		delivered = append(delivered, cs)
		return nil
	})
	id := tl.Shown("Go")
	tl.Shown("latex")
	accepted := func(id string) bool { _, ok := tl.Accepted(id); return ok }
	if lang, ok := tl.Accepted(id); !ok || lang != "go" || accepted(id) || accepted("unknown") {
		t.Fatal("an acceptance counts once, for an issued suggestion only")
	}
	if err := tl.Flush(context.Background()); err == nil {
		t.Fatal("the failure must be returned")
	}
	tl.Shown("go")
	fail = false
	if err := tl.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []core.SuggestionCount{{Language: "go", Shown: 2, Accepted: 1}, {Language: "latex", Shown: 1}}
	if len(delivered) != 1 || len(delivered[0]) != 2 || delivered[0][0] != want[0] || delivered[0][1] != want[1] {
		t.Fatalf("delivered %+v, want %+v", delivered, want)
	}
	if err := tl.Flush(context.Background()); err != nil || len(delivered) != 1 {
		t.Fatal("nothing pending: nothing reported")
	}
}

func TestTallyForgetsOldSuggestions(t *testing.T) {
	tl := NewTally(nil)
	first := tl.Shown("go")
	for range maxIssued {
		tl.Shown("go")
	}
	if _, ok := tl.Accepted(first); ok {
		t.Fatal("a suggestion older than the last maxIssued is forgotten")
	}
	if p := tl.Pending(); len(p) != 1 || p[0].Shown != maxIssued+1 {
		t.Fatalf("pending %+v", p)
	}
}

func TestTallyCountsAnInsertedOfferOnce(t *testing.T) {
	tl := NewTally(nil)
	id := tl.Shown("go")
	tl.Offered("f.go", id, 4, "return x")
	if _, ok := tl.Changed("f.go", "abc\nreturn"); ok {
		t.Fatal("half the suggestion is not its acceptance")
	}
	if _, ok := tl.Changed("g.go", "abc\nreturn x"); ok {
		t.Fatal("another document")
	}
	if lang, ok := tl.Changed("f.go", "abc\nreturn x\n}"); !ok || lang != "go" {
		t.Fatal("the suggestion inserted where offered is accepted")
	}
	if _, ok := tl.Accepted(id); ok {
		t.Fatal("the command after the edit counts nothing more")
	}
	id2 := tl.Shown("go")
	tl.Offered("f.go", id2, 0, "x")
	tl.Forget("f.go")
	if _, ok := tl.Changed("f.go", "x"); ok {
		t.Fatal("a closed document's offer is forgotten")
	}
	if p := tl.Pending(); len(p) != 1 || p[0].Shown != 2 || p[0].Accepted != 1 {
		t.Fatalf("pending %+v", p)
	}
}

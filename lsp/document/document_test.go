package document

import (
	"testing"

	"go.lsp.dev/protocol"
)

func pos(l, c uint32) protocol.Position { return protocol.Position{Line: l, Character: c} }

func TestOffsetAndPositionInEachEncoding(t *testing.T) {
	// "é" is 2 bytes, 1 UTF-16 unit; "😀" is 4 bytes, 2 UTF-16 units, 1 rune.
	d := New("file:///a.tex", "latex", 1, "café 😀 x\r\nsecond\rthird\n")
	cases := []struct {
		enc  Encoding
		p    protocol.Position
		want int
	}{
		{UTF16, pos(0, 0), 0},
		{UTF16, pos(0, 4), 5},   // after é
		{UTF16, pos(0, 5), 6},   // after the space
		{UTF16, pos(0, 7), 10},  // after the emoji (2 units)
		{UTF16, pos(0, 6), 6},   // inside the surrogate pair: start of the emoji
		{UTF16, pos(0, 99), 12}, // past the end of the line: its end, before \r\n
		{UTF8, pos(0, 5), 5},
		{UTF8, pos(0, 8), 6}, // inside the emoji's bytes: its start
		{UTF32, pos(0, 6), 10},
		{UTF16, pos(1, 3), 17},
		{UTF16, pos(2, 5), 26},
		{UTF16, pos(3, 0), 27},
		{UTF16, pos(9, 0), 27}, // past the last line: the end
	}
	for _, c := range cases {
		if got := d.Offset(c.p, c.enc); got != c.want {
			t.Errorf("Offset(%v, %v) = %d, want %d", c.p, c.enc, got, c.want)
		}
	}
	back := []struct {
		enc  Encoding
		off  int
		want protocol.Position
	}{
		{UTF16, 10, pos(0, 7)},
		{UTF8, 10, pos(0, 10)},
		{UTF32, 10, pos(0, 6)},
		{UTF16, 13, pos(0, 9)}, // between \r and \n: the line's end
		{UTF16, 17, pos(1, 3)},
		{UTF16, 27, pos(3, 0)},
		{UTF16, 500, pos(3, 0)},
	}
	for _, c := range back {
		if got := d.Position(c.off, c.enc); got != c.want {
			t.Errorf("Position(%d, %v) = %v, want %v", c.off, c.enc, got, c.want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	if Negotiate(nil) != UTF16 {
		t.Fatal("no offer must mean utf-16")
	}
	if Negotiate([]protocol.PositionEncodingKind{"utf-16"}) != UTF16 {
		t.Fatal("utf-16 only")
	}
	if Negotiate([]protocol.PositionEncodingKind{"utf-16", "utf-8"}) != UTF8 {
		t.Fatal("utf-8 offered must be chosen")
	}
	if Negotiate([]protocol.PositionEncodingKind{"utf-32"}) != UTF16 {
		t.Fatal("utf-32 only must fall back to utf-16")
	}
}

func TestIncrementalChangesApplyInOrder(t *testing.T) {
	s := NewStore()
	s.Open(New("u", "go", 1, "func add(a, b int) int {\n}\n"))
	// Type "ré😀" after the brace, one change per character, as a client does.
	steps := []struct {
		line, col uint32
		text      string
	}{{0, 24, "\n\t"}, {1, 1, "r"}, {1, 2, "é"}, {1, 3, "😀"}}
	for i, st := range steps {
		ch := &protocol.TextDocumentContentChangePartial{Range: protocol.Range{Start: pos(st.line, st.col), End: pos(st.line, st.col)}, Text: st.text}
		if _, err := s.Change("u", int32(i+2), []protocol.TextDocumentContentChangeEvent{ch}, UTF16); err != nil {
			t.Fatal(err)
		}
	}
	d := s.Get("u")
	if want := "func add(a, b int) int {\n\tré😀\n}\n"; d.Text != want || d.Version != 5 {
		t.Fatalf("got %q v%d, want %q v5", d.Text, d.Version, want)
	}
	// Replace "ré😀" (4 UTF-16 units from column 1) with a whole-document
	// change followed by a partial one in the same notification.
	chs := []protocol.TextDocumentContentChangeEvent{
		&protocol.TextDocumentContentChangeWholeDocument{Text: "x\n"},
		&protocol.TextDocumentContentChangePartial{Range: protocol.Range{Start: pos(0, 1), End: pos(1, 0)}, Text: "yz"},
	}
	d, err := s.Change("u", 6, chs, UTF16)
	if err != nil || d.Text != "xyz" {
		t.Fatalf("got %q %v", d.Text, err)
	}
	if _, err := s.Change("u", 3, chs, UTF16); err == nil {
		t.Fatal("an older version must be refused")
	}
	if _, err := s.Change("nope", 3, chs, UTF16); err == nil {
		t.Fatal("a change to a closed document must be refused")
	}
	s.Close("u")
	if s.Get("u") != nil || s.Len() != 0 {
		t.Fatal("close must forget the document")
	}
}

// Package document holds the text of the documents an editor has open in
// timon lsp: immutable snapshots replaced on every change, positions
// converted between LSP line/character pairs (in the negotiated encoding:
// UTF-16 by default, UTF-8 or UTF-32 when both sides agree) and byte
// offsets, and incremental changes applied in order.
package document

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"go.lsp.dev/protocol"
)

// Encoding is how the character of a position counts.
type Encoding int

// Encodings.
const (
	UTF16 Encoding = iota // the LSP default: UTF-16 code units
	UTF8                  // bytes
	UTF32                 // code points
)

// Kind is the encoding's LSP name.
func (e Encoding) Kind() protocol.PositionEncodingKind {
	switch e {
	case UTF8:
		return protocol.PositionEncodingKindUTF8
	case UTF32:
		return protocol.PositionEncodingKindUTF32
	}
	return protocol.PositionEncodingKindUTF16
}

// Negotiate picks the encoding from what the client offers
// (general.positionEncodings): UTF-8 when offered (no conversion), else
// UTF-16, which every client supports and which is the default when the
// client says nothing.
func Negotiate(offered []protocol.PositionEncodingKind) Encoding {
	if slices.Contains(offered, protocol.PositionEncodingKindUTF8) {
		return UTF8
	}
	return UTF16
}

// Doc is one snapshot of an open document. It is never modified: a change
// makes a new Doc, so a snapshot can be read by any goroutine.
type Doc struct {
	URI      string
	Language string
	Version  int32
	Text     string

	once  sync.Once
	lines []int // byte offset of each line's start
}

// New returns a snapshot.
func New(uri, language string, version int32, text string) *Doc {
	return &Doc{URI: uri, Language: language, Version: version, Text: text}
}

func (d *Doc) lineStarts() []int {
	d.once.Do(func() { d.lines = lineStarts(d.Text) })
	return d.lines
}

// lineStarts indexes the lines of s; \n, \r\n and \r end a line.
func lineStarts(s string) []int {
	starts := make([]int, 1, strings.Count(s, "\n")+1)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n':
			starts = append(starts, i+1)
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			starts = append(starts, i+1)
		}
	}
	return starts
}

// LineCount is the number of lines (an empty text has one).
func (d *Doc) LineCount() int { return len(d.lineStarts()) }

// line returns the byte bounds of line n without its terminator.
func (d *Doc) line(n int) (start, end int) {
	ls := d.lineStarts()
	start = ls[n]
	if n+1 < len(ls) {
		end = ls[n+1]
		if end > start && d.Text[end-1] == '\n' {
			end--
		}
		if end > start && d.Text[end-1] == '\r' {
			end--
		}
	} else {
		end = len(d.Text)
	}
	return start, end
}

// Offset converts a position to a byte offset. Positions past the end of a
// line mean its end, lines past the last mean the end of the text (as the
// LSP specifies); a position inside a UTF-16 surrogate pair or a UTF-8
// sequence moves to the start of that character.
func (d *Doc) Offset(p protocol.Position, enc Encoding) int {
	if int(p.Line) >= d.LineCount() {
		return len(d.Text)
	}
	start, end := d.line(int(p.Line))
	return start + columnOffset(d.Text[start:end], int(p.Character), enc)
}

// columnOffset is the byte offset in line of the column col.
func columnOffset(line string, col int, enc Encoding) int {
	if enc == UTF8 {
		if col >= len(line) {
			return len(line)
		}
		for col > 0 && !utf8.RuneStart(line[col]) {
			col--
		}
		return col
	}
	units := 0
	for i, r := range line {
		n := 1
		if enc == UTF16 && r >= 0x10000 {
			n = 2
		}
		if units+n > col {
			return i
		}
		units += n
	}
	return len(line)
}

// Position converts a byte offset (clamped to the text) to a position.
func (d *Doc) Position(off int, enc Encoding) protocol.Position {
	off = max(0, min(off, len(d.Text)))
	ls := d.lineStarts()
	n := sort.Search(len(ls), func(i int) bool { return ls[i] > off }) - 1
	start, end := d.line(n)
	if off > end { // inside a \r\n terminator
		off = end
	}
	return protocol.Position{Line: uint32(n), Character: uint32(columnWidth(d.Text[start:off], enc))}
}

// columnWidth is the length of s in the encoding's units.
func columnWidth(s string, enc Encoding) int {
	switch enc {
	case UTF8:
		return len(s)
	case UTF32:
		return utf8.RuneCountInString(s)
	}
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r) // an invalid byte is U+FFFD: one unit
	}
	return n
}

// Range converts byte offsets to a range.
func (d *Doc) Range(start, end int, enc Encoding) protocol.Range {
	return protocol.Range{Start: d.Position(start, enc), End: d.Position(end, enc)}
}

// Offsets converts a range to byte offsets, start <= end.
func (d *Doc) Offsets(r protocol.Range, enc Encoding) (start, end int) {
	start, end = d.Offset(r.Start, enc), d.Offset(r.End, enc)
	if end < start {
		start, end = end, start
	}
	return start, end
}

// Apply returns the snapshot after changes, in order, at version.
func (d *Doc) Apply(version int32, changes []protocol.TextDocumentContentChangeEvent, enc Encoding) (*Doc, error) {
	cur := d
	for i, ch := range changes {
		switch c := ch.(type) {
		case *protocol.TextDocumentContentChangeWholeDocument:
			cur = New(d.URI, d.Language, version, c.Text)
		case *protocol.TextDocumentContentChangePartial:
			s, e := cur.Offsets(c.Range, enc)
			cur = New(d.URI, d.Language, version, cur.Text[:s]+c.Text+cur.Text[e:])
		default:
			return nil, fmt.Errorf("change %d of %s: unknown change type %T", i, d.URI, ch)
		}
	}
	if cur == d {
		cur = New(d.URI, d.Language, version, d.Text)
	}
	return cur, nil
}

// Store holds the open documents. It is safe for concurrent use.
type Store struct {
	mu   sync.Mutex
	docs map[string]*Doc
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{docs: map[string]*Doc{}} }

// Open records a newly opened document.
func (s *Store) Open(d *Doc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[d.URI] = d
}

// Change applies changes to the open document uri and returns the new
// snapshot. A change to a document that is not open, or an older version
// than the one held, is an error and changes nothing.
func (s *Store) Change(uri string, version int32, changes []protocol.TextDocumentContentChangeEvent, enc Encoding) (*Doc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[uri]
	if !ok {
		return nil, fmt.Errorf("change to %s, which is not open", uri)
	}
	if version != 0 && version < d.Version {
		return nil, fmt.Errorf("change to %s at version %d, older than the version held (%d)", uri, version, d.Version)
	}
	nd, err := d.Apply(version, changes, enc)
	if err != nil {
		return nil, err
	}
	s.docs[uri] = nd
	return nd, nil
}

// Close forgets a document.
func (s *Store) Close(uri string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.docs, uri)
}

// Get returns the current snapshot of uri, nil if it is not open.
func (s *Store) Get(uri string) *Doc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.docs[uri]
}

// Len is the number of open documents.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.docs)
}

// Snapshot returns the open documents as they stand now; later changes do
// not affect it.
func (s *Store) Snapshot() map[string]*Doc {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]*Doc, len(s.docs))
	for k, v := range s.docs {
		m[k] = v
	}
	return m
}

package review

import (
	"fmt"
	"strconv"
	"strings"
)

// Line kinds of a hunk.
const (
	Added   = '+'
	Removed = '-'
	Context = ' '
)

// Line is one line of a hunk with its numbers in the old and new file (0
// when it has none there).
type Line struct {
	Kind             byte
	OldLine, NewLine int
	Text             string
}

// Hunk is one @@ block of a unified diff.
type Hunk struct {
	OldStart, OldLines int
	NewStart, NewLines int
	Section            string // the text after the second @@
	Lines              []Line
}

// File is a changed file with its parsed hunks.
type File struct {
	FileDiff
	Hunks []Hunk
}

// Path is the file's path in the new version (the old one for a deleted
// file).
func (f *File) Path() string {
	if f.NewPath != "" {
		return f.NewPath
	}
	return f.OldPath
}

// ParseHunks parses the hunks of one file's diff as GitLab gives it (no
// ---/+++ header, hunks from the first @@). A "\ No newline at end of file"
// marker is skipped. It fails on text that is not a unified diff, and on
// hunks whose line counts do not match their header.
func ParseHunks(diff string) ([]Hunk, error) {
	if diff == "" {
		return nil, nil
	}
	lines := strings.Split(strings.TrimSuffix(diff, "\n"), "\n")
	var (
		hunks    []Hunk
		cur      *Hunk
		old, new int // next line numbers
		oldLeft  int
		newLeft  int
	)
	closeHunk := func(at int) error {
		if cur != nil && (oldLeft != 0 || newLeft != 0) {
			return fmt.Errorf("line %d: hunk @@ -%d,%d +%d,%d @@ ends early", at, cur.OldStart, cur.OldLines, cur.NewStart, cur.NewLines)
		}
		return nil
	}
	for i, l := range lines {
		if strings.HasPrefix(l, "@@") {
			if err := closeHunk(i + 1); err != nil {
				return nil, err
			}
			h, err := parseHunkHeader(l)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
			hunks = append(hunks, h)
			cur = &hunks[len(hunks)-1]
			old, new, oldLeft, newLeft = h.OldStart, h.NewStart, h.OldLines, h.NewLines
			continue
		}
		if cur == nil {
			if strings.HasPrefix(l, "diff --git") || strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "+++ ") ||
				strings.HasPrefix(l, "index ") || strings.HasPrefix(l, "new file mode") || strings.HasPrefix(l, "deleted file mode") ||
				strings.HasPrefix(l, "old mode") || strings.HasPrefix(l, "new mode") || strings.HasPrefix(l, "similarity index") ||
				strings.HasPrefix(l, "rename from") || strings.HasPrefix(l, "rename to") || strings.HasPrefix(l, "Binary files") {
				continue
			}
			return nil, fmt.Errorf("line %d: expected a hunk header (@@ -a,b +c,d @@)", i+1)
		}
		if strings.HasPrefix(l, `\`) {
			continue // \ No newline at end of file
		}
		kind := byte(Context)
		text := l
		if l != "" {
			kind, text = l[0], l[1:]
		}
		switch kind {
		case Added:
			if newLeft == 0 {
				return nil, fmt.Errorf("line %d: more added lines than the hunk header says", i+1)
			}
			cur.Lines = append(cur.Lines, Line{Kind: Added, NewLine: new, Text: text})
			new++
			newLeft--
		case Removed:
			if oldLeft == 0 {
				return nil, fmt.Errorf("line %d: more removed lines than the hunk header says", i+1)
			}
			cur.Lines = append(cur.Lines, Line{Kind: Removed, OldLine: old, Text: text})
			old++
			oldLeft--
		case Context:
			if oldLeft == 0 || newLeft == 0 {
				return nil, fmt.Errorf("line %d: more lines than the hunk header says", i+1)
			}
			cur.Lines = append(cur.Lines, Line{Kind: Context, OldLine: old, NewLine: new, Text: text})
			old++
			new++
			oldLeft--
			newLeft--
		default:
			return nil, fmt.Errorf("line %d: unexpected line start %q in a hunk", i+1, kind)
		}
	}
	if err := closeHunk(len(lines)); err != nil {
		return nil, err
	}
	return hunks, nil
}

// parseHunkHeader reads "@@ -a[,b] +c[,d] @@ section".
func parseHunkHeader(l string) (Hunk, error) {
	bad := fmt.Errorf("malformed hunk header %.80q", l)
	rest, ok := strings.CutPrefix(l, "@@ -")
	if !ok {
		return Hunk{}, bad
	}
	oldPart, rest, ok := strings.Cut(rest, " +")
	if !ok {
		return Hunk{}, bad
	}
	newPart, section, ok := strings.Cut(rest, " @@")
	if !ok {
		return Hunk{}, bad
	}
	var h Hunk
	var err error
	if h.OldStart, h.OldLines, err = parseRange(oldPart); err != nil {
		return Hunk{}, bad
	}
	if h.NewStart, h.NewLines, err = parseRange(newPart); err != nil {
		return Hunk{}, bad
	}
	h.Section = strings.TrimSpace(section)
	return h, nil
}

func parseRange(s string) (start, n int, err error) {
	a, b, hasCount := strings.Cut(s, ",")
	if start, err = strconv.Atoi(a); err != nil || start < 0 {
		return 0, 0, fmt.Errorf("bad range %q", s)
	}
	n = 1
	if hasCount {
		if n, err = strconv.Atoi(b); err != nil || n < 0 {
			return 0, 0, fmt.Errorf("bad range %q", s)
		}
	}
	return start, n, nil
}

// PositionOf is the position GitLab needs for an inline comment on l of f.
func PositionOf(refs DiffRefs, f *File, l Line) Position {
	p := Position{DiffRefs: refs, OldPath: f.OldPath, NewPath: f.NewPath}
	if p.OldPath == "" {
		p.OldPath = p.NewPath
	}
	if p.NewPath == "" {
		p.NewPath = p.OldPath
	}
	switch l.Kind {
	case Added:
		p.NewLine = l.NewLine
	case Removed:
		p.OldLine = l.OldLine
	default:
		p.OldLine, p.NewLine = l.OldLine, l.NewLine
	}
	return p
}

// Locate finds the line of f a finding quotes: the same text (spaces and
// invisible characters aside), preferring an added line, then a context
// line, then a removed one, and the first of equals. ok is false when no
// line matches.
func Locate(f *File, quoted string) (Line, bool) {
	cands := quoteCandidates(quoted)
	if len(cands) == 0 {
		return Line{}, false
	}
	var best Line
	rank := 0
	for _, h := range f.Hunks {
		for _, l := range h.Lines {
			n := normalizeLine(l.Text)
			hit := false
			for _, c := range cands {
				hit = hit || n == c
			}
			if !hit {
				continue
			}
			r := map[byte]int{Added: 3, Context: 2, Removed: 1}[l.Kind]
			if r > rank {
				best, rank = l, r
			}
		}
	}
	return best, rank > 0
}

// quoteCandidates are the texts a quoted line may stand for: as written,
// and without a diff marker (+, -) the model may have copied from the
// prompt.
func quoteCandidates(quoted string) []string {
	var out []string
	add := func(s string) {
		if n := normalizeLine(s); n != "" {
			out = append(out, n)
		}
	}
	add(quoted)
	t := strings.TrimLeft(quoted, " \t")
	if t != "" && (t[0] == '+' || t[0] == '-') {
		add(t[1:])
	}
	return out
}

// normalizeLine compares lines whatever their spacing.
func normalizeLine(s string) string {
	return strings.Join(strings.Fields(StripInvisible(s)), " ")
}

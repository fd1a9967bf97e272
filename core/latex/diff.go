package latex

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Edit replaces the bytes [Start, End) of the old text with NewText.
type Edit struct {
	Start, End int
	NewText    string
}

// WordEdits returns a minimal word-level diff from old to new: the edits are
// sorted, do not overlap, and applying them all to old gives new exactly.
// Tokens are words (letters and digits), commands (\name or \ and one
// character), runs of white space, and single other characters, so an edit
// never cuts a word or a command in two, and text that did not change is
// never touched. Very large rewrites (beyond a few million token
// comparisons) fall back to fewer, larger edits, still exact.
func WordEdits(old, new string) []Edit {
	a, b := tokenize(old), tokenize(new)
	ids := map[string]int32{}
	intern := func(ts []token, s string) []int32 {
		out := make([]int32, len(ts))
		for i, t := range ts {
			w := s[t.start:t.end]
			id, ok := ids[w]
			if !ok {
				id = int32(len(ids))
				ids[w] = id
			}
			out[i] = id
		}
		return out
	}
	d := &differ{a: intern(a, old), b: intern(b, new), budget: diffBudget}
	d.delA = make([]bool, len(d.a))
	d.insB = make([]bool, len(d.b))
	d.compare(0, len(d.a), 0, len(d.b))

	// Walk both sequences: equal tokens advance together; each run of
	// deletions and insertions becomes one edit.
	off := func(ts []token, i int, s string) int {
		if i < len(ts) {
			return ts[i].start
		}
		return len(s)
	}
	var edits []Edit
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if (i < len(a) && d.delA[i]) || (j < len(b) && d.insB[j]) {
			i0, j0 := i, j
			for i < len(a) && d.delA[i] {
				i++
			}
			for j < len(b) && d.insB[j] {
				j++
			}
			edits = append(edits, Edit{Start: off(a, i0, old), End: off(a, i, old), NewText: new[off(b, j0, new):off(b, j, new)]})
			continue
		}
		i++
		j++
	}
	return edits
}

// ApplyEdits applies sorted, non-overlapping edits to s.
func ApplyEdits(s string, edits []Edit) (string, error) {
	var out []byte
	last := 0
	for _, e := range edits {
		if e.Start < last || e.End < e.Start || e.End > len(s) {
			return "", fmt.Errorf("latex: edit [%d,%d) is out of order or out of range", e.Start, e.End)
		}
		out = append(out, s[last:e.Start]...)
		out = append(out, e.NewText...)
		last = e.End
	}
	return string(append(out, s[last:]...)), nil
}

type token struct{ start, end int }

// tokenize splits s into words, commands, white space runs and single
// characters.
func tokenize(s string) []token {
	var ts []token
	for i := 0; i < len(s); {
		j := i
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\\':
			j = i + 1
			if j < len(s) && isLetter(s[j]) {
				for j < len(s) && isLetter(s[j]) {
					j++
				}
			} else if j < len(s) {
				_, m := utf8.DecodeRuneInString(s[j:])
				j += m
			}
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v':
			for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r' || s[j] == '\f' || s[j] == '\v') {
				j++
			}
		case isWordRune(r):
			for j < len(s) {
				r, m := utf8.DecodeRuneInString(s[j:])
				if !isWordRune(r) {
					break
				}
				j += m
			}
		default:
			j = i + n
		}
		ts = append(ts, token{i, j})
		i = j
	}
	return ts
}

func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r))
}

// diffBudget bounds the work of one diff, in token comparisons.
const diffBudget = 20_000_000

// differ is Myers' O(ND) difference algorithm in linear space (the middle
// snake, divide and conquer), marking the tokens of a deleted and of b
// inserted.
type differ struct {
	a, b       []int32
	delA, insB []bool
	budget     int
	v1, v2     []int
}

func (d *differ) compare(aLo, aHi, bLo, bHi int) {
	for aLo < aHi && bLo < bHi && d.a[aLo] == d.b[bLo] {
		aLo++
		bLo++
	}
	for aLo < aHi && bLo < bHi && d.a[aHi-1] == d.b[bHi-1] {
		aHi--
		bHi--
	}
	switch {
	case aLo == aHi:
		for j := bLo; j < bHi; j++ {
			d.insB[j] = true
		}
		return
	case bLo == bHi:
		for i := aLo; i < aHi; i++ {
			d.delA[i] = true
		}
		return
	}
	x, y, ok := d.bisect(aLo, aHi, bLo, bHi)
	if !ok {
		// No common token, or over budget: replace the range whole.
		for i := aLo; i < aHi; i++ {
			d.delA[i] = true
		}
		for j := bLo; j < bHi; j++ {
			d.insB[j] = true
		}
		return
	}
	d.compare(aLo, x, bLo, y)
	d.compare(x, aHi, y, bHi)
}

// bisect finds the middle snake of a[aLo:aHi] and b[bLo:bHi] and returns
// the point where to split both; false when the ranges share no token or
// the budget is spent.
func (d *differ) bisect(aLo, aHi, bLo, bHi int) (int, int, bool) {
	n, m := aHi-aLo, bHi-bLo
	maxD := (n + m + 1) / 2
	off, size := maxD, 2*maxD+2
	if cap(d.v1) < size {
		d.v1, d.v2 = make([]int, size), make([]int, size)
	}
	d.budget -= size
	if d.budget < 0 {
		return 0, 0, false
	}
	v1, v2 := d.v1[:size], d.v2[:size]
	for i := range v1 {
		v1[i], v2[i] = -1, -1
	}
	v1[off+1], v2[off+1] = 0, 0
	delta := n - m
	front := delta%2 != 0
	k1start, k1end, k2start, k2end := 0, 0, 0, 0
	a, b := d.a[aLo:aHi], d.b[bLo:bHi]
	for D := 0; D < maxD; D++ {
		if d.budget < 0 {
			return 0, 0, false
		}
		for k1 := -D + k1start; k1 <= D-k1end; k1 += 2 {
			i := off + k1
			var x1 int
			if k1 == -D || (k1 != D && v1[i-1] < v1[i+1]) {
				x1 = v1[i+1]
			} else {
				x1 = v1[i-1] + 1
			}
			y1 := x1 - k1
			from := x1
			for x1 < n && y1 < m && a[x1] == b[y1] {
				x1++
				y1++
			}
			d.budget -= x1 - from + 1
			v1[i] = x1
			switch {
			case x1 > n:
				k1end += 2
			case y1 > m:
				k1start += 2
			case front:
				if k2 := off + delta - k1; k2 >= 0 && k2 < size && v2[k2] != -1 {
					if x1 >= n-v2[k2] {
						return aLo + x1, bLo + y1, true
					}
				}
			}
		}
		for k2 := -D + k2start; k2 <= D-k2end; k2 += 2 {
			i := off + k2
			var x2 int
			if k2 == -D || (k2 != D && v2[i-1] < v2[i+1]) {
				x2 = v2[i+1]
			} else {
				x2 = v2[i-1] + 1
			}
			y2 := x2 - k2
			from := x2
			for x2 < n && y2 < m && a[n-x2-1] == b[m-y2-1] {
				x2++
				y2++
			}
			d.budget -= x2 - from + 1
			v2[i] = x2
			switch {
			case x2 > n:
				k2end += 2
			case y2 > m:
				k2start += 2
			case !front:
				if k1 := off + delta - k2; k1 >= 0 && k1 < size && v1[k1] != -1 {
					x1 := v1[k1]
					y1 := off + x1 - k1
					if x1 >= n-x2 {
						return aLo + x1, bLo + y1, true
					}
				}
			}
		}
	}
	return 0, 0, false
}

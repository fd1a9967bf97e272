package gitlabtest

import (
	"sort"
	"strconv"
	"strings"
)

// splitLines splits file content into lines (a final newline ends the last
// line rather than starting an empty one).
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

type op struct {
	kind     byte // ' ', '-', '+'
	old, new int  // 1-based line numbers (0 when none)
	text     string
}

// lineDiff is a line diff of a and b: common prefix and suffix, and a
// longest common subsequence in between (or, when that would be too big to
// compute, the whole middle replaced).
func lineDiff(a, b []string) []op {
	var ops []op
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		ops = append(ops, op{' ', p + 1, p + 1, a[p]})
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	ma, mb := a[p:len(a)-s], b[p:len(b)-s]
	if len(ma)*len(mb) > 4_000_000 {
		for i, l := range ma {
			ops = append(ops, op{'-', p + i + 1, 0, l})
		}
		for j, l := range mb {
			ops = append(ops, op{'+', 0, p + j + 1, l})
		}
	} else {
		// LCS lengths from the end.
		n, m := len(ma), len(mb)
		dp := make([][]int32, n+1)
		for i := range dp {
			dp[i] = make([]int32, m+1)
		}
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					dp[i][j] = dp[i+1][j+1] + 1
				} else {
					dp[i][j] = max(dp[i+1][j], dp[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < n || j < m {
			switch {
			case i < n && j < m && ma[i] == mb[j]:
				ops = append(ops, op{' ', p + i + 1, p + j + 1, ma[i]})
				i++
				j++
			case j < m && (i == n || dp[i][j+1] > dp[i+1][j]):
				ops = append(ops, op{'+', 0, p + j + 1, mb[j]})
				j++
			default:
				ops = append(ops, op{'-', p + i + 1, 0, ma[i]})
				i++
			}
		}
	}
	for k := 0; k < s; k++ {
		oi, ni := len(a)-s+k, len(b)-s+k
		ops = append(ops, op{' ', oi + 1, ni + 1, a[oi]})
	}
	return ops
}

// unified renders the hunks of old → new with three lines of context, the
// way git (and GitLab's API) writes them, without file headers.
func unified(oldText, newText string) string {
	ops := lineDiff(splitLines(oldText), splitLines(newText))
	const ctx = 3
	var changed []int
	for i, o := range ops {
		if o.kind != ' ' {
			changed = append(changed, i)
		}
	}
	if len(changed) == 0 {
		return ""
	}
	// Group changes whose contexts touch.
	type span struct{ lo, hi int }
	var spans []span
	for _, c := range changed {
		lo, hi := max(0, c-ctx), min(len(ops)-1, c+ctx)
		if n := len(spans); n > 0 && lo <= spans[n-1].hi+1 {
			spans[n-1].hi = max(spans[n-1].hi, hi)
			continue
		}
		spans = append(spans, span{lo, hi})
	}
	var b strings.Builder
	for _, sp := range spans {
		seg := ops[sp.lo : sp.hi+1]
		oldStart, newStart, oldN, newN := 0, 0, 0, 0
		for _, o := range seg {
			if o.kind != '+' {
				if oldStart == 0 {
					oldStart = o.old
				}
				oldN++
			}
			if o.kind != '-' {
				if newStart == 0 {
					newStart = o.new
				}
				newN++
			}
		}
		if oldN == 0 {
			oldStart = prevLine(ops, sp.lo, true)
		}
		if newN == 0 {
			newStart = prevLine(ops, sp.lo, false)
		}
		b.WriteString("@@ -" + rng(oldStart, oldN) + " +" + rng(newStart, newN) + " @@\n")
		for _, o := range seg {
			b.WriteByte(o.kind)
			b.WriteString(o.text)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// prevLine is the number of the line before position i on one side (git
// writes -N,0 with N the line after which lines are inserted).
func prevLine(ops []op, i int, old bool) int {
	for k := i - 1; k >= 0; k-- {
		if old && ops[k].old > 0 {
			return ops[k].old
		}
		if !old && ops[k].new > 0 {
			return ops[k].new
		}
	}
	return 0
}

func rng(start, n int) string {
	if n == 1 {
		return strconv.Itoa(start)
	}
	return strconv.Itoa(start) + "," + strconv.Itoa(n)
}

// fileDiff is one changed file between two trees.
type fileDiff struct {
	OldPath, NewPath              string
	Diff                          string
	NewFile, DeletedFile, Renamed bool
}

// treeDiff lists the files that differ between two trees, by path.
func treeDiff(a, b map[string]string) []fileDiff {
	paths := map[string]bool{}
	for p := range a {
		paths[p] = true
	}
	for p := range b {
		paths[p] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	var out []fileDiff
	for _, p := range sorted {
		oldText, inA := a[p]
		newText, inB := b[p]
		if inA && inB && oldText == newText {
			continue
		}
		out = append(out, fileDiff{OldPath: p, NewPath: p, Diff: unified(oldText, newText), NewFile: !inA, DeletedFile: !inB})
	}
	return out
}

// lineKinds maps the lines of a unified diff: for each line, its kind and
// numbers, to validate comment positions the way GitLab does.
type diffLine struct {
	kind     byte
	old, new int
}

func diffLines(diff string) []diffLine {
	var out []diffLine
	old, new := 0, 0
	for _, l := range splitLines(diff) {
		if strings.HasPrefix(l, "@@ -") {
			var a, c int
			rest := strings.TrimPrefix(l, "@@ -")
			oldPart, rest, _ := strings.Cut(rest, " +")
			newPart, _, _ := strings.Cut(rest, " @@")
			a, _ = strconv.Atoi(strings.Split(oldPart, ",")[0])
			c, _ = strconv.Atoi(strings.Split(newPart, ",")[0])
			old, new = a, c
			continue
		}
		if l == "" || l[0] == '\\' {
			continue
		}
		switch l[0] {
		case '+':
			out = append(out, diffLine{'+', 0, new})
			new++
		case '-':
			out = append(out, diffLine{'-', old, 0})
			old++
		default:
			out = append(out, diffLine{' ', old, new})
			old++
			new++
		}
	}
	return out
}

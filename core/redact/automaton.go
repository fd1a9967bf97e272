package redact

// automaton is an Aho-Corasick matcher compiled to a dense DFA over byte
// classes. Matching is ASCII case-insensitive: patterns are stored
// lowercased and upper-case input bytes map to the class of their lower-case
// letter, so the text is never lowercased (no copy, no allocation).
//
// The inner loop is one table lookup per byte: the table holds row offsets
// (state × classes) rather than state numbers, so the dependency chain from
// one byte to the next is a load and an add; states that end a pattern are
// numbered last, so "is there a hit" is one comparison.
type automaton struct {
	class    [256]uint8 // input byte -> class (0: bytes in no pattern)
	nclass   int
	delta    []uint32 // row + class -> next row (row = state * nclass)
	firstOut uint32   // rows >= firstOut have outputs
	out      [][]int32
	patLen   []int32
	nstates  int
	patterns []string
}

// newAutomaton builds the matcher for patterns, which must be lowercase
// (ASCII-wise); empty patterns are ignored. Pattern ids are indexes. At
// most 255 distinct bytes may occur in the patterns.
func newAutomaton(patterns []string) *automaton {
	a := &automaton{patterns: patterns, patLen: make([]int32, len(patterns))}
	var used [256]bool
	for _, p := range patterns {
		for i := 0; i < len(p); i++ {
			used[p[i]] = true
		}
	}
	n := 1
	for b := 0; b < 256; b++ {
		if used[b] && n < 256 {
			a.class[b] = uint8(n)
			n++
		}
	}
	for b := 'A'; b <= 'Z'; b++ {
		a.class[b] = a.class[b+'a'-'A']
	}
	a.nclass = n

	// Trie.
	type node struct {
		next map[uint8]int32
		fail int32
		out  []int32
	}
	nodes := []node{{next: map[uint8]int32{}}}
	for id, p := range patterns {
		a.patLen[id] = int32(len(p))
		if p == "" {
			continue
		}
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := a.class[p[i]]
			if c == 0 {
				// byte beyond the 255 classes: the pattern cannot be
				// represented; callers keep pattern sets small.
				panic("redact: automaton: too many distinct bytes in patterns")
			}
			nx, ok := nodes[s].next[c]
			if !ok {
				nx = int32(len(nodes))
				nodes = append(nodes, node{next: map[uint8]int32{}})
				nodes[s].next[c] = nx
			}
			s = nx
		}
		nodes[s].out = append(nodes[s].out, int32(id))
	}
	// Failure links (BFS) and the transition function over states.
	ns := len(nodes)
	next := make([]int32, ns*n)
	queue := make([]int32, 0, ns)
	for c := 0; c < n; c++ {
		if nx, ok := nodes[0].next[uint8(c)]; ok {
			next[c] = nx
			queue = append(queue, nx)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := nodes[s].fail
		nodes[s].out = append(nodes[s].out, nodes[f].out...)
		for c := 0; c < n; c++ {
			if nx, ok := nodes[s].next[uint8(c)]; ok {
				nodes[nx].fail = next[int(f)*n+c]
				next[int(s)*n+c] = nx
				queue = append(queue, nx)
			} else {
				next[int(s)*n+c] = next[int(f)*n+c]
			}
		}
	}
	// Renumber: states without outputs first (the root stays 0).
	order := make([]int32, ns) // old -> new
	k := int32(0)
	for pass := 0; pass < 2; pass++ {
		for s := 0; s < ns; s++ {
			if (len(nodes[s].out) > 0) == (pass == 1) {
				order[s] = k
				k++
			}
		}
	}
	a.nstates = ns
	a.delta = make([]uint32, ns*n)
	a.out = make([][]int32, ns)
	a.firstOut = uint32(ns * n)
	for s := 0; s < ns; s++ {
		ns2 := int(order[s])
		a.out[ns2] = nodes[s].out
		if len(nodes[s].out) > 0 && uint32(ns2*n) < a.firstOut {
			a.firstOut = uint32(ns2 * n)
		}
		for c := 0; c < n; c++ {
			a.delta[ns2*n+c] = uint32(int(order[next[s*n+c]]) * n)
		}
	}
	return a
}

// scanInto appends (pattern id, start) pairs for every occurrence of every
// pattern in text to hits, in order of end position.
func (a *automaton) scanInto(text string, hits []int32) []int32 {
	hits, _ = a.scanChunk(text, 0, len(text), 0, hits)
	return hits
}

// scanChunk is scanInto over text[lo:hi], from the state row the previous
// chunk ended in (0 at the start); it returns the state to resume from.
func (a *automaton) scanChunk(text string, lo, hi int, row uint32, hits []int32) ([]int32, uint32) {
	if a == nil || a.nstates <= 1 {
		return hits, row
	}
	delta, class, firstOut := a.delta, &a.class, a.firstOut
	for i := lo; i < hi; i++ {
		row = delta[row+uint32(class[text[i]])]
		if row >= firstOut {
			for _, id := range a.out[int(row)/a.nclass] {
				hits = append(hits, id, int32(i+1-int(a.patLen[id])))
			}
		}
	}
	return hits, row
}

// scan calls hit(id, start) for every occurrence of every pattern in text.
func (a *automaton) scan(text string, hit func(id int32, start int)) {
	var buf [64]int32
	hits := a.scanInto(text, buf[:0])
	for i := 0; i+1 < len(hits); i += 2 {
		hit(hits[i], int(hits[i+1]))
	}
}

// contains reports whether any pattern occurs in text.
func (a *automaton) contains(text string) bool {
	if a == nil || a.nstates <= 1 {
		return false
	}
	delta, class, firstOut := a.delta, &a.class, a.firstOut
	var row uint32
	for i := 0; i < len(text); i++ {
		row = delta[row+uint32(class[text[i]])]
		if row >= firstOut {
			return true
		}
	}
	return false
}

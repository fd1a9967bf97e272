package redact

// automaton is an Aho-Corasick matcher compiled to a dense DFA over byte
// classes. Matching is ASCII case-insensitive: patterns are stored
// lowercased and upper-case input bytes map to the class of their lower-case
// letter, so the text never needs to be lowercased (no copy, no allocation).
// One table lookup per input byte; states that end a pattern are flagged so
// the loop only branches out on hits.
type automaton struct {
	class    [256]uint16 // input byte -> class
	nclass   int
	delta    []uint32 // state*nclass + class -> next state; high bit set: state has outputs
	out      [][]int32
	patLen   []int32
	nstates  int
	patterns []string
}

const outFlag = 1 << 31

// newAutomaton builds the matcher for patterns (which must be lowercase
// ASCII-wise; empty patterns are ignored). Pattern ids are indexes.
func newAutomaton(patterns []string) *automaton {
	a := &automaton{patterns: patterns, patLen: make([]int32, len(patterns))}
	// Byte classes: one per distinct pattern byte, plus class 0 for others.
	var used [256]bool
	for _, p := range patterns {
		for i := 0; i < len(p); i++ {
			used[p[i]] = true
		}
	}
	n := 1
	for b := 0; b < 256; b++ {
		if used[b] {
			a.class[b] = uint16(n)
			n++
		}
	}
	for b := 'A'; b <= 'Z'; b++ {
		a.class[b] = a.class[b+'a'-'A']
	}
	a.nclass = n

	// Trie.
	type node struct {
		next map[uint16]int32
		fail int32
		out  []int32
	}
	nodes := []node{{next: map[uint16]int32{}}}
	for id, p := range patterns {
		a.patLen[id] = int32(len(p))
		if p == "" {
			continue
		}
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := a.class[p[i]]
			nx, ok := nodes[s].next[c]
			if !ok {
				nx = int32(len(nodes))
				nodes = append(nodes, node{next: map[uint16]int32{}})
				nodes[s].next[c] = nx
			}
			s = nx
		}
		nodes[s].out = append(nodes[s].out, int32(id))
	}
	// Failure links (BFS) and the dense table.
	a.nstates = len(nodes)
	a.delta = make([]uint32, len(nodes)*n)
	queue := make([]int32, 0, len(nodes))
	for c := 0; c < n; c++ {
		if nx, ok := nodes[0].next[uint16(c)]; ok {
			nodes[nx].fail = 0
			a.delta[c] = uint32(nx)
			queue = append(queue, nx)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := nodes[s].fail
		nodes[s].out = append(nodes[s].out, nodes[f].out...)
		for c := 0; c < n; c++ {
			if nx, ok := nodes[s].next[uint16(c)]; ok {
				nodes[nx].fail = int32(a.delta[int(f)*n+c] &^ outFlag)
				a.delta[int(s)*n+c] = uint32(nx)
				queue = append(queue, nx)
			} else {
				a.delta[int(s)*n+c] = a.delta[int(f)*n+c] &^ outFlag
			}
		}
	}
	a.out = make([][]int32, len(nodes))
	for i := range nodes {
		a.out[i] = nodes[i].out
	}
	// Flag transitions into states with outputs.
	for i, t := range a.delta {
		if len(a.out[t]) > 0 {
			a.delta[i] = t | outFlag
		}
	}
	return a
}

// scan calls hit(id, start) for every occurrence of every pattern in text,
// in order of end position.
func (a *automaton) scan(text string, hit func(id int32, start int)) {
	if a == nil || a.nstates <= 1 {
		return
	}
	delta, class, n := a.delta, &a.class, a.nclass
	var s uint32
	for i := 0; i < len(text); i++ {
		s = delta[int(s&^outFlag)*n+int(class[text[i]])]
		if s&outFlag != 0 {
			for _, id := range a.out[s&^outFlag] {
				hit(id, i+1-int(a.patLen[id]))
			}
		}
	}
}

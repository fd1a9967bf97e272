package redact

import (
	"fmt"
	"testing"
)

func TestDebugWindows(t *testing.T) {
	rs, _ := shared()
	c := benchCorpus(t)[:200000]
	var gen *rule
	for _, r := range rs.rules {
		if r.typ == "generic-api-key" {
			gen = r
		}
	}
	seen := map[string]bool{}
	rs.ac.scan(c, func(id int32, start int) {
		for _, ref := range rs.patRefs[id] {
			if ref.rule >= 0 && rs.rules[ref.rule] == gen {
				end := start + len(ref.anchor.orig)
				if !ref.anchor.matchAt(c[start:end]) {
					continue
				}
				lo, hi, ok := gen.window(c, start, end)
				if ok && !seen[c[lo:hi]] {
					seen[c[lo:hi]] = true
					fmt.Printf("%q\n", c[lo:hi])
				}
			}
		}
	})
}

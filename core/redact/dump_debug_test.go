package redact

import (
	"fmt"
	"testing"
	"time"
)

func TestDumpRules(t *testing.T) {
	t0 := time.Now()
	rs, err := shared()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("init", time.Since(t0), "states", rs.ac.nstates, "classes", rs.ac.nclass, "patterns", len(rs.ac.patterns))
	for _, r := range rs.rules {
		var as []string
		for _, a := range r.anchors {
			as = append(as, a.orig)
		}
		fmt.Printf("%-45s tmpl=%v before=%d after=%d nl=%d anchors=%q\n", r.typ, r.template, r.before, r.after, r.afterNL, as)
	}
	fmt.Println("fullscan", rs.fullScan)
}

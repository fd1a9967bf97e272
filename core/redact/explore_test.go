package redact

import (
	"fmt"
	"os"
	"sort"
	"testing"
	"time"
)

func TestExplore(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip()
	}
	r, _ := New(Profile{})
	type res struct {
		name string
		a, b time.Duration
	}
	var out []res
	small := adversarialInputs(t, 16<<10)
	big := adversarialInputs(t, 64<<10)
	for i := range small {
		m := func(s string) time.Duration {
			st := time.Now()
			r.Scan(s)
			r.MaskOutput(NewVault(), s)
			return time.Since(st)
		}
		m(small[i].text)
		a := m(small[i].text)
		b := m(big[i].text)
		out = append(out, res{small[i].name, a, b})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].b > out[j].b })
	for _, o := range out[:40] {
		fmt.Printf("%-40q 16K %8.2fms 64K %8.2fms ratio %.1f  est1MiB %.0fms\n", o.name, float64(o.a.Microseconds())/1000, float64(o.b.Microseconds())/1000, float64(o.b)/float64(o.a), float64(o.b.Microseconds())/1000*16*float64(o.b)/float64(o.a)/4)
	}
}

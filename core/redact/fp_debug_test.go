package redact

import (
	"fmt"
	"testing"
	"time"
)

func TestDebugCleanFP(t *testing.T) {
	r, _ := New(Profile{})
	c := benchCorpus(t)
	t0 := time.Now()
	fs := r.Scan(c)
	d := time.Since(t0)
	fmt.Printf("scan %d bytes in %v = %.1f MB/s, %d findings\n", len(c), d, float64(len(c))/d.Seconds()/1e6, len(fs))
	seen := map[string]int{}
	for _, f := range fs {
		k := f.Type + " " + c[f.Start:f.End]
		if seen[k] < 1 {
			ls := f.Start - 60
			if ls < 0 {
				ls = 0
			}
			fmt.Printf("%s %q  ctx=%q\n", f.Type, c[f.Start:f.End], c[ls:f.Start])
		}
		seen[k]++
	}
	for i := 0; i < 3; i++ {
		t0 = time.Now()
		r.Scan(c)
		d = time.Since(t0)
		fmt.Printf("scan %.1f MB/s\n", float64(len(c))/d.Seconds()/1e6)
	}
}

func TestDebugStats(t *testing.T) {
	r, _ := New(Profile{})
	c := benchCorpus(t)
	debugStats = map[string][3]int64{}
	r.Scan(c)
	for k, v := range debugStats {
		fmt.Printf("%-30s calls=%6d bytes=%9d time=%v\n", k, v[0], v[1], time.Duration(v[2]))
	}
	debugStats = nil
}

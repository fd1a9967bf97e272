//go:build !unix

package quota_test

import "time"

// cpuTime is not measured here: the benchmark reports 0 CPU per pair.
func cpuTime() time.Duration { return 0 }

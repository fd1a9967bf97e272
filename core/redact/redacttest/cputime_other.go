//go:build !linux

package redacttest

import (
	"time"
)

var cpuStart = time.Now()

// ThreadCPU falls back to wall-clock time off Linux.
func ThreadCPU() time.Duration { return time.Since(cpuStart) }

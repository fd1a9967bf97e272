//go:build !linux

package redact

import (
	"runtime"
	"time"
)

var cpuStart = time.Now()

// threadCPU falls back to wall-clock time off Linux.
func threadCPU() time.Duration { return time.Since(cpuStart) }

func lockThread() func() {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

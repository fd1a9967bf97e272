//go:build linux

package redacttest

import (
	"syscall"
	"time"
)

// ThreadCPU returns the CPU time consumed by the calling OS thread (the
// caller holds runtime.LockOSThread): unlike wall-clock time it does not
// grow when other processes compete for the cores.
func ThreadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Package redacttest holds what package redact's tests and the gitleaks
// comparison (tools/gitleaks, a module of its own) share: the corpora under
// core/redact/testdata (the clean corpus, the gitleaks corpus, the labelled
// quality corpus), the scoring of a detector's findings against the quality
// corpus, and a thread CPU clock for benchmarks. It is for tests only.
package redacttest

import (
	"path/filepath"
	"runtime"
)

// Testdata returns the path of elem under core/redact/testdata, wherever
// the test runs from.
func Testdata(elem ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "..", "testdata"}, elem...)...)
}

// LockThread pins the goroutine to its OS thread (ThreadCPU then measures
// its work); the returned function unpins it.
func LockThread() func() {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

//go:build linux

package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// TestTrimExecutableGivesBackPages: the executable's start-up pages leave
// the resident set, and the program keeps running (code faults back in).
func TestTrimExecutableGivesBackPages(t *testing.T) {
	before := rssFileKB(t)
	trimExecutable()
	after := rssFileKB(t)
	if after >= before {
		t.Fatalf("RssFile %d kB after trimming, %d kB before", after, before)
	}
	// Code and read-only data still work after the trim.
	if s := strings.Repeat("ok", 3); s != "okokok" {
		t.Fatal(s)
	}
	t.Logf("RssFile %d kB → %d kB", before, after)
}

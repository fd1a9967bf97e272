//go:build linux

package main

import (
	"bufio"
	"debug/elf"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// trimExecutable drops from this process's page tables the pages of the
// timon executable touched while starting. The binary holds every
// subcommand (serve, lsp, the CLI), and the kernel maps up to 16
// neighbouring pages on each fault, so a freshly started timon lsp counts
// some 50 MB of code and read-only data it never uses again as resident.
// The pages stay in the page cache; what the server runs faults back in,
// one page at a time (MADV_RANDOM turns that fault-around off). Only
// read-only, private mappings of a non-PIE executable are touched: nothing
// written is ever dropped (a PIE's relocated read-only data would be).
func trimExecutable() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	bin, err := elf.Open(exe)
	if err != nil {
		return
	}
	typ := bin.Type
	bin.Close()
	if typ != elf.ET_EXEC {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	const madvRandom, madvDontneed = 1, 4
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || fields[1][1] != '-' || fields[1][3] != 'p' {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), madvRandom)
		syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), madvDontneed)
	}
}

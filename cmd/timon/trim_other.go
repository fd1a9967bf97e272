//go:build !linux

package main

// trimExecutable is a Linux-only memory trim (see trim_linux.go).
func trimExecutable() {}

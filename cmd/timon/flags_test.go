package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestParseInterspersed: flags are read before and after positional
// arguments, "--" ends them, and --help is answered on helpOut.
func TestParseInterspersed(t *testing.T) {
	var stderr bytes.Buffer
	fs := newFlags("token revoke", &stderr)
	cfg := fs.String("config", "", "")
	if err := parse(fs, []string{"tok_a", "--config", "f.yaml", "tok_b"}); err != nil {
		t.Fatal(err)
	}
	if *cfg != "f.yaml" || strings.Join(fs.Args(), " ") != "tok_a tok_b" {
		t.Fatalf("config %q, args %q", *cfg, fs.Args())
	}
	fs = newFlags("token revoke", &stderr)
	cfg = fs.String("config", "", "")
	if err := parse(fs, []string{"--", "--config", "x"}); err != nil || *cfg != "" || strings.Join(fs.Args(), " ") != "--config x" {
		t.Fatalf("after --: %v config %q args %q", err, *cfg, fs.Args())
	}
	var help bytes.Buffer
	prev := helpOut
	helpOut = &help
	defer func() { helpOut = prev }()
	fs = newFlags("token revoke", &stderr)
	fs.String("config", "", "configuration file")
	stderr.Reset()
	if err := parse(fs, []string{"tok_a", "--help"}); !errors.Is(err, errHelp) || !strings.Contains(help.String(), "usage: timon token revoke") ||
		!strings.Contains(help.String(), "-config") || stderr.Len() != 0 {
		t.Fatalf("help: %v\nstdout %q\nstderr %q", err, help.String(), stderr.String())
	}
	if err := parse(newFlags("x", &stderr), []string{"--nope"}); !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), "usage: timon x") {
		t.Fatalf("bad flag: %v %q", err, stderr.String())
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"timon.dev/timon/core/redact"
)

// cmdRedact prints a file, or stdin, as it would be sent to a model under
// a profile.
func cmdRedact(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("redact", stderr)
	path := fs.String("config", "", "configuration file (default: the embedded example)")
	profile := fs.String("profile", "", "redaction profile (default: the policy's default profile)")
	format := fs.String("format", "text", "output: text (what would be sent) or json (findings with byte offsets)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "timon redact: give at most one file (stdin without one), got %d\n", fs.NArg())
		return errUsage
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "timon redact: --format: expected text or json, got %q\n", *format)
		return errUsage
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "timon: configuration %s (no database)\n", configName(cfg))
	name := *profile
	if name == "" {
		name = cfg.Policy.DefaultProfile
		if name == "" {
			name = "default"
		}
	}
	p, ok := cfg.Redaction.Profiles[name]
	if !ok && name != "default" {
		var names []string
		for n := range cfg.Redaction.Profiles {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("no redaction profile %q (profiles: %s)", name, strings.Join(names, ", "))
	}
	red, err := newRedactor(name, p)
	if err != nil {
		return err
	}
	src, what := stdin, "stdin"
	if fs.NArg() == 1 {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return fmt.Errorf("reading the file to redact: %w", err)
		}
		defer f.Close()
		src, what = f, fs.Arg(0)
	}
	input, err := io.ReadAll(src)
	if err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	text := string(input)
	out, _, err := red.Redact(redact.NewVault(), text)
	if err != nil {
		// A blocked type: say which, never the value; nothing is printed
		// that would have been sent.
		return fmt.Errorf("would not be sent: %w", err)
	}
	if *format == "text" {
		_, err := io.WriteString(stdout, out)
		return err
	}
	type finding struct {
		Type  string `json:"type"`
		Start int    `json:"start"`
		End   int    `json:"end"`
	}
	res := struct {
		Findings []finding `json:"findings"`
		Redacted string    `json:"redacted"`
	}{Findings: []finding{}, Redacted: out}
	for _, f := range red.Scan(text) {
		res.Findings = append(res.Findings, finding{Type: f.Type, Start: f.Start, End: f.End})
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

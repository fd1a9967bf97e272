package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	timon "timon.dev/timon"
	"timon.dev/timon/core/config"
)

// newFlags returns a flag set that reports mistakes on stderr and never
// exits the process.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses args; a mistake (already reported) becomes errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return errUsage
	}
	return nil
}

// loadConfig reads the file given, or the embedded example without one.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		cfg, err := config.Parse("timon.example.yaml (embedded)", timon.ExampleConfig)
		if err != nil {
			return nil, fmt.Errorf("the embedded configuration is invalid:\n%w", err)
		}
		return cfg, nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("invalid configuration:\n%w", err)
		}
		return nil, err
	}
	return cfg, nil
}

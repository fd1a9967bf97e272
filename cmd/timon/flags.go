package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	timon "timon.dev/timon"
	"timon.dev/timon/core/config"
	"timon.dev/timon/core/store"
)

// errHelp marks a --help that was answered: exit status 0.
var errHelp = errors.New("help shown")

// helpOut is where --help prints: stdout, set by run.
var helpOut io.Writer = os.Stdout

// synopses is what --help prints above a subcommand's flags: its
// arguments and what it does.
var synopses = map[string]string{
	"serve":             "timon serve [--config FILE] [--addr HOST:PORT]\n  run the hub: HTTP API, bots, webhooks",
	"lsp":               "timon lsp [--config FILE] [--hub URL]\n  language server on stdio (remote mode with --hub, and the token of timon login or TIMON_TOKEN)",
	"login":             "timon login --hub URL [--no-browser] [--name N]\n  sign in to the hub in the browser and store the personal token timon lsp --hub uses\n  (in the user's configuration directory: timon/credentials.json, readable only by you)",
	"logout":            "timon logout --hub URL\n  have the hub revoke the token timon login stored for it, and forget it",
	"redact":            "timon redact [--config FILE] [--profile P] [--format text|json] [FILE]\n  show what of FILE (stdin without one) would leave for a model",
	"config check":      "timon config check [--config FILE]\n  validate a configuration",
	"token create":      "timon token create --user U [--groups a,b] [--name N] [--expires 90d] [--config FILE]\n  create a personal bearer token; the secret is printed once",
	"token list":        "timon token list [--user U] [--config FILE]\n  list tokens with their expiry and state",
	"token revoke":      "timon token revoke [--config FILE] TOKEN_ID\n  revoke a token (flags may also follow TOKEN_ID)",
	"audit verify":      "timon audit verify [--public-key FILE]... [--checkpoints FILE] [--allow-no-checkpoint] [--config FILE]\n  check the chain and the signed checkpoints; exits 1 when the journal was tampered with,\n  when checkpoints exist but no public key can check them, or when entries exist but no\n  checkpoint covers them (unless --allow-no-checkpoint)",
	"audit export":      "timon audit export [filters] [--format jsonl|csv] [--config FILE]\n  print entries, without content",
	"audit tail":        "timon audit tail [-n N] [-f] [filters] [--format jsonl|csv] [--config FILE]\n  print the last N entries (20), then new ones with -f",
	"audit stats":       "timon audit stats [filters] [--config FILE]\n  requests, denials, redactions, tokens, and moderation findings when there are any",
	"audit public-key":  "timon audit public-key [--set] [--config FILE]\n  print the checkpoints' public key (PEM), or with --set every key with its period (JSON)",
	"audit checkpoints": "timon audit checkpoints [--config FILE]\n  export the signed checkpoints to keep elsewhere",
	"audit retention":   "timon audit retention [--config FILE]\n  drop content older than journal.retention",
	"audit rotate-key":  "timon audit rotate-key [--config FILE]\n  replace the signing key (stop every timon serve first)",
}

// newFlags returns a flag set that reports mistakes on stderr and never
// exits the process.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// Silent: parse prints the usage, on stdout for --help and on stderr
	// after a mistake.
	fs.Usage = func() {}
	return fs
}

// printUsage writes fs's synopsis and flags to w.
func printUsage(fs *flag.FlagSet, w io.Writer) {
	if s, ok := synopses[fs.Name()]; ok {
		fmt.Fprintf(w, "usage: %s\n", s)
	} else {
		fmt.Fprintf(w, "usage: timon %s [flags]\n", fs.Name())
	}
	fmt.Fprintln(w, "flags:")
	out := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(out)
}

// parse parses args, flags before or after positional arguments ("--"
// ends the flags). A mistake (already reported) becomes errUsage; -h or
// --help prints the usage on stdout and becomes errHelp.
func parse(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage(fs, helpOut)
				return errHelp
			}
			printUsage(fs, fs.Output())
			return errUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if i := len(args) - len(rest); i > 0 && args[i-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	// Leave the positional arguments where fs.Args finds them.
	return fs.Parse(append([]string{"--"}, pos...))
}

// loadConfig reads the file given, or the embedded example without one.
func loadConfig(path string) (*config.Config, error) {
	return loadConfigBy(path, config.Parse, config.Load)
}

// loadConfigBy reads the file at path with load, or the embedded example
// with parse when no path is given, with the front ends' sections
// (frontEndSections).
func loadConfigBy(path string, parse func(name string, data []byte, sections ...config.Section) (*config.Config, error), load func(path string, sections ...config.Section) (*config.Config, error)) (*config.Config, error) {
	if path == "" {
		cfg, err := parse("timon.example.yaml (embedded)", timon.ExampleConfig, frontEndSections()...)
		if err != nil {
			return nil, fmt.Errorf("the embedded configuration is invalid:\n%w", err)
		}
		return cfg, nil
	}
	cfg, err := load(path, frontEndSections()...)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("invalid configuration:\n%w", err)
		}
		return nil, err
	}
	return cfg, nil
}

// configName names the configuration a command uses, for the line every
// command prints and for its errors.
func configName(cfg *config.Config) string {
	if cfg.Path == "" {
		return "the embedded example configuration"
	}
	return cfg.Path
}

// databaseName names the database without its DSN, which may hold a
// password.
func databaseName(cfg *config.Config) string {
	if cfg.Store.Driver == "postgres" {
		return "PostgreSQL (store.dsn)"
	}
	if abs, err := filepath.Abs(cfg.SQLitePath()); err == nil {
		return abs
	}
	return cfg.SQLitePath()
}

// openExisting opens the configured store for a command that reads or
// changes what is there: a SQLite file that does not exist is an error
// naming it and the configuration, never a new empty database (run from
// the wrong directory, a command would otherwise report on nothing).
func openExisting(ctx context.Context, cfg *config.Config, stderr io.Writer) (*store.Store, error) {
	if cfg.Store.Driver != "postgres" {
		p := cfg.SQLitePath()
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s (configuration: %s): give --config FILE, or TIMON_DATA_DIR, for the hub's data", databaseName(cfg), configName(cfg))
		} else if err != nil {
			return nil, fmt.Errorf("opening the database: %w", err)
		}
	}
	fmt.Fprintf(stderr, "timon: configuration %s, database %s\n", configName(cfg), databaseName(cfg))
	return openStore(ctx, cfg)
}

// plural writes n and the noun, singular for one.
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func isHelp(arg string) bool {
	switch strings.TrimLeft(arg, "-") {
	case "h", "help":
		return true
	}
	return false
}

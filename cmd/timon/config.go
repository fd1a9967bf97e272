package main

import (
	"errors"
	"fmt"
	"io"

	"timon.dev/timon/core/config"
)

func cmdConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(stdout, "usage: timon config check [--config FILE]   validate a configuration")
		return nil
	}
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: timon config check [--config FILE]")
		return errUsage
	}
	fs := newFlags("config check", stderr)
	path := fs.String("config", "", "configuration file (default: the embedded example)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				fmt.Fprintln(stderr, p.String())
			}
			fmt.Fprintf(stderr, "%d problem(s) found\n", len(ce.Problems))
			printIntegrations(stderr, ce.Integrations)
			return errFailed
		}
		return err
	}
	name := configName(cfg)
	if cfg.CheckEngine() != nil {
		// Only a remote-mode file for timon lsp validates without
		// providers.
		fmt.Fprintf(stdout, "%s: ok (timon lsp in remote mode, hub %s; no engine: timon serve needs providers)\n", name, cfg.LSP.HubURL)
	} else {
		fmt.Fprintf(stdout, "%s: ok (%d provider(s), %d rule(s), store %s)\n", name, len(cfg.Providers), len(cfg.Policy.Rules), cfg.Store.Driver)
	}
	printIntegrations(stdout, cfg.Integrations())
	return nil
}

// printIntegrations says, one a line, which integrations the
// configuration switches on, off or only half, and why.
func printIntegrations(w io.Writer, list []config.Integration) {
	if len(list) == 0 {
		return
	}
	fmt.Fprintln(w, "integrations:")
	for _, i := range list {
		fmt.Fprintf(w, "  %s\n", i)
	}
}

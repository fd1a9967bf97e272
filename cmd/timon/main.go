// Command timon is the integrations hub of an institution's sovereign
// assistant: one binary whose subcommands run the hub (serve), the editor
// language server (lsp), and the tools of its administrators (audit, redact,
// token, config check).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `timon — governed integrations hub for a sovereign LLM

Usage:
  timon serve [--config FILE] [--addr HOST:PORT]   run the hub (HTTP API, bots, webhooks)
  timon lsp [--config FILE] [--hub URL]            language server on stdio (remote mode with --hub, and the token
                                                   of timon login or TIMON_TOKEN)
  timon login --hub URL [--no-browser]             sign in to a hub in the browser; store the token for timon lsp
  timon logout --hub URL                           have the hub revoke the stored token, and forget it
  timon audit verify                               check the journal's chain and signed checkpoints
  timon audit export|tail|stats [filters]          read the journal (tail -n N, -f)
  timon audit show REQUEST_ID                      one request's entries and kept content (the reading is journaled)
  timon audit public-key [--set]                   the checkpoints' public key(s), to keep elsewhere
  timon audit checkpoints                          export the signed checkpoints, to keep elsewhere
  timon audit retention                            drop content older than journal.retention, verify the chain
  timon audit rotate-key                           replace the journal signing key
  timon redact [--profile P] [--format text|json] [FILE]
                                                   show what of FILE (or stdin) would leave for a model
  timon token create|list|revoke [flags]           personal bearer tokens
  timon review suppressions [--project P] [--clear KIND]
                                                   kinds of review finding people dismissed, suppressed or not
  timon config check [--config FILE]               validate a configuration
  timon version
  timon help                                       this text; COMMAND --help for a command's flags

Every command takes --config FILE; flags may come before or after arguments.
Without --config, the embedded example configuration is used.
Commands that read the database never create one: they fail if it does not exist.
Environment: TIMON_PROVIDER_URL overrides the first provider's URL,
TIMON_DATA_DIR the data directory (default ./data).
`

// errUsage marks a command-line mistake: exit status 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	helpOut = stdout
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stderr)
	case "lsp":
		err = cmdLSP(ctx, args[1:], stdin, stdout, stderr)
	case "login":
		err = cmdLogin(ctx, args[1:], stdout, stderr)
	case "logout":
		err = cmdLogout(ctx, args[1:], stdout, stderr)
	case "audit":
		err = cmdAudit(ctx, args[1:], stdout, stderr)
	case "redact":
		err = cmdRedact(ctx, args[1:], stdin, stdout, stderr)
	case "token":
		err = cmdToken(ctx, args[1:], stdout, stderr)
	case "review":
		err = cmdReview(ctx, args[1:], stdout, stderr)
	case "config":
		err = cmdConfig(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "timon", version)
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "timon: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errFailed):
		return 1 // already reported
	default:
		fmt.Fprintln(stderr, "timon:", err)
		return 1
	}
}

// errFailed reports a failure already explained on stderr or stdout.
var errFailed = errors.New("failed")

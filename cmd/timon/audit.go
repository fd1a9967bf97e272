package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/config"
	"timon.dev/timon/core/store"
)

const auditUsage = `usage:
  timon audit verify [--public-key FILE] [--checkpoints FILE]  check the chain and signed checkpoints
  timon audit export [filters] [--format jsonl|csv]            entries, without content
  timon audit tail [-f] [filters] [--format jsonl|csv]         the last entries, then new ones with -f
  timon audit stats [filters]                                  requests, denials, redactions, tokens
  timon audit public-key                                       the checkpoints' public key (PEM)
  timon audit checkpoints                                      export signed checkpoints to keep elsewhere
  timon audit retention                                        drop content older than journal.retention
filters: --since DATE --until DATE --user U --integration I --group G --outcome O
(DATE: 2026-01-31, an RFC 3339 time, or a duration ago such as 7d)
every subcommand also takes --config FILE
`

func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return errUsage
	}
	sub := args[0]
	fs := newFlags("audit "+sub, stderr)
	path := fs.String("config", "", "configuration file (default: the embedded example)")
	var filter *filterFlags
	switch sub {
	case "export", "tail", "stats":
		filter = addFilterFlags(fs)
	}
	switch sub {
	case "verify":
		pubFile := fs.String("public-key", "", "public key file (PEM) kept outside; default: derived from the signing key")
		cpFile := fs.String("checkpoints", "", "checkpoints exported earlier (timon audit checkpoints), checked too")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return withAudit(ctx, *path, func(cfg *config.Config, st *store.Store) error {
			pub, err := publicKey(cfg, *pubFile)
			if err != nil {
				return err
			}
			var external []audit.Checkpoint
			if *cpFile != "" {
				f, err := os.Open(*cpFile)
				if err != nil {
					return fmt.Errorf("reading checkpoints: %w", err)
				}
				external, err = audit.ReadCheckpoints(f)
				f.Close()
				if err != nil {
					return err
				}
			}
			rep, err := audit.VerifyWithCheckpoints(ctx, st, pub, external)
			if err != nil {
				return err
			}
			if !rep.OK {
				fmt.Fprintln(stderr, rep.String())
				return errFailed
			}
			fmt.Fprintln(stdout, rep.String())
			return nil
		})
	case "export", "tail":
		format := fs.String("format", "jsonl", "jsonl or csv")
		follow := fs.Bool("f", false, "tail: keep printing new entries")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		f, err := filter.filter()
		if err != nil {
			fmt.Fprintln(stderr, "timon audit:", err)
			return errUsage
		}
		return withAudit(ctx, *path, func(_ *config.Config, st *store.Store) error {
			if sub == "export" {
				return audit.Export(ctx, st, f, *format, stdout)
			}
			return audit.Tail(ctx, st, f, *follow, stdout, *format)
		})
	case "stats":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		f, err := filter.filter()
		if err != nil {
			fmt.Fprintln(stderr, "timon audit:", err)
			return errUsage
		}
		return withAudit(ctx, *path, func(_ *config.Config, st *store.Store) error {
			s, err := audit.StatsFor(ctx, st, f)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(s)
		})
	case "public-key":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		cfg, err := loadConfig(*path)
		if err != nil {
			return err
		}
		key, err := audit.ReadPrivateKeyFile(cfg.Journal.SigningKeyFile)
		if err != nil {
			return err
		}
		pemBytes, err := audit.PublicKeyPEM(key.Public().(ed25519.PublicKey))
		if err != nil {
			return err
		}
		_, err = stdout.Write(pemBytes)
		return err
	case "checkpoints":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return withAudit(ctx, *path, func(_ *config.Config, st *store.Store) error {
			return audit.ExportCheckpoints(ctx, st, stdout)
		})
	case "retention":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return withAudit(ctx, *path, func(cfg *config.Config, st *store.Store) error {
			if cfg.Journal.Retention == 0 {
				return fmt.Errorf("journal.retention is not set: content is kept")
			}
			cut := time.Now().Add(-time.Duration(cfg.Journal.Retention))
			n, err := audit.ApplyRetention(ctx, st, cut)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "dropped the content of %d entries older than %s; the chain still verifies\n", n, cut.Format(time.DateOnly))
			return nil
		})
	}
	fmt.Fprintf(stderr, "timon audit: unknown subcommand %q\n%s", sub, auditUsage)
	return errUsage
}

// publicKey reads the key from a file, or derives it from the signing key.
// Without either, verify checks the chain and checkpoint positions only.
func publicKey(cfg *config.Config, file string) (ed25519.PublicKey, error) {
	if file != "" {
		return audit.ReadPublicKeyFile(file)
	}
	key, err := audit.ReadPrivateKeyFile(cfg.Journal.SigningKeyFile)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return key.Public().(ed25519.PublicKey), nil
}

func withAudit(ctx context.Context, path string, f func(*config.Config, *store.Store) error) error {
	return withStore(ctx, path, func(cfg *config.Config, st *store.Store) error {
		// Opening a journal applies its migrations; nothing is appended.
		j, err := audit.Open(ctx, st, audit.Options{})
		if err != nil {
			return err
		}
		defer j.Close()
		return f(cfg, st)
	})
}

type filterFlags struct {
	since, until, user, integration, group, outcome *string
}

func addFilterFlags(fs *flag.FlagSet) *filterFlags {
	return &filterFlags{
		since:       fs.String("since", "", "entries from this date or duration ago (7d)"),
		until:       fs.String("until", "", "entries before this date"),
		user:        fs.String("user", "", "one user's entries"),
		integration: fs.String("integration", "", "lsp, mattermost, slack, gitlab or api"),
		group:       fs.String("group", "", "entries of users in this group"),
		outcome:     fs.String("outcome", "", "ok, denied, blocked, quota_exceeded, provider_error…"),
	}
}

func (ff *filterFlags) filter() (audit.Filter, error) {
	f := audit.Filter{UserID: *ff.user, Integration: *ff.integration, Group: *ff.group, Outcome: *ff.outcome}
	var err error
	if f.Since, err = parseWhen(*ff.since); err != nil {
		return f, fmt.Errorf("--since: %w", err)
	}
	if f.Until, err = parseWhen(*ff.until); err != nil {
		return f, fmt.Errorf("--until: %w", err)
	}
	return f, nil
}

// parseWhen reads 2026-01-31, an RFC 3339 time, or a duration ago (7d).
func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := config.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("expected a date (2026-01-31), an RFC 3339 time or a duration such as 7d, got %q", s)
}

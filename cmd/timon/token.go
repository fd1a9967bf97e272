package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/config"
	"timon.dev/timon/core/store"
)

const tokenUsage = `usage:
  timon token create --user U [--groups a,b] [--name N] [--expires 90d] [--scope lsp,api] [--config FILE]
  timon token list [--user U] [--config FILE]
  timon token revoke [--config FILE] TOKEN_ID
every subcommand takes --help; list and revoke need an existing database (none is created)
`

func cmdToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokenUsage)
		return errUsage
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, tokenUsage)
		return nil
	}
	fs := newFlags("token "+args[0], stderr)
	path := fs.String("config", "", "configuration file (default: the embedded example)")
	switch args[0] {
	case "create":
		user := fs.String("user", "", "user id the token authenticates (required)")
		groups := fs.String("groups", "", "comma-separated groups")
		name := fs.String("name", "", "a label, e.g. the device")
		expires := fs.String("expires", "", "lifetime such as 90d (default: no expiry)")
		scope := fs.String("scope", "", "comma-separated integrations the token may be used for: lsp, api, chat, mattermost, slack (default: all)")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "timon token create: unexpected argument %q\n%s", fs.Arg(0), tokenUsage)
			return errUsage
		}
		if strings.TrimSpace(*user) == "" {
			fmt.Fprint(stderr, "timon token create: --user is required\n"+tokenUsage)
			return errUsage
		}
		t := &store.Token{UserID: strings.TrimSpace(*user), Name: *name, Groups: splitList(*groups), Scope: splitList(*scope)}
		for _, s := range t.Scope {
			if s != "chat" && !core.Integration(s).Valid() {
				fmt.Fprintf(stderr, "timon token create: --scope: unknown integration %q (expected lsp, api, chat, mattermost, slack or gitlab)\n", s)
				return errUsage
			}
		}
		if *expires != "" {
			d, err := config.ParseDuration(*expires)
			if err != nil || d == 0 {
				fmt.Fprintf(stderr, "timon token create: --expires: expected a duration like 90d\n")
				return errUsage
			}
			t.ExpiresAt = time.Now().Add(d).UTC()
		}
		// Creating the database is allowed here: a token may be made before
		// the hub first starts. The line on stderr says where it went.
		return withStore(ctx, *path, stderr, true, func(_ *config.Config, st *store.Store) error {
			secret, err := st.CreateToken(ctx, t)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, secret)
			fmt.Fprintf(stderr, "token %s for %s created; it is shown once, store it now\n", t.ID, t.UserID)
			return nil
		})
	case "list":
		user := fs.String("user", "", "only this user's tokens")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "timon token list: unexpected argument %q\n%s", fs.Arg(0), tokenUsage)
			return errUsage
		}
		return withStore(ctx, *path, stderr, false, func(_ *config.Config, st *store.Store) error {
			toks, err := st.ListTokens(ctx, *user)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tUSER\tGROUPS\tNAME\tCREATED\tEXPIRES\tSTATE\tSCOPE")
			now := time.Now()
			for _, t := range toks {
				state := "active"
				switch {
				case !t.RevokedAt.IsZero():
					state = "revoked " + t.RevokedAt.Format(time.DateOnly)
				case !t.Active(now):
					state = "expired"
				}
				expires := "never"
				if !t.ExpiresAt.IsZero() {
					expires = t.ExpiresAt.UTC().Format(time.DateTime)
				}
				scope := "all" // no scope: every integration
				if len(t.Scope) > 0 {
					scope = strings.Join(t.Scope, ",")
				}
				// SCOPE last: scripts read the first fields by position.
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.UserID, strings.Join(t.Groups, ","), t.Name, t.CreatedAt.Format(time.DateTime), expires, state, scope)
			}
			return tw.Flush()
		})
	case "revoke":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			fmt.Fprint(stderr, "timon token revoke: give one token id (see timon token list)\n"+tokenUsage)
			return errUsage
		}
		id := fs.Arg(0)
		return withStore(ctx, *path, stderr, false, func(_ *config.Config, st *store.Store) error {
			toks, err := st.ListTokens(ctx, "")
			if err != nil {
				return err
			}
			for _, t := range toks {
				if t.ID == id && !t.RevokedAt.IsZero() {
					fmt.Fprintf(stdout, "token %s was already revoked on %s\n", id, t.RevokedAt.UTC().Format(time.DateTime))
					return nil
				}
			}
			if err := st.RevokeToken(ctx, id); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no token %s (see timon token list)", id)
				}
				return err
			}
			fmt.Fprintf(stdout, "token %s revoked\n", id)
			return nil
		})
	}
	fmt.Fprintf(stderr, "timon token: unknown subcommand %q\n%s", args[0], tokenUsage)
	return errUsage
}

// withStore opens the configured store for f; without create, a SQLite
// database that does not exist is an error rather than a new empty one.
func withStore(ctx context.Context, path string, stderr io.Writer, create bool, f func(*config.Config, *store.Store) error) error {
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	var st *store.Store
	if create {
		fmt.Fprintf(stderr, "timon: configuration %s, database %s\n", configName(cfg), databaseName(cfg))
		st, err = openStore(ctx, cfg)
	} else {
		st, err = openExisting(ctx, cfg, stderr)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	return f(cfg, st)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/config"
	"timon.dev/timon/core/store"
)

const auditUsage = `usage:
  timon audit verify [--public-key FILE]... [--checkpoints FILE] [--allow-no-checkpoint]
                                                             check the chain and signed checkpoints
                                                             (FILE: a public key or a key set kept outside the data directory);
                                                             exits 1 if checkpoints exist but no key can check them, and if
                                                             entries exist but no checkpoint covers them (unless
                                                             --allow-no-checkpoint: nothing then proves the journal was
                                                             not truncated or rewritten)
  timon audit export [filters] [--format jsonl|csv]            entries, without content
  timon audit tail [-n N] [-f] [filters] [--format jsonl|csv]  the last N entries (20), then new ones with -f
  timon audit stats [filters]                                  requests, denials, redactions, tokens, and
                                                             moderation findings when there are any
  timon audit show [--format text|json] REQUEST_ID             one request's entries, with the content kept under
                                                             content: full (as sent to the model: redacted); the
                                                             reading is journaled (integration audit, task read,
                                                             user local:$USER); exits 1 if no entry has that id
  timon audit public-key [--set]                               the checkpoints' public key (PEM), or with --set every
                                                             key with its period (JSON) to keep elsewhere
  timon audit rotate-key                                       replace the signing key (stop every timon serve first)
  timon audit checkpoints                                      export signed checkpoints to keep elsewhere
  timon audit retention                                        drop content older than journal.retention, then
                                                             verify the chain; exits 1 if it does not verify
filters: --since DATE --until DATE --user U --integration I --group G --outcome O
(DATE: 2026-01-31, an RFC 3339 time, or a duration ago such as 7d)
every subcommand also takes --config FILE, and --help; the database must exist (none is created)
`

func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return errUsage
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, auditUsage)
		return nil
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
		var pubFiles []string
		fs.Func("public-key", "public key (PEM) or key set (JSON) kept outside the data directory; repeat for several (default: journal.public_keys, else the local signing key)", func(v string) error {
			pubFiles = append(pubFiles, v)
			return nil
		})
		cpFile := fs.String("checkpoints", "", "checkpoints exported earlier (timon audit checkpoints), checked too")
		allowNone := fs.Bool("allow-no-checkpoint", false, "accept entries that no checkpoint covers (a journal whose hub never signed one yet)")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return withAudit(ctx, *path, stderr, func(cfg *config.Config, st *store.Store) error {
			keys, err := trustedKeys(cfg, pubFiles)
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
			rep, err := audit.VerifyKeys(ctx, st, keys.set, external)
			if err != nil {
				return err
			}
			if !rep.OK {
				fmt.Fprintln(stderr, rep.String())
				keys.report(stderr, rep)
				return errFailed
			}
			if keys.set == nil && rep.Checkpoints > 0 {
				// Only the checkpoints' positions were checked: a forged or
				// re-signed checkpoint would pass.
				fmt.Fprintf(stderr, "NOT VERIFIED: the chain of %s holds, but the signatures of its %s were not checked: no public key "+
					"(no --public-key, no journal.public_keys, no signing key at %s); a forged checkpoint would pass.\n"+
					"Give the public key kept elsewhere with --public-key FILE (timon audit public-key --set prints it).\n",
					plural(rep.Entries, "entry", "entries"), plural(rep.Checkpoints, "checkpoint", "checkpoints"), keys.local)
				return errFailed
			}
			if rep.Entries > 0 && rep.Checkpoints == 0 && !*allowNone {
				fmt.Fprintf(stderr, "NOT VERIFIED: %s and no checkpoint: nothing proves the journal was not truncated or rewritten.\n"+
					"A running hub signs its first checkpoint after journal.checkpoint_every entries, within a minute, or when it stops.\n"+
					"Give checkpoints kept elsewhere with --checkpoints FILE, or accept a journal without any with --allow-no-checkpoint.\n",
					plural(rep.Entries, "entry", "entries"))
				return errFailed
			}
			fmt.Fprintln(stdout, rep.String())
			keys.report(stdout, rep)
			if !keys.outside {
				fmt.Fprint(stderr, keys.warning())
			}
			return nil
		})
	case "export", "tail":
		format := fs.String("format", "jsonl", "jsonl or csv")
		var follow *bool
		var n *int
		if sub == "tail" {
			follow = fs.Bool("f", false, "keep printing new entries")
			n = fs.Int("n", 20, "the number of last entries to print")
		}
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "timon audit %s: unexpected argument %q\n", sub, fs.Arg(0))
			return errUsage
		}
		f, err := filter.filter()
		if err != nil {
			fmt.Fprintln(stderr, "timon audit:", err)
			return errUsage
		}
		if n != nil {
			if *n < 1 {
				fmt.Fprintf(stderr, "timon audit tail: -n: expected a number of entries of at least 1, got %d\n", *n)
				return errUsage
			}
			f.Limit = *n
		}
		return withAudit(ctx, *path, stderr, func(_ *config.Config, st *store.Store) error {
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
		return withAudit(ctx, *path, stderr, func(_ *config.Config, st *store.Store) error {
			s, err := audit.StatsFor(ctx, st, f)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(s)
		})
	case "public-key":
		set := fs.Bool("set", false, "print every signing key with its period (JSON key set): the current one and those retired by rotate-key")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		cfg, err := loadConfig(*path)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "timon: configuration %s, signing key %s\n", configName(cfg), cfg.Journal.SigningKeyFile)
		key, err := audit.ReadPrivateKeyFile(cfg.Journal.SigningKeyFile)
		if errors.Is(err, os.ErrNotExist) {
			where, _ := filepath.Abs(cfg.Journal.SigningKeyFile)
			return fmt.Errorf("no signing key at %s (configuration: %s): give --config FILE, or TIMON_DATA_DIR, for the hub's data", where, configName(cfg))
		}
		if err != nil {
			return err
		}
		pub := key.Public().(ed25519.PublicKey)
		if *set {
			ks, err := localKeySet(cfg)
			if err != nil {
				return err
			}
			if err := ks.Add(audit.TrustedKey{Public: pub}); err != nil {
				return err
			}
			data, err := json.Marshal(ks)
			if err != nil {
				return err
			}
			_, err = stdout.Write(append(data, '\n'))
			return err
		}
		pemBytes, err := audit.PublicKeyPEM(pub)
		if err != nil {
			return err
		}
		_, err = stdout.Write(pemBytes)
		return err
	case "rotate-key":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return withAudit(ctx, *path, stderr, func(cfg *config.Config, st *store.Store) error {
			return rotateKey(ctx, cfg, st, stdout)
		})
	case "checkpoints":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return withAudit(ctx, *path, stderr, func(_ *config.Config, st *store.Store) error {
			return audit.ExportCheckpoints(ctx, st, stdout)
		})
	case "retention":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return withAudit(ctx, *path, stderr, func(cfg *config.Config, st *store.Store) error {
			return retention(ctx, cfg, st, stdout, stderr)
		})
	case "show":
		format := fs.String("format", "text", "text, or json (what GET /admin/audit/{request_id} answers)")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 || (*format != "text" && *format != "json") {
			fmt.Fprintf(stderr, "usage: timon audit show [--format text|json] REQUEST_ID\n")
			return errUsage
		}
		return withAudit(ctx, *path, stderr, func(cfg *config.Config, st *store.Store) error {
			return show(ctx, cfg, st, fs.Arg(0), *format, stdout, stderr)
		})
	}
	fmt.Fprintf(stderr, "timon audit: unknown subcommand %q\n%s", sub, auditUsage)
	return errUsage
}

// trusted is the set of public keys a verification uses, and whether
// they come from outside the data directory.
type trusted struct {
	set     *audit.KeySet // nil: no key at all
	outside bool
	local   string // the signing key file the local key was derived from
}

// trustedKeys resolves the keys verify trusts: the --public-key files,
// else journal.public_keys, else the public half of the local signing key
// with the retired keys of the local key set — which proves only that
// the journal is consistent with what the data directory holds.
func trustedKeys(cfg *config.Config, files []string) (*trusted, error) {
	source := "--public-key"
	if len(files) == 0 {
		files, source = cfg.Journal.PublicKeys, "journal.public_keys"
	}
	if len(files) > 0 {
		t := &trusted{set: &audit.KeySet{}, outside: true}
		for _, f := range files {
			ks, err := audit.ReadKeySetFile(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", source, err)
			}
			if inside(cfg.DataDir, f) || inside(filepath.Dir(cfg.Journal.SigningKeyFile), f) {
				t.outside = false
			}
			for i := range ks.Keys {
				ks.Keys[i].Source = source + " " + f
			}
			t.set.Merge(ks)
		}
		return t, nil
	}
	t := &trusted{local: cfg.Journal.SigningKeyFile}
	key, err := audit.ReadPrivateKeyFile(cfg.Journal.SigningKeyFile)
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, err
	}
	t.set = &audit.KeySet{}
	if err := t.set.Add(audit.TrustedKey{Public: key.Public().(ed25519.PublicKey), Source: "derived from the signing key " + cfg.Journal.SigningKeyFile}); err != nil {
		return nil, err
	}
	ks, err := localKeySet(cfg)
	if err != nil {
		return nil, err
	}
	t.set.Merge(ks)
	return t, nil
}

// inside reports whether file is under dir.
func inside(dir, file string) bool {
	d, err1 := filepath.Abs(dir)
	f, err2 := filepath.Abs(file)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, f)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// localKeySet reads the key set rotate-key keeps (journal.key_set_file);
// none yet is an empty set.
func localKeySet(cfg *config.Config) (*audit.KeySet, error) {
	ks, err := audit.ReadKeySetFile(cfg.Journal.KeySetFile)
	if errors.Is(err, os.ErrNotExist) {
		return &audit.KeySet{}, nil
	}
	return ks, err
}

// report says which keys checked the checkpoints, and where they came from.
func (t *trusted) report(w io.Writer, rep *audit.Report) {
	if t.set == nil {
		fmt.Fprintln(w, "checkpoint signatures NOT checked: no public key (no --public-key, no journal.public_keys, no signing key)")
		return
	}
	for _, k := range t.set.Keys {
		if !rep.OK && strings.Contains(rep.Problem, k.KeyID) {
			continue // the problem names it already, with its source
		}
		fmt.Fprintf(w, "key %s: %s, from %s", k.KeyID, plural(rep.SignedBy[k.KeyID], "checkpoint", "checkpoints"), strings.TrimPrefix(k.Source, "derived from "))
		if !k.NotAfter.IsZero() {
			fmt.Fprintf(w, ", retired %s", k.NotAfter.UTC().Format(time.RFC3339))
		}
		fmt.Fprintln(w)
	}
}

func (t *trusted) warning() string {
	if t.set == nil {
		return "WARNING: checkpoint signatures were not checked: give the public key kept elsewhere with --public-key FILE or journal.public_keys.\n"
	}
	where := "the key in the data directory (" + t.local + ")"
	if t.local == "" {
		where = "public keys kept inside the data directory"
	}
	return "WARNING: no public key kept outside the data directory was given: the checkpoints were checked against\n" +
		where + ". This proves only that the journal is consistent with\n" +
		"that key, not that it is authentic: whoever can write the data directory can rewrite the journal and re-sign it.\n" +
		"Keep the output of `timon audit public-key --set` elsewhere and pass it with --public-key FILE (or journal.public_keys).\n"
}

// rotateKey replaces the signing key: the rotation is journaled and
// checkpointed under the old key, the old public key is kept in the key
// set with the end of its period, and the new key replaces the key file.
func rotateKey(ctx context.Context, cfg *config.Config, st *store.Store, stdout io.Writer) error {
	path := cfg.Journal.SigningKeyFile
	old, err := audit.ReadPrivateKeyFile(path)
	if err != nil {
		return fmt.Errorf("rotating the signing key: reading the current key: %w", err)
	}
	next, err := audit.GenerateSigningKey()
	if err != nil {
		return fmt.Errorf("rotating the signing key: %w", err)
	}
	pemBytes, err := audit.PrivateKeyPEM(next)
	if err != nil {
		return err
	}
	// The new key is written first beside the old one, so that once the
	// rotation is journaled nothing but a rename is left to fail.
	tmp := path + ".new"
	os.Remove(tmp)
	if err := createPrivateFile(tmp, pemBytes); err != nil {
		return fmt.Errorf("rotating the signing key: writing the new key: %w", err)
	}
	defer os.Remove(tmp)
	ks, err := localKeySet(cfg)
	if err != nil {
		return fmt.Errorf("rotating the signing key: %w", err)
	}
	rot, err := audit.Rotate(ctx, st, old, next.Public().(ed25519.PublicKey), localUser())
	if err != nil {
		return err
	}
	ks.Add(rot.OldKey)
	ks.Add(rot.NewKey)
	data, err := json.Marshal(ks)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(cfg.Journal.KeySetFile, append(data, '\n')); err != nil {
		return fmt.Errorf("rotating the signing key: keeping the old public key in %s: %w", cfg.Journal.KeySetFile, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rotating the signing key: replacing %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "rotated the journal signing key: %s retired at %s (entry %d, its last checkpoint), %s signs from now on\n",
		rot.OldKey.KeyID, rot.Checkpoint.Time.Format(time.RFC3339Nano), rot.Entry.Seq, rot.NewKey.KeyID)
	fmt.Fprintf(stdout, "the old public key is kept in %s; keep a copy of `timon audit public-key --set` outside the data directory\n", cfg.Journal.KeySetFile)
	fmt.Fprintln(stdout, "start timon serve again, on every replica with the new key file")
	return nil
}

// localUser names who runs the CLI in the journal: local:<OS user>.
func localUser() string {
	if u, err := user.Current(); err == nil {
		return "local:" + u.Username
	}
	return "local"
}

// retention drops the content older than journal.retention, then verifies
// the whole chain and says what it found: a journal that does not verify
// fails the command.
func retention(ctx context.Context, cfg *config.Config, st *store.Store, stdout, stderr io.Writer) error {
	ret := time.Duration(cfg.Journal.Retention)
	if ret == 0 {
		return fmt.Errorf("journal.retention is not set: content is kept")
	}
	// The cut is exact to the millisecond, and printed so: a rounded cut
	// would keep content younger than the retention says by up to its
	// rounding.
	cut := time.Now().Add(-ret).UTC().Truncate(time.Millisecond)
	n, err := audit.ApplyRetention(ctx, st, cut)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "dropped the content of %s older than %s (journal.retention %s); the entries are kept\n",
		plural(n, "entry", "entries"), cut.Format("2006-01-02T15:04:05.000Z07:00"), days(ret))
	keys, err := trustedKeys(cfg, nil)
	if err != nil {
		return fmt.Errorf("verifying the chain after retention: %w", err)
	}
	rep, err := audit.VerifyKeys(ctx, st, keys.set, nil)
	if err != nil {
		return fmt.Errorf("verifying the chain after retention: %w", err)
	}
	if !rep.OK {
		fmt.Fprintf(stderr, "chain NOT verified after retention: %s\n", rep)
		keys.report(stderr, rep)
		return errFailed
	}
	fmt.Fprintf(stdout, "chain verified: %s\n", strings.TrimPrefix(rep.String(), "OK: "))
	switch {
	case keys.set == nil:
		fmt.Fprintln(stdout, "checkpoint signatures NOT checked: no public key (no journal.public_keys, no signing key)")
	case !keys.outside:
		fmt.Fprintln(stdout, "checkpoint signatures checked against the keys in the data directory only; "+
			"run timon audit verify --public-key FILE with the key kept elsewhere")
	default:
		fmt.Fprintln(stdout, "checkpoint signatures checked with journal.public_keys")
	}
	return nil
}

// days writes d as the configuration does: 365d, or 36h0m0s.
func days(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// show prints the entries of one request with the content kept under
// content: full, after journaling the reading as localUser.
func show(ctx context.Context, cfg *config.Config, st *store.Store, id, format string, stdout, stderr io.Writer) error {
	// The reading is checkpointed on close like a hub's entries; without
	// the signing key the hub's next checkpoint covers it.
	sign, err := audit.ReadPrivateKeyFile(cfg.Journal.SigningKeyFile)
	if errors.Is(err, os.ErrNotExist) {
		sign = nil
	} else if err != nil {
		return err
	}
	hkey, err := readHashKey(cfg)
	if err != nil {
		return err
	}
	j, err := audit.Open(ctx, st, audit.Options{SigningKey: sign, ContentKey: cfg.Journal.ContentKey, HashKey: hkey})
	if err != nil {
		return err
	}
	r, err := j.Read(ctx, id, audit.Reader{UserID: localUser()})
	if cerr := j.Close(); err == nil && cerr != nil {
		return fmt.Errorf("checkpointing the reading of request %s: %w", id, cerr)
	}
	if errors.Is(err, store.ErrNotFound) {
		fmt.Fprintf(stderr, "timon audit show: no journal entry for request %s\n", id)
		return errFailed
	}
	if err != nil {
		return err
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	bw := bufio.NewWriter(stdout)
	fmt.Fprintf(bw, "request %s: %s\n", safe(r.RequestID), plural(int64(len(r.Entries)), "entry", "entries"))
	fmt.Fprintf(bw, "this reading is journaled: entry %d (integration %s, task %s, user %s)\n",
		r.Journaled.Seq, r.Journaled.Integration, r.Journaled.Task, safe(r.Journaled.UserID))
	for _, e := range r.Entries {
		fmt.Fprintf(bw, "\nentry %d at %s\n", e.Seq, e.Time.Format(time.RFC3339Nano))
		fmt.Fprintf(bw, "  user %s, groups %s, integration %s, task %s\n", dash(e.UserID), dash(strings.Join(e.Groups, ",")), dash(e.Integration), dash(e.Task))
		fmt.Fprintf(bw, "  rule %s, decision %s, outcome %s", dash(e.Rule), dash(e.Decision), dash(e.Outcome))
		if e.Error != "" {
			fmt.Fprintf(bw, ": %s", safe(e.Error))
		}
		fmt.Fprintf(bw, "\n  provider %s, model %s, classification %s\n", dash(e.Provider), dash(e.Model), dash(e.Classification))
		reds := make([]string, 0, len(e.Redactions))
		for k, v := range e.Redactions {
			reds = append(reds, fmt.Sprintf("%s=%d", safe(k), v))
		}
		slices.Sort(reds)
		fmt.Fprintf(bw, "  tokens %d in, %d out, latency %d ms, redactions %s\n", e.TokensIn, e.TokensOut, e.LatencyMS, dash(strings.Join(reds, " ")))
		if e.Moderation != "" {
			fmt.Fprintf(bw, "  moderation %s\n", safe(strings.ReplaceAll(e.Moderation, ";", " ")))
		}
		fmt.Fprintf(bw, "  content: %s\n", e.ContentNote)
		if e.Content != nil {
			fmt.Fprintf(bw, "--- sent to the model\n%s\n--- returned by the model\n%s\n---\n", safe(e.Content.Sent), safe(e.Content.Returned))
		}
	}
	return bw.Flush()
}

// safe keeps what the journal holds from driving the terminal: NUL, which
// separates a prompt's roles and messages as stored, shows as ␀; other
// control characters but newline and tab as U+FFFD. --format json keeps
// the exact text.
func safe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == 0:
			return '\u2400'
		case (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r < 0xa0):
			return '\uFFFD'
		}
		return r
	}, s)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return safe(s)
}

// readHashKey reads the journal's content-hash key without creating it
// (timon serve does): from journal.hash_key_env, else journal.hash_key_file;
// none is nil.
func readHashKey(cfg *config.Config) ([]byte, error) {
	if cfg.Journal.HashKey != nil || cfg.Journal.HashKeyFile == "" {
		return cfg.Journal.HashKey, nil
	}
	data, err := readPrivateFile(cfg.Journal.HashKeyFile, "journal hash key")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	key, err := config.DecodeKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("reading the journal hash key %s: expected 32 bytes in hex or base64", cfg.Journal.HashKeyFile)
	}
	return key, nil
}

// writeFileAtomic replaces path with data (mode 0600) through a rename.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := createPrivateFile(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func withAudit(ctx context.Context, path string, stderr io.Writer, f func(*config.Config, *store.Store) error) error {
	return withStore(ctx, path, stderr, false, func(cfg *config.Config, st *store.Store) error {
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

// parseWhen reads 2026-01-31, an RFC 3339 time, or a duration ago (7d),
// as the admin routes do.
func parseWhen(s string) (time.Time, error) { return audit.ParseWhen(s, time.Now()) }

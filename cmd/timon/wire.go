package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/assistant"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/biblio"
	"timon.dev/timon/core/config"
	"timon.dev/timon/core/jobs"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/quota"
	"timon.dev/timon/core/redact"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/postgres"
	"timon.dev/timon/core/store/sqlite"
)

// This file is the one place where timon is wired: configuration to store,
// providers, redactors, quotas, journal and engine. serve and lsp (local
// mode) both start from here.

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func openStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	switch cfg.Store.Driver {
	case "postgres":
		return postgres.Open(ctx, cfg.Store.DSN)
	default:
		return sqlite.Open(cfg.SQLitePath())
	}
}

func buildProviders(cfg *config.Config) ([]*provider.Client, error) {
	var out []*provider.Client
	for _, p := range cfg.Providers {
		c, err := provider.New(provider.Config{
			Name: p.Name, Kind: provider.Kind(p.Kind), BaseURL: p.BaseURL, APIKey: p.APIKey, Models: p.Models,
			Timeout: time.Duration(p.Timeout), MaxRetries: p.MaxRetries, Sovereign: p.Sovereign,
		})
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", p.Name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// buildClassifiers builds the moderation classifiers; none when the
// configuration has no moderation section.
func buildClassifiers(cfg *config.Config) ([]*provider.Classifier, error) {
	var out []*provider.Classifier
	for _, cc := range cfg.Moderation.ClassifierConfigs() {
		k, err := provider.NewClassifier(cc)
		if err != nil {
			return nil, fmt.Errorf("moderation classifier %s: %w", cc.Name, err)
		}
		out = append(out, k)
	}
	return out, nil
}

func buildPolicy(cfg *config.Config) (*policy.Policy, error) {
	var infos []policy.Provider
	for _, p := range cfg.Providers {
		infos = append(infos, policy.Provider{Name: p.Name, Models: p.Models, Sovereign: p.Sovereign})
	}
	infos = append(infos, cfg.Bibliography.SourcePolicyInfos()...)
	return policy.New(cfg.Policy, infos)
}

func buildRedactors(cfg *config.Config) (map[string]*redact.Redactor, error) {
	profiles := map[string]config.Profile{"default": {}}
	for name, p := range cfg.Redaction.Profiles {
		profiles[name] = p
	}
	out := map[string]*redact.Redactor{}
	for name, p := range profiles {
		r, err := newRedactor(name, p)
		if err != nil {
			return nil, err
		}
		out[name] = r
	}
	return out, nil
}

func newRedactor(name string, p config.Profile) (*redact.Redactor, error) {
	rp := redact.Profile{Name: name, Actions: map[string]redact.Action{}, Terms: p.Terms}
	for k, a := range p.Actions {
		rp.Actions[k] = redact.Action(a)
	}
	for _, pat := range p.Patterns {
		rp.Patterns = append(rp.Patterns, redact.Pattern{Name: pat.Name, Regex: pat.Regex})
	}
	r, err := redact.New(rp)
	if err != nil {
		return nil, fmt.Errorf("redaction profile %s: %w", name, err)
	}
	return r, nil
}

// quotaSubjects maps a principal to its budgets: its own (a named user's,
// else every user's) and each of its groups' that has one.
func quotaSubjects(q config.Quotas) func(core.Principal) []quota.Subject {
	lim := func(l config.QuotaLimits) quota.Limits {
		return quota.Limits{RequestsPerMinute: l.RequestsPerMinute, TokensPerDay: l.TokensPerDay, TokensPerMonth: l.TokensPerMonth, Concurrent: l.Concurrent}
	}
	return func(p core.Principal) []quota.Subject {
		user := q.User
		if u, ok := q.Users[p.UserID]; ok {
			user = u
		}
		subs := []quota.Subject{{Key: "user:" + p.UserID, Limits: lim(user)}}
		for _, g := range p.Groups {
			if gl, ok := q.Groups[g]; ok {
				subs = append(subs, quota.Subject{Key: "group:" + g, Limits: lim(gl)})
			}
		}
		return subs
	}
}

// signingKey loads the journal's checkpoint key (PKCS#8 PEM), creating it
// on first start. A key file that group or others may read or write is
// refused: whoever reads it can sign checkpoints.
func signingKey(cfg *config.Config, log *slog.Logger) (ed25519.PrivateKey, error) {
	path := cfg.Journal.SigningKeyFile
	data, err := readPrivateFile(path, "journal signing key")
	if errors.Is(err, os.ErrNotExist) {
		key, err := audit.GenerateSigningKey()
		if err != nil {
			return nil, fmt.Errorf("creating the journal signing key: %w", err)
		}
		pemBytes, err := audit.PrivateKeyPEM(key)
		if err != nil {
			return nil, fmt.Errorf("creating the journal signing key: %w", err)
		}
		switch err := createPrivateFile(path, pemBytes); {
		case errors.Is(err, os.ErrExist):
			// Another process starting at the same time wrote it.
			return signingKey(cfg, log)
		case err != nil:
			return nil, fmt.Errorf("creating the journal signing key: %w", err)
		}
		log.Info("created the journal signing key; keep a copy of its public key elsewhere (timon audit public-key) and give it to timon audit verify", "path", path)
		return key, nil
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("reading the journal signing key %s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	key, ok := k.(ed25519.PrivateKey)
	if err != nil || !ok {
		return nil, fmt.Errorf("reading the journal signing key %s: expected an Ed25519 private key (PKCS#8 PEM)", path)
	}
	return key, nil
}

// hashKey loads the key of the journal's keyed content hashes: from
// journal.hash_key_env, or the file journal.hash_key_file (by default
// audit-hash.key in the data directory), created on first start. Replicas
// on one PostgreSQL must share it, like the signing key.
func hashKey(cfg *config.Config, log *slog.Logger) ([]byte, error) {
	if cfg.Journal.HashKey != nil {
		return cfg.Journal.HashKey, nil
	}
	path := cfg.Journal.HashKeyFile
	data, err := readPrivateFile(path, "journal hash key")
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("creating the journal hash key: %w", err)
		}
		switch err := createPrivateFile(path, []byte(hex.EncodeToString(key)+"\n")); {
		case errors.Is(err, os.ErrExist):
			return hashKey(cfg, log)
		case err != nil:
			return nil, fmt.Errorf("creating the journal hash key: %w", err)
		}
		log.Info("created the journal hash key; every replica sharing the journal needs the same file", "path", path)
		return key, nil
	}
	if err != nil {
		return nil, err
	}
	key, err := config.DecodeKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("reading the journal hash key %s: expected 32 bytes in hex or base64", path)
	}
	return key, nil
}

// readPrivateFile reads a key file, refusing one that group or others may
// read or write. A missing file is os.ErrNotExist, unwrapped for errors.Is.
func readPrivateFile(path, what string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("reading the %s: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading the %s: %w", what, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("the %s %s is open to group or others (mode %04o): anyone who reads it can forge the journal's proofs; run chmod 600 %s (and replace the key if others may have read it)", what, path, perm, path)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading the %s %s: %w", what, path, err)
	}
	return data, nil
}

// createPrivateFile writes a new key file readable by its owner only
// (0600, whatever the umask), in a directory created 0700; it fails with
// os.ErrExist if the file exists, so that two processes starting at once
// do not each write a key.
func createPrivateFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// warnDataDir logs a warning when the data directory is open to group or
// others: the files timon creates there are 0600, but a directory anyone
// can list or write lets them see, replace or delete those files.
func warnDataDir(cfg *config.Config, log *slog.Logger) {
	fi, err := os.Stat(cfg.DataDir)
	if err != nil {
		return
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		log.Warn("the data directory is open to group or others; its files are 0600, but run chmod 700 on it",
			"path", cfg.DataDir, "mode", fmt.Sprintf("%04o", perm))
	}
}

// hub is everything a running hub holds.
type hub struct {
	cfg       *config.Config
	store     *store.Store
	journal   *audit.Journal
	quota     *quota.Quota
	providers []*provider.Client
	engine    *assistant.Engine
	jobs      *jobs.Queue
}

func (h *hub) Close() error {
	var err error
	if h.quota != nil {
		// Commit the queued settlements while the store is open.
		err = errors.Join(err, h.quota.Close())
	}
	if h.journal != nil {
		err = errors.Join(err, h.journal.Close())
	}
	if h.store != nil {
		err = errors.Join(err, h.store.Close())
	}
	return err
}

// openHub wires a governed engine over the configured store.
func openHub(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *hub, err error) {
	if err := cfg.CheckEngine(); err != nil {
		return nil, err
	}
	h := &hub{cfg: cfg}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	if h.store, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	warnDataDir(cfg, log)
	if h.providers, err = buildProviders(cfg); err != nil {
		return nil, err
	}
	pol, err := buildPolicy(cfg)
	if err != nil {
		return nil, err
	}
	redactors, err := buildRedactors(cfg)
	if err != nil {
		return nil, err
	}
	classifiers, err := buildClassifiers(cfg)
	if err != nil {
		return nil, err
	}
	var sources []biblio.Source
	for _, sc := range cfg.Bibliography.SourceConfigs() {
		src, err := biblio.New(sc)
		if err != nil {
			return nil, fmt.Errorf("bibliographic %w", err)
		}
		sources = append(sources, src)
	}
	if h.quota, err = quota.New(ctx, h.store); err != nil {
		return nil, fmt.Errorf("opening quotas: %w", err)
	}
	key, err := signingKey(cfg, log)
	if err != nil {
		return nil, err
	}
	hkey, err := hashKey(cfg, log)
	if err != nil {
		return nil, err
	}
	h.journal, err = audit.Open(ctx, h.store, audit.Options{
		SigningKey: key, ContentKey: cfg.Journal.ContentKey, HashKey: hkey, CheckpointEvery: cfg.Journal.CheckpointEvery, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the journal: %w", err)
	}
	h.engine, err = assistant.New(assistant.Options{
		Policy: pol, Providers: h.providers, Redactors: redactors, Quota: h.quota, Subjects: quotaSubjects(cfg.Quotas),
		Journal: h.journal, MaxTokens: cfg.MaxTokens, MaxTokensCeiling: cfg.Limits.MaxTokensCeiling, Logger: log,
		RedactTimeout: time.Duration(cfg.Redaction.Timeout), Classifiers: classifiers, Sources: sources,
	})
	if err != nil {
		return nil, err
	}
	h.jobs = jobs.New(h.store, jobs.Options{
		Logger: log, Workers: cfg.Jobs.Workers,
		JobTimeout: time.Duration(cfg.Jobs.JobTimeout), RescueAfter: time.Duration(cfg.Jobs.RescueAfter),
		PollInterval: time.Duration(cfg.Jobs.PollInterval),
	})
	return h, nil
}

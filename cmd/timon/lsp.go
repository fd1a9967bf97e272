package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"runtime/debug"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/config"
	"timon.dev/timon/core/remote"
	"timon.dev/timon/lsp/server"
)

// cmdLSP runs the language server on stdin and stdout: in local mode the
// governed engine in-process (its own journal in the data directory), in
// remote mode the hub's client with the user's personal token.
func cmdLSP(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("lsp", stderr)
	path := fs.String("config", "", "configuration file (default: the embedded example, local mode)")
	hub := fs.String("hub", "", "the hub's URL: remote mode, with the personal token in TIMON_TOKEN, else the one timon login stored")
	fs.Bool("stdio", true, "talk LSP on stdin and stdout (the only transport; accepted for editors that pass it)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var (
		cfg   *config.Config
		asst  core.Assistant
		p     = core.Principal{Integration: core.IntegrationLSP}
		close = func() error { return nil }
		err   error
	)
	remoteMode := *hub != ""
	if !remoteMode && *path != "" {
		if remoteMode, err = namesHub(*path); err != nil {
			return err
		}
	}
	if remoteMode {
		if cfg, err = config.LoadLSP(*path, *hub, frontEndSections()...); err != nil {
			return fmt.Errorf("invalid configuration for timon lsp (remote mode):\n%w", err)
		}
		c, err := remote.New(cfg.LSP.HubURL, cfg.LSP.Token, nil)
		if err != nil {
			return err
		}
		asst = c
		log := newLogger(stderr, cfg.LSP.LogLevel)
		if cfg.LSP.CredentialsFile != "" {
			log.Info("using the token timon login stored", "file", cfg.LSP.CredentialsFile)
		}
		go func() {
			if err := c.Ping(ctx); err != nil && ctx.Err() == nil {
				log.Warn("the hub does not answer yet; requests will fail until it does", "err", err)
			}
		}()
		report := func(ctx context.Context, counts []core.SuggestionCount) error {
			return c.SendSuggestions(ctx, core.IntegrationLSP, counts)
		}
		return runLSP(ctx, cfg, asst, p, close, report, stdin, stdout, log)
	}

	if cfg, err = loadLocalLSPConfig(*path); err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LSP.LogLevel)
	// An editor keeps the server for hours, with a live heap of about
	// 2 MB: collecting at 25 % of growth rather than 100 % keeps it in
	// fewer pages for a few more, sub-millisecond, collections. Opening
	// the hub compiles the redaction rules, some 8 MB of parse trees
	// around the 1 MB that stays, which this packs too: together about
	// 1.5 MB less resident (BenchmarkLSPIdleRSS).
	debug.SetGCPercent(25)
	h, err := openHub(ctx, cfg, log)
	if err != nil {
		return err
	}
	var once sync.Once
	var closeErr error
	close = func() error {
		once.Do(func() { closeErr = h.Close() })
		return closeErr
	}
	defer close()
	p.UserID, p.Groups = cfg.LSP.User, cfg.LSP.Groups
	if p.UserID == "" {
		p.UserID = osUser()
	}
	sugg, err := audit.OpenSuggestions(ctx, h.store)
	if err != nil {
		return err
	}
	report := func(ctx context.Context, counts []core.SuggestionCount) error {
		return sugg.Add(ctx, p, time.Now(), counts)
	}
	return runLSP(ctx, cfg, h.engine, p, close, report, stdin, stdout, log)
}

// runLSP serves one editor; report receives the counts of suggestions
// shown and accepted (the local counters, or the hub).
func runLSP(ctx context.Context, cfg *config.Config, a core.Assistant, p core.Principal, closeHub func() error,
	report func(context.Context, []core.SuggestionCount) error, stdin io.Reader, stdout io.Writer, log *slog.Logger) error {
	lo, hi := cfg.LSP.DebounceRange()
	mode := "local"
	if cfg.LSP.Remote() {
		mode = "remote"
	}
	log.Info("timon lsp starting", "mode", mode, "version", version)
	// An editor keeps one server per window or project for hours. In
	// local mode, hand the heap the start left free (the hub's opening)
	// back to the system once the start is over: the runtime's scavenger
	// would keep it for minutes. Not in remote mode, whose heap is small:
	// the collection costs more there than it returns.
	if mode == "local" {
		handBack := time.AfterFunc(3*time.Second, debug.FreeOSMemory)
		defer handBack.Stop()
	}
	err := server.Serve(ctx, stdio{stdin, stdout}, server.Options{
		Assistant: a, Principal: p,
		PrefixTokens: cfg.LSP.MaxPrefixTokens, SuffixTokens: cfg.LSP.MaxSuffixTokens,
		CompletionMaxTokens: cfg.LSP.CompletionMaxTokens, Debounce: lo, MaxDebounce: hi,
		ProseCompletion: cfg.LSP.ProseCompletion, Ignore: cfg.LSP.Ignore, Glossary: glossaryTerms(cfg.LSP.Glossary),
		PlainRewrites: !cfg.LSP.Previews(), ReportSuggestions: report,
		OnShutdown: func(context.Context) error { return closeHub() },
		Version:    version, Logger: log,
	})
	switch {
	case errors.Is(err, server.ErrNoShutdown):
		log.Warn("the editor left without shutting the server down")
		return errFailed
	case err != nil && ctx.Err() != nil:
		return nil // interrupted
	}
	return err
}

// namesHub reports whether the configuration file names a hub (remote
// mode), without validating the rest: a remote-mode file need not
// configure providers.
func namesHub(path string) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("reading configuration: %w", err)
	}
	var peek struct {
		LSP struct {
			HubURL string `yaml:"hub_url"`
		} `yaml:"lsp"`
	}
	if err := yaml.Unmarshal(data, &peek); err != nil {
		return false, nil // the full load reports it with its line
	}
	return peek.LSP.HubURL != "", nil
}

// loadLocalLSPConfig is loadConfig for local mode: the editor starts
// timon lsp in the user's project, so the data directory (journal, keys)
// defaults to the per-user one, never the working directory.
func loadLocalLSPConfig(path string) (*config.Config, error) {
	return loadConfigBy(path, config.ParseLocalLSP, config.LoadLocalLSP)
}

func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "local"
}

// stdio is the server's transport: it reads stdin and writes stdout.
type stdio struct {
	r io.Reader
	w io.Writer
}

func (s stdio) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s stdio) Write(p []byte) (int, error) { return s.w.Write(p) }

// Close closes stdin so that a blocked read returns.
func (s stdio) Close() error {
	if c, ok := s.r.(io.Closer); ok {
		done := make(chan struct{})
		go func() { c.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Second):
		}
	}
	return nil
}

// glossaryTerms is lsp.glossary for the server.
func glossaryTerms(es []config.GlossaryEntry) []core.GlossaryTerm {
	out := make([]core.GlossaryTerm, len(es))
	for i, e := range es {
		out[i] = core.GlossaryTerm{Source: e.Source, Target: e.Target, Keep: e.Keep}
	}
	return out
}

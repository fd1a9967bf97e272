package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/config"
	"timon.dev/timon/core/metrics"
	"timon.dev/timon/core/provider"
	"timon.dev/timon/webhooks/console"
	"timon.dev/timon/webhooks/server"
)

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	path := fs.String("config", "", "configuration file (default: the embedded example)")
	addr := fs.String("addr", "", "listen address HOST:PORT (default: server.addr of the configuration)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if *addr != "" {
		cfg.Server.Addr = *addr
	}
	log := newLogger(stderr, cfg.Server.LogLevel)
	return serve(ctx, cfg, log)
}

// serve runs the hub until ctx ends, then drains.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	h, err := openHub(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer h.Close()

	ready := []server.Check{
		{Name: "store", Func: h.store.Ping},
		{Name: "journal", Func: h.journal.Ping},
	}
	var models []string
	for _, p := range h.providers {
		ready = append(ready, server.Check{Name: "provider " + p.Name(), Func: p.Ready, AnyOf: "providers"})
		for _, m := range p.Models() {
			if !slices.Contains(models, m) {
				models = append(models, m)
			}
		}
	}
	// Front ends attach their routes and register their job workers before
	// the queue starts; the queue starts before the HTTP server accepts.
	var mounts []server.Mount
	var runs []func(context.Context) error
	for _, build := range []frontendBuilder{chatFrontend, gitlabFrontend} {
		fe, err := build(ctx, h, log)
		if err != nil {
			return err
		}
		if fe == nil {
			continue
		}
		mounts = append(mounts, fe.Mounts...)
		if fe.Run != nil {
			runs = append(runs, fe.Run)
		}
		ready = append(ready, fe.Ready...)
	}
	// The people's console, when sign-in is configured: it serves
	// /console/ and /auth/ in front of the hub's routes.
	con, err := consoleHandler(ctx, h, log)
	if err != nil {
		return err
	}
	if err := h.jobs.Start(ctx); err != nil {
		return err
	}
	metrics.WatchJobs(func(ctx context.Context) (map[string]metrics.QueueStats, error) {
		st, err := h.jobs.StatsByKind(ctx)
		out := make(map[string]metrics.QueueStats, len(st))
		for k, s := range st {
			out[k] = metrics.QueueStats{Pending: s.Pending, OldestAge: s.OldestAge}
		}
		return out, err
	})
	// One drain budget for everything: HTTP requests in flight and running
	// jobs finish within drain_timeout of the signal, together.
	drain := time.Duration(cfg.Server.DrainTimeout)
	var drainBy time.Time
	defer func() {
		if drainBy.IsZero() {
			drainBy = time.Now().Add(drain)
		}
		sctx, cancel := context.WithDeadline(context.Background(), drainBy)
		defer cancel()
		if err := h.jobs.Stop(sctx); err != nil {
			log.Warn("job queue stopped before its running jobs ended; they run again after restart", "err", err)
		}
	}()
	for _, run := range runs {
		go func() {
			if err := run(ctx); err != nil && ctx.Err() == nil {
				log.Error("front end stopped", "err", err)
			}
		}()
	}

	sugg, err := audit.OpenSuggestions(ctx, h.store)
	if err != nil {
		return err
	}
	srv := server.New(server.Options{
		Assistant: h.engine, Store: h.store, Journal: h.journal, Suggestions: sugg, Ready: ready, MaxBodyBytes: cfg.Server.MaxBodyBytes,
		BodyTimeout: time.Duration(cfg.Server.BodyTimeout),
		AdminGroup:  cfg.Server.AdminGroup, Models: models, Mounts: mounts, Off: offRoutes(cfg, mounts), Logger: log,
	})

	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Server.Addr, err)
	}
	hs := &http.Server{Handler: console.Wrap(srv, con), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("timon serve listening", "addr", ln.Addr().String(), "config", cfg.Path, "store", h.store.Dialect(), "database", h.store.Source())

	// Say plainly, at start, which model endpoints do not answer.
	go func() {
		for _, p := range h.providers {
			pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := p.Ready(pctx)
			cancel()
			var unlisted *provider.ModelsNotListed
			if errors.As(err, &unlisted) {
				log.Info("provider answers but does not list its models; they are not checked", "provider", p.Name(), "url", p.BaseURL())
			} else if err != nil {
				log.Warn("no model answers at this provider yet; /readyz reports not ready until one does",
					"provider", p.Name(), "url", p.BaseURL(), "reason", err.Error())
			} else {
				log.Info("provider answers", "provider", p.Name(), "url", p.BaseURL())
			}
		}
	}()

	if ret := time.Duration(cfg.Journal.Retention); ret > 0 {
		go retentionLoop(ctx, h, ret, log)
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	drainBy = time.Now().Add(drain)
	log.Info("stopping: draining in-flight requests and running jobs", "drain_timeout", drain.String())
	sctx, cancel := context.WithDeadline(context.Background(), drainBy)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("drain incomplete", "err", err)
	}
	log.Info("stopped")
	return nil
}

// frontendRoutes are the paths each integration mounts when it is on
// (see chatFrontend and gitlabFrontend), and how its name reads.
var frontendRoutes = []struct {
	name, title string
	paths       []string
}{
	{"slack", "Slack", []string{"/slack/events", "/slack/commands"}},
	{"mattermost", "Mattermost", []string{"/mattermost/command"}},
	{"gitlab", "GitLab review", []string{"/webhooks/gitlab"}},
}

// offRoutes says, for each path of an integration that is not mounted,
// which settings switch it on: a request there answers 404 saying so
// rather than a bare "no route".
func offRoutes(cfg *config.Config, mounts []server.Mount) map[string]string {
	off := map[string]string{}
	for _, fr := range frontendRoutes {
		in, ok := cfg.Integration(fr.name)
		if !ok {
			continue
		}
		for _, p := range fr.paths {
			if slices.ContainsFunc(mounts, func(m server.Mount) bool { return m.Path == p }) {
				continue
			}
			off[p] = fmt.Sprintf("the %s integration is %s; %s", fr.title, in.State, in.Why)
		}
	}
	return off
}

// frontend is what one integration (chat bots, GitLab review) adds to the
// hub: HTTP routes, readiness checks, and a background loop (a WebSocket,
// Socket Mode) that runs until the hub stops.
type frontend struct {
	Mounts []server.Mount
	Ready  []server.Check
	Run    func(ctx context.Context) error
}

// frontendBuilder builds a front end from the hub, registering its job
// workers on h.jobs; nil means the front end is switched off.
type frontendBuilder func(ctx context.Context, h *hub, log *slog.Logger) (*frontend, error)

// retentionLoop drops journal content older than the retention period, at
// start and then hourly; the chain still verifies. Several replicas may run
// it at once: deleting what is already deleted is harmless.
func retentionLoop(ctx context.Context, h *hub, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := audit.ApplyRetention(ctx, h.store, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("journal retention failed", "err", err)
		case n > 0:
			log.Info("journal retention dropped content", "entries", n, "older_than", retention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

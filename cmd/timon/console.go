package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/identity"
	"timon.dev/timon/webhooks/console"
)

// consoleHandler builds the people's console (sign-in, My timon, device
// sign-in, admin pages) when sign_in is configured, and starts the hourly
// sweep of its expired rows; nil when sign-in is off. serve puts it in
// front of the hub's handler with console.Wrap.
func consoleHandler(ctx context.Context, h *hub, log *slog.Logger) (http.Handler, error) {
	cfg := sectionOf[console.Config](h.cfg, "sign_in")
	if !cfg.Enabled() {
		return nil, nil
	}
	id, err := identity.New(ctx, h.store, identity.Options{
		Groups:              cfg.Mapping(),
		SessionLifetime:     time.Duration(cfg.SessionLifetime),
		IdleTimeout:         time.Duration(cfg.SessionIdle),
		DeviceTokenLifetime: time.Duration(cfg.DeviceTokenLifetime),
	})
	if err != nil {
		return nil, err
	}
	rd, err := consoleReads(h, log)
	if err != nil {
		return nil, err
	}
	con, err := console.New(console.Options{Config: cfg, Identity: id, Store: h.store, Logger: log,
		Mine: console.MineSections(rd), Admin: console.AdminSections(rd)})
	if err != nil {
		return nil, err
	}
	go func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if err := id.Sweep(ctx); err != nil && ctx.Err() == nil {
				log.Warn("sweeping expired sign-in rows", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	log.Info("sign-in console on", "issuer", cfg.Issuer, "public_url", cfg.PublicURL)
	return con, nil
}

// consoleReads are what the console's sections read: the hub's store and
// journal, the configured quotas, the estimates of the chat bots' usage
// command, the content and hash keys of the journal (a person sees what
// left of their own requests), and the keys timon audit verify trusts
// (the latest checkpoint is checked with them).
func consoleReads(h *hub, log *slog.Logger) (*console.Reads, error) {
	var hashKeys [][]byte
	if h.journal != nil {
		// openHub loaded it (or created it) for the journal: read here,
		// never created.
		hkey, err := hashKey(h.cfg, log)
		if err != nil {
			return nil, err
		}
		hashKeys = append(hashKeys, hkey)
	}
	keys, err := trustedKeys(h.cfg, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the journal's trusted keys for the console: %w", err)
	}
	return &console.Reads{
		Store: h.store, Journal: h.journal, Quota: h.quota, Subjects: quotaSubjects(h.cfg.Quotas), Estimator: audit.NewEstimator(h.cfg.ModelEstimates()),
		ContentKey: h.cfg.Journal.ContentKey, HashKeys: hashKeys, Keys: keys.set,
	}, nil
}

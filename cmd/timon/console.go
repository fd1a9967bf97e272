package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

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
	con, err := console.New(console.Options{Config: cfg, Identity: id, Store: h.store, Logger: log})
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

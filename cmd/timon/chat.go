package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/bots/mattermost"
	"timon.dev/timon/bots/slack"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/webhooks/server"
)

// chatFrontend wires the Mattermost and Slack bots (issue #6): one router
// over the engine, answering through the job queue, and each platform
// switched on by its secrets. Slack: POST /slack/events and
// /slack/commands (404 without the signing secret), and the Socket Mode
// loop with the app-level token. Mattermost: POST /mattermost/command (404
// without the command token) and the WebSocket loop.
func chatFrontend(ctx context.Context, h *hub, log *slog.Logger) (*frontend, error) {
	c := sectionOf[chat.Config](h.cfg, "chat")
	sl := sectionOf[slack.Config](h.cfg, "chat.slack")
	mm := sectionOf[mattermost.Config](h.cfg, "chat.mattermost")
	if !sl.Enabled() && !mm.Enabled() {
		return nil, nil
	}
	// Queued events are sealed under a key derived from the journal
	// signing key, which every hub holds (and replicas share).
	sk, err := signingKey(h.cfg, log)
	if err != nil {
		return nil, err
	}
	jobKey, err := chat.DeriveJobKey(sk.Seed())
	if err != nil {
		return nil, err
	}
	router, err := chat.New(chat.Options{
		Assistant: h.engine, Jobs: h.jobs, JobKey: jobKey, Store: h.store, Config: *c, Logger: log,
		Quota: h.quota, Subjects: quotaSubjects(h.cfg.Quotas), Estimates: audit.NewEstimator(h.cfg.ModelEstimates()),
	})
	if err != nil {
		return nil, err
	}
	fe := &frontend{}
	var runs []func(context.Context) error
	if sl.Enabled() {
		sa, err := slack.New(slack.Options{Router: router, Config: *sl, Logger: log, UpdatesPerMinute: sl.UpdatesPerMinute})
		if err != nil {
			return nil, err
		}
		fe.Mounts = append(fe.Mounts,
			server.Mount{Method: http.MethodPost, Path: "/slack/events", Handler: sa.EventsHandler()},
			server.Mount{Method: http.MethodPost, Path: "/slack/commands", Handler: sa.CommandsHandler()})
		socket := sl.SocketEnabled()
		if socket {
			runs = append(runs, sa.Run)
		}
		// Half-configured modes (socket without the app token, http
		// without the signing secret) never get here: the configuration
		// refuses them.
		log.Info("Slack bot on", "mode", sl.Mode, "socket_mode", socket, "http_endpoints", sl.HTTPEnabled())
	}
	if mm.Enabled() {
		bot, err := mattermost.New(mattermost.Options{Config: *mm, Router: router, Logger: log})
		if err != nil {
			return nil, err
		}
		fe.Mounts = append(fe.Mounts, server.Mount{Method: http.MethodPost, Path: "/mattermost/command", Handler: bot.Handler()})
		runs = append(runs, bot.Run)
		log.Info("Mattermost bot on", "url", mm.URL, "slash_command", mm.CommandEnabled())
	}
	if len(runs) > 0 {
		fe.Run = func(ctx context.Context) error {
			var wg sync.WaitGroup
			errs := make([]error, len(runs))
			for i, run := range runs {
				wg.Go(func() {
					if err := run(ctx); err != nil {
						errs[i] = fmt.Errorf("chat bot: %w", err)
					}
				})
			}
			wg.Wait()
			return errors.Join(errs...)
		}
	}
	return fe, nil
}

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
	"timon.dev/timon/webhooks/server"
)

// chatFrontend wires the Mattermost and Slack bots (issue #6): one router
// over the engine, answering through the job queue, and each platform
// switched on by its secrets. Slack: POST /slack/events and
// /slack/commands (404 without the signing secret), and the Socket Mode
// loop with the app-level token. Mattermost: POST /mattermost/command (404
// without the command token) and the WebSocket loop.
func chatFrontend(ctx context.Context, h *hub, log *slog.Logger) (*frontend, error) {
	c := h.cfg.Chat
	if !c.Slack.Enabled() && !c.Mattermost.Enabled() {
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
		Assistant: h.engine, Jobs: h.jobs, JobKey: jobKey, Store: h.store, Config: c, Logger: log,
		Quota: h.quota, Subjects: quotaSubjects(h.cfg.Quotas),
	})
	if err != nil {
		return nil, err
	}
	fe := &frontend{}
	var runs []func(context.Context) error
	if c.Slack.Enabled() {
		sa, err := slack.New(slack.Options{Router: router, Config: c.Slack, Logger: log, UpdatesPerMinute: c.Slack.UpdatesPerMinute})
		if err != nil {
			return nil, err
		}
		fe.Mounts = append(fe.Mounts,
			server.Mount{Method: http.MethodPost, Path: "/slack/events", Handler: sa.EventsHandler()},
			server.Mount{Method: http.MethodPost, Path: "/slack/commands", Handler: sa.CommandsHandler()})
		socket := c.Slack.SocketEnabled()
		if socket {
			runs = append(runs, sa.Run)
		}
		// Half-configured modes (socket without the app token, http
		// without the signing secret) never get here: the configuration
		// refuses them.
		log.Info("Slack bot on", "mode", c.Slack.Mode, "socket_mode", socket, "http_endpoints", c.Slack.HTTPEnabled())
	}
	if c.Mattermost.Enabled() {
		mm, err := mattermost.New(mattermost.Options{
			URL: c.Mattermost.URL, BotToken: c.Mattermost.BotToken, CommandToken: c.Mattermost.CommandToken,
			Router: router, Logger: log, LinkAllowlist: c.Mattermost.LinkAllowlist,
		})
		if err != nil {
			return nil, err
		}
		fe.Mounts = append(fe.Mounts, server.Mount{Method: http.MethodPost, Path: "/mattermost/command", Handler: mm.Handler()})
		runs = append(runs, mm.Run)
		log.Info("Mattermost bot on", "url", c.Mattermost.URL, "slash_command", c.Mattermost.CommandEnabled())
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

package slack

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// SocketEnabled reports whether Run has what Socket Mode needs.
func (a *Adapter) SocketEnabled() bool { return a.o.Config.AppToken != "" }

// Run receives events over Socket Mode until ctx ends, reconnecting with
// backoff when the connection fails. Each event is queued durably before it
// is acknowledged: an event not acknowledged is delivered again by Slack.
func (a *Adapter) Run(ctx context.Context) error {
	if !a.SocketEnabled() {
		return errors.New("slack: Socket Mode needs the app-level token (xapp-…)")
	}
	backoff := time.Second
	for {
		start := time.Now()
		err := a.runSocket(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		a.log.Warn("Slack Socket Mode connection ended; reconnecting", "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (a *Adapter) runSocket(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	smc := socketmode.New(a.api, socketmode.OptionLog(logAdapter{a.log}))
	errc := make(chan error, 1)
	go func() { errc <- smc.RunContext(ctx) }()
	for {
		select {
		case err := <-errc:
			return err
		case evt := <-smc.Events:
			a.socketEvent(ctx, smc, evt)
		}
	}
}

func (a *Adapter) socketEvent(ctx context.Context, smc *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		a.log.Info("Slack Socket Mode connected")
	case socketmode.EventTypeInvalidAuth:
		a.log.Error("Slack refused the app-level token (invalid_auth)")
	case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage:
		a.log.Warn("Slack Socket Mode error", "type", string(evt.Type))
	case socketmode.EventTypeEventsAPI:
		e, ok := evt.Data.(slackevents.EventsAPIEvent)
		if !ok || evt.Request == nil {
			return
		}
		if a.assistantEvent(e) {
			a.ack(smc, evt.Request, nil)
			return
		}
		if ev := a.fromEventsAPI(e); ev != nil {
			dup, err := a.o.Router.Enqueue(ctx, ev)
			if err != nil {
				a.log.Error("queueing a Slack event failed; Slack delivers it again", "event", ev.ID, "err", err)
				return
			}
			if dup {
				a.log.Info("Slack delivered an event again; it is answered once", "event", ev.ID,
					"retry", evt.Request.RetryAttempt, "reason", evt.Request.RetryReason)
			}
		}
		a.ack(smc, evt.Request, nil)
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok || evt.Request == nil {
			return
		}
		ev := a.fromSlash(cmd, evt.Request.EnvelopeID)
		if ev == nil {
			a.ack(smc, evt.Request, nil)
			return
		}
		if _, err := a.o.Router.Enqueue(ctx, ev); err != nil {
			a.log.Error("queueing a Slack slash command failed", "event", ev.ID, "err", err)
			return
		}
		a.ack(smc, evt.Request, map[string]string{"response_type": slack.ResponseTypeEphemeral, "text": a.o.Router.Working(ev)})
	case socketmode.EventTypeInteractive:
		if evt.Request != nil {
			a.ack(smc, evt.Request, nil)
		}
	}
}

func (a *Adapter) ack(smc *socketmode.Client, req *socketmode.Request, payload any) {
	var err error
	if payload != nil {
		err = smc.Ack(*req, payload)
	} else {
		err = smc.Ack(*req)
	}
	if err != nil {
		a.log.Warn("acknowledging a Slack envelope failed; Slack may deliver it again", "err", err)
	}
}

// logAdapter sends slack-go's log lines to slog at debug level.
type logAdapter struct{ l *slog.Logger }

func (l logAdapter) Output(_ int, s string) error {
	l.l.Debug(s, "source", "slack-go")
	return nil
}

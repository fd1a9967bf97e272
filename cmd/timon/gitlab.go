package main

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"timon.dev/timon/core/redact"
	"timon.dev/timon/webhooks/gitlab"
	"timon.dev/timon/webhooks/review"
	"timon.dev/timon/webhooks/server"
)

// gitlabFrontend wires GitLab merge-request review (issue #7): POST
// /webhooks/gitlab, the review job's worker, and a readiness check. It is
// off (nil, and the route answers 404) unless the GitLab URL, the bot's
// token and a webhook secret are set.
func gitlabFrontend(ctx context.Context, h *hub, log *slog.Logger) (*frontend, error) {
	cfg := sectionOf[review.Config](h.cfg, "gitlab")
	if !cfg.Enabled() {
		return nil, nil
	}
	// Secrets in diffs are flagged, and masked in answers, whatever the
	// policy's redaction profile does with what is sent to the model.
	scan, err := redact.New(redact.Profile{Name: "gitlab-scan"})
	if err != nil {
		return nil, err
	}
	svc, err := gitlab.New(ctx, gitlab.Options{
		Config: cfg, Store: h.store, Queue: h.jobs, Assistant: h.engine, Redactor: scan, Logger: log,
		// A run's hold on its merge request lapses when River would deem
		// its job lost: a killed process blocks the merge request no longer.
		LeaseFor: time.Duration(h.cfg.Jobs.RescueAfter),
		// Beside the journal's signing key, created on first use.
		KeyFile: filepath.Join(filepath.Dir(h.cfg.Journal.SigningKeyFile), "gitlab-review.key"),
	})
	if err != nil {
		return nil, err
	}
	log.Info("GitLab merge-request review is on", "url", cfg.URL)
	return &frontend{
		// GitLab's merge request payloads can be large (descriptions):
		// the handler's own 4 MiB bound, not the server's, applies.
		Mounts: []server.Mount{{Method: http.MethodPost, Path: "/webhooks/gitlab", Handler: svc, MaxBodyBytes: 4 << 20}},
		Ready:  []server.Check{{Name: "gitlab", Func: svc.Ready}},
		Run:    svc.Run,
	}, nil
}

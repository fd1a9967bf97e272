package main

import (
	"context"
	"log/slog"
)

// gitlabFrontend wires GitLab merge-request review (issue #7).
func gitlabFrontend(ctx context.Context, h *hub, log *slog.Logger) (*frontend, error) { return nil, nil }

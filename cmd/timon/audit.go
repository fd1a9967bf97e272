package main

import (
	"context"
	"fmt"
	"io"
)

func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return fmt.Errorf("timon audit: %w", errNotBuilt)
}

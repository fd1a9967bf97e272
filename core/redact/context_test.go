package redact

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"timon.dev/timon/core/redact/redacttest"
)

// largeText is ~4 MiB of the clean corpus with secrets sprinkled in.
func largeText(t *testing.T) string {
	t.Helper()
	s := redacttest.Sprinkled(t)
	return strings.Repeat(s, (4<<20)/len(s)+1)
}

func TestRedactContextExpired(t *testing.T) {
	r, err := New(Profile{Name: "ctx"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	out, masked, err := r.RedactContext(ctx, NewVault(), largeText(t))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if out != "" || masked != nil {
		t.Fatalf("an interrupted redaction returned text (%d bytes) or findings (%d)", len(out), len(masked))
	}
}

// TestRedactContextCancelledMidScan cancels the context from another
// goroutine once the scan is under way (at its 5th check) and asserts that
// the scan stops at its next check, long before the end of the text.
func TestRedactContextCancelledMidScan(t *testing.T) {
	t.Parallel()
	r, err := New(Profile{Name: "ctx"})
	if err != nil {
		t.Fatal(err)
	}
	text := largeText(t)

	// How many checks a whole scan makes.
	var full atomic.Int64
	fctx := context.WithValue(context.Background(), scanHookKey{}, func() { full.Add(1) })
	ctx0, cancel0 := context.WithCancel(fctx)
	defer cancel0()
	if _, _, err := r.RedactContext(ctx0, NewVault(), text); err != nil {
		t.Fatal(err)
	}
	if full.Load() < 20 {
		t.Fatalf("a 4 MiB scan made only %d context checks", full.Load())
	}

	const cancelAt = 5
	var checks, afterCancel atomic.Int64
	reached := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hook := func() {
		n := checks.Add(1)
		if ctx.Err() != nil {
			afterCancel.Add(1)
		}
		if n == cancelAt {
			close(reached)
			<-ctx.Done() // the other goroutine cancels; the scan then goes on
		}
	}
	go func() {
		<-reached
		cancel()
	}()
	out, masked, err := r.RedactContext(context.WithValue(ctx, scanHookKey{}, hook), NewVault(), text)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Canceled", err)
	}
	if out != "" || masked != nil {
		t.Fatal("a cancelled redaction returned text or findings")
	}
	// The check that saw the cancellation is the last one (the final
	// post-scan check may run once more).
	if a := afterCancel.Load(); a > 2 {
		t.Fatalf("the scan went on for %d checks after the cancellation", a)
	}
	if c := checks.Load(); c >= full.Load() {
		t.Fatalf("the cancelled scan made %d checks, a whole scan %d", c, full.Load())
	}
}

func TestRedactContextBackgroundUnchanged(t *testing.T) {
	r, err := New(Profile{Name: "ctx"})
	if err != nil {
		t.Fatal(err)
	}
	text := redacttest.Sprinkled(t)
	a, fa, err := r.Redact(NewVault(), text)
	if err != nil {
		t.Fatal(err)
	}
	b, fb, err := r.RedactContext(context.Background(), NewVault(), text)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || len(fa) != len(fb) || len(fa) == 0 {
		t.Fatalf("Redact and RedactContext differ: %d vs %d findings", len(fa), len(fb))
	}
}

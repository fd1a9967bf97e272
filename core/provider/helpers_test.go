package provider_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/provider/fakellm"
)

// patience bounds every wait of these tests: generous, since a loaded
// machine is slow, and never used as synchronisation.
const patience = 30 * time.Second

func startFake(t *testing.T) *fakellm.Server {
	t.Helper()
	s := fakellm.New()
	t.Cleanup(s.Close)
	return s
}

// newClient builds a client for cfg, defaulting Name and Models.
func newClient(t *testing.T, cfg provider.Config) *provider.Client {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	if cfg.Models == nil {
		cfg.Models = []string{"fake-model"}
	}
	c, err := provider.New(cfg)
	if err != nil {
		t.Fatalf("provider.New: %v", err)
	}
	return c
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	t.Cleanup(cancel)
	return ctx
}

// closedURL returns a base URL on which nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/v1"
}

// asError checks that err is a *provider.Error and returns it.
func asError(t *testing.T, err error) *provider.Error {
	t.Helper()
	if err == nil {
		t.Fatal("got no error")
	}
	var e *provider.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not a *provider.Error", err, err)
	}
	return e
}

func userChat(content string) provider.ChatRequest {
	return provider.ChatRequest{Messages: []provider.Message{{Role: "user", Content: content}}}
}

// collect returns an emit function that appends deltas to *got.
func collect(got *[]string) func(string) error {
	return func(d string) error {
		*got = append(*got, d)
		return nil
	}
}

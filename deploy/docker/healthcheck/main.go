// Command timon-healthcheck is the container image's health probe: it asks
// a running `timon serve` for GET /healthz and exits 0 when the hub answers
// 200, 1 otherwise. The image is distroless (no shell, no curl or wget), so
// the probe is this small static binary next to timon.
//
//	timon-healthcheck [--url http://127.0.0.1:8080/healthz] [--timeout 2s]
//
// TIMON_HEALTHCHECK_URL sets the URL when --url is not given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// defaultURL is where the image's `timon serve` listens.
const defaultURL = "http://127.0.0.1:8080/healthz"

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("timon-healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("TIMON_HEALTHCHECK_URL")
	if def == "" {
		def = defaultURL
	}
	url := fs.String("url", def, "health endpoint of timon serve")
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := probe(*url, *timeout); err != nil {
		fmt.Fprintln(stderr, "timon-healthcheck:", err)
		return 1
	}
	return 0
}

func probe(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("building the request for %s: %w", url, err)
	}
	// Never through a proxy: the hub is local.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s did not answer within %s", url, timeout)
		}
		return fmt.Errorf("asking %s: %w", url, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

//go:build unix

package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"syscall"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"timon.dev/timon/core/provider/fakellm"
)

// These benchmarks compare the same chat request (body encoded beforehand,
// answer read and discarded) sent through openai-go's request pipeline and
// through plain net/http, as the client sends it (see
// docs/design/provider.md). cpu-us/op is the CPU
// time of the whole process (client and fakellm) per call, steadier than
// ns/op on a shared machine.

func benchWire(b *testing.B) (url string, body []byte, hc *http.Client) {
	fake := fakellm.New()
	b.Cleanup(fake.Close)
	fake.Record(false)
	body, err := json.Marshal(map[string]any{
		"model":    "fake-model",
		"messages": []map[string]string{{"role": "user", "content": prompt4KB}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return fake.URL(), body, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
}

func BenchmarkWireOpenAIGo(b *testing.B) {
	base, body, hc := benchWire(b)
	c := openai.Client{Options: []option.RequestOption{
		option.WithBaseURL(base + "/"), option.WithHTTPClient(hc), option.WithMaxRetries(0),
	}}
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		var res *http.Response
		if err := c.Post(ctx, "chat/completions", body, &res); err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

func BenchmarkWireNetHTTP(b *testing.B) {
	base, body, hc := benchWire(b)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/chat/completions", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

// reportCPU reports the process's CPU time per iteration as cpu-us/op.
func reportCPU(b *testing.B) func() {
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	return func() {
		var after syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		ns := after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano()
		b.ReportMetric(float64(ns)/float64(b.N)/1e3, "cpu-us/op")
	}
}

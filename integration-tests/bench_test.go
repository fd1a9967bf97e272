package integrationtests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchConfig governs like production (policy, redaction, quotas, journal)
// with budgets large enough for the benchmark's volume.
const benchConfig = `
server: {log_level: warn}
providers:
  - {name: fake, kind: mistral, base_url: %s, models: [mistral-small-latest], sovereign: true}
policy:
  routes: {default: [mistral-small-latest]}
  rules: [{name: everyone, effect: allow}]
quotas:
  user: {requests_per_minute: 1000000, tokens_per_day: 1000000000, concurrent: 64}
`

// BenchmarkHubOverhead measures the latency the hub adds on
// /v1/chat/completions over calling fakellm directly, with a 4 KB prompt, at
// concurrency 1 and 16, and prints p50/p99 of both and the difference.
// Target on 2 cores: p50 < 0.5 ms and p99 < 3 ms added at concurrency 16.
// For scale it also prints what a bare standard-library reverse proxy,
// which governs nothing, adds on the same machine.
func BenchmarkHubOverhead(b *testing.B) {
	fake := newFakeB(b)
	fake.Record(false)
	h := startHubWith(b, fake, fmt.Sprintf(benchConfig, fake.URL()))
	tok := h.token("bench")
	prompt := benchPrompt(4096)
	body, _ := json.Marshal(map[string]any{"model": "timon", "messages": []map[string]string{{"role": "user", "content": prompt}}})
	direct, _ := json.Marshal(map[string]any{"model": "mistral-small-latest", "messages": []map[string]string{{"role": "user", "content": prompt}}})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	// The floor: a bare reverse proxy from the standard library, with no
	// governance at all, in front of the same fake model, on the same cores.
	upstream, _ := url.Parse(fake.URL())
	rp := httputil.NewSingleHostReverseProxy(upstream)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	bare := httptest.NewServer(rp)
	defer bare.Close()

	for _, conc := range []int{1, 16} {
		n := 1500
		if conc > 1 {
			n = 4000
		}
		// Warm up both paths.
		measure(b, client, fake.URL()+"/chat/completions", "", direct, conc, 200)
		measure(b, client, h.url+"/v1/chat/completions", tok, body, conc, 200)
		measure(b, client, bare.URL+"/chat/completions", "", direct, conc, 200)
		d := measure(b, client, fake.URL()+"/chat/completions", "", direct, conc, n)
		v := measure(b, client, h.url+"/v1/chat/completions", tok, body, conc, n)
		x := measure(b, client, bare.URL+"/chat/completions", "", direct, conc, n)
		fmt.Printf("floor c=%d: a bare httputil.ReverseProxy adds p50 %.3f ms, p99 %.3f ms\n",
			conc, ms(pct(x, 50)-pct(d, 50)), ms(pct(x, 99)-pct(d, 99)))
		b.ReportMetric(ms(pct(x, 50)-pct(d, 50)), fmt.Sprintf("bare-proxy-added-p50-ms/c%d", conc))
		p50d, p99d := pct(d, 50), pct(d, 99)
		p50v, p99v := pct(v, 50), pct(v, 99)
		b.Logf("concurrency %2d, %d requests, 4 KB prompt: direct p50 %v p99 %v | via hub p50 %v p99 %v | added p50 %v p99 %v",
			conc, n, p50d, p99d, p50v, p99v, p50v-p50d, p99v-p99d)
		fmt.Printf("hub overhead c=%d: added p50 %.3f ms, p99 %.3f ms (direct p50 %.3f/p99 %.3f ms; hub p50 %.3f/p99 %.3f ms)\n",
			conc, ms(p50v-p50d), ms(p99v-p99d), ms(p50d), ms(p99d), ms(p50v), ms(p99v))
		b.ReportMetric(ms(p50v-p50d), fmt.Sprintf("added-p50-ms/c%d", conc))
		b.ReportMetric(ms(p99v-p99d), fmt.Sprintf("added-p99-ms/c%d", conc))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func benchPrompt(n int) string {
	var b strings.Builder
	words := []string{"the", "cluster", "results", "of", "experiment", "show", "a", "significant", "increase", "in", "throughput", "compared", "with", "baseline", "runs", "while", "latency", "remains", "stable"}
	for i := 0; b.Len() < n; i++ {
		b.WriteString(words[i%len(words)])
		b.WriteByte(' ')
	}
	return b.String()[:n]
}

// measure sends n requests with conc workers and returns their latencies.
func measure(b *testing.B, client *http.Client, url, tok string, body []byte, conc, n int) []time.Duration {
	b.Helper()
	lat := make([]time.Duration, n)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed error
	for range conc {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				start := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				lat[i] = time.Since(start)
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if failed != nil {
		b.Fatalf("%s: %v", url, failed)
	}
	return lat
}

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

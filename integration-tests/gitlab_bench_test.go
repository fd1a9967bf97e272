package integrationtests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"timon.dev/timon/webhooks/gitlab"
	"timon.dev/timon/webhooks/gitlab/gitlabtest"
)

// BenchmarkGitLabWebhookAck sends Merge Request Hook deliveries to timon
// serve at 200 a second on loopback for 10 seconds (new merge requests to
// review, label edits to ignore, and GitLab's retries of deliveries already
// received), while the reviews they queue run, and prints the
// acknowledgement latency. Target: p99 < 50 ms (GitLab's timeout is 10 s).
func BenchmarkGitLabWebhookAck(b *testing.B) {
	fake := newFakeB(b)
	fake.Record(false)
	fake.Handle(gitlabtest.Reviewer(gitlabtest.DefaultRules))
	g := startGitLabHubWith(b, fake, fmt.Sprintf(benchConfig, fake.URL())+"jobs: {workers: 4}\n")

	const rate, seconds = 200, 10
	const n = rate * seconds
	type delivery struct {
		h    http.Header
		body []byte
	}
	ds := make([]delivery, 0, n)
	for i := 0; len(ds) < n; i++ {
		iid := g.openMR(fmt.Sprintf("bench-%d", i), map[string]string{fmt.Sprintf("b%d.go", i): fmt.Sprintf("package b\n\nfunc B() { panic(%d) }\n", i)})
		open := g.gl.MergeRequestHook(glProject, iid, gitlabtest.HookOptions{Action: "open"})
		label := g.gl.MergeRequestHook(glProject, iid, gitlabtest.HookOptions{Action: "update", LabelsOnly: true})
		key := fmt.Sprintf("bench-key-%d", i)
		ds = append(ds,
			delivery{gitlabtest.Headers(gitlab.EventMergeRequest, glSecret, key, ""), open},
			delivery{gitlabtest.Headers(gitlab.EventMergeRequest, glSecret, key+"-label", ""), label},
			delivery{gitlabtest.Headers(gitlab.EventMergeRequest, glSecret, key, ""), open}, // GitLab retrying
		)
	}
	ds = ds[:n]
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n)
	codes := map[int]int{}
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	b.ResetTimer()
	start := time.Now()
	for i := range ds {
		<-tick.C
		wg.Add(1)
		go func(d delivery) {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, g.url+"/webhooks/gitlab", bytes.NewReader(d.body))
			req.Header = d.h.Clone()
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			el := time.Since(t0)
			mu.Lock()
			lat = append(lat, el)
			codes[resp.StatusCode]++
			mu.Unlock()
		}(ds[i])
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if codes[http.StatusAccepted]+codes[http.StatusOK] != n {
		b.Fatalf("status codes %v", codes)
	}
	p50, p99, pmax := pct(lat, 50), pct(lat, 99), pct(lat, 100)
	fmt.Printf("gitlab webhook ack at %d deliveries/s for %v (%d deliveries: %d queued, %d ignored or duplicate): p50 %.2f ms, p99 %.2f ms, max %.2f ms (target p99 < 50 ms)\n",
		rate, elapsed.Round(time.Millisecond), n, codes[http.StatusAccepted], codes[http.StatusOK], ms(p50), ms(p99), ms(pmax))
	b.ReportMetric(ms(p50), "ack-p50-ms")
	b.ReportMetric(ms(p99), "ack-p99-ms")
	b.ReportMetric(ms(pmax), "ack-max-ms")
}

// BenchmarkGitLabReview2000Lines reviews one merge request of 2,000
// changed lines in 8 files and prints the provider calls, the tokens sent
// and received, and the time from the webhook to the summary note.
func BenchmarkGitLabReview2000Lines(b *testing.B) {
	fake := newFakeB(b)
	fake.Handle(gitlabtest.Reviewer(gitlabtest.DefaultRules))
	cfg := strings.Replace(fmt.Sprintf(benchConfig, fake.URL()), "log_level: warn", "log_level: info", 1)
	g := startGitLabHubWith(b, fake, cfg)

	files := map[string]string{}
	for f := 0; f < 8; f++ {
		var sb strings.Builder
		sb.WriteString("package solver\n\n")
		for i := 2; i < 250; i++ {
			if i%50 == 0 {
				fmt.Fprintf(&sb, "\tif x%d < 0 { panic(\"negative\") }\n", i)
			} else {
				fmt.Fprintf(&sb, "\tx%d := compute(%d, %d) // step %d of the solver in file %d\n", i, i, f, i, f)
			}
		}
		files[fmt.Sprintf("solver/part%d.go", f)] = sb.String()
	}
	iid := g.openMR("big", files)
	b.ResetTimer()
	start := time.Now()
	if code := g.openEvent(b, iid, "big-review"); code != http.StatusAccepted {
		b.Fatalf("delivery: %d", code)
	}
	waitFor(b, 60*time.Second, "the review", func() bool { return summaries(g.gl, iid) == 1 })
	elapsed := time.Since(start)
	b.StopTimer()

	var posted struct {
		Calls     int `json:"calls"`
		TokensIn  int `json:"tokens_in"`
		TokensOut int `json:"tokens_out"`
		Inline    int `json:"inline"`
	}
	for _, line := range strings.Split(g.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"merge request work posted"`) {
			json.Unmarshal([]byte(line), &posted)
		}
	}
	if posted.Calls == 0 {
		b.Fatalf("no review figures in the logs:\n%s", g.logs.String())
	}
	fmt.Printf("gitlab review of a 2,000-line merge request (8 files): %d provider calls, %d prompt tokens, %d completion tokens, %d inline comments, %.0f ms from webhook to summary\n",
		posted.Calls, posted.TokensIn, posted.TokensOut, posted.Inline, ms(elapsed))
	b.ReportMetric(float64(posted.Calls), "provider-calls")
	b.ReportMetric(float64(posted.TokensIn), "prompt-tokens")
	b.ReportMetric(float64(posted.TokensOut), "completion-tokens")
	b.ReportMetric(ms(elapsed), "review-ms")
}

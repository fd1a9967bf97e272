package integrationtests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"timon.dev/timon/bots/slack/slacktest"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/core/store/storetest"
	"timon.dev/timon/webhooks/gitlab"
	"timon.dev/timon/webhooks/gitlab/gitlabtest"
)

// BenchmarkLoad is `make loadtest`: mixed traffic (API requests, Slack
// events, GitLab deliveries) against the real binary,
// on loopback, for a bounded time (TIMON_LOAD_DURATION per store, default
// 60s), on SQLite then PostgreSQL. The fake model injects latency (5–50 ms
// per request), 429s with Retry-After, 500s and streams cut mid-way.
// Offered load rises in steps; each step reports throughput, p50/p99 of the
// latency the hub adds over the model's, and errors by cause. Then the
// journal must verify and hold exactly one entry per answered request.
//
// It is a benchmark so that `make test` does not run it; it asserts the
// journal invariants (b.Fatal), and prints figures.
func BenchmarkLoad(b *testing.B) {
	dur := 60 * time.Second
	if v := os.Getenv("TIMON_LOAD_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("TIMON_LOAD_DURATION: %v", err)
		}
		dur = d
	}
	for _, driver := range []string{"sqlite", "postgres"} {
		b.Run(driver, func(b *testing.B) {
			for range b.N {
				loadRun(b, driver, dur)
			}
		})
	}
}

// faultRe finds the fault a load request asks the fake model for.
var faultRe = regexp.MustCompile(`delay=(\d+) fault=(\w+) id=(\d+)`)

// loadFake answers after the delay the prompt names, and injects the
// fault it names on the first attempt only (a retry gets an answer).
func loadFake(b *testing.B) *fakellm.Server {
	fake := fakellm.New()
	b.Cleanup(fake.Close)
	fake.Record(false)
	var seen sync.Map
	reviewer := gitlabtest.Reviewer(gitlabtest.DefaultRules)
	fake.Handle(func(r fakellm.Request) fakellm.Reply {
		if len(r.ResponseFormat) > 0 {
			return reviewer(r)
		}
		text := r.Prompt
		if len(r.Messages) > 0 {
			text = r.Messages[len(r.Messages)-1].Content
		}
		m := faultRe.FindStringSubmatch(text)
		if m == nil {
			return fakellm.Reply{}
		}
		ms, _ := strconv.Atoi(m[1])
		rep := fakellm.Reply{Text: "answer to " + m[3], FirstTokenDelay: time.Duration(ms) * time.Millisecond}
		if _, again := seen.LoadOrStore(m[3], true); again {
			return rep
		}
		switch m[2] {
		case "429":
			rep.Status, rep.RetryAfter = 429, time.Second
		case "500":
			rep.Status = 500
		case "cut":
			if r.Stream {
				rep.CutAfter, rep.ChunkSize = 1, 4
			}
		}
		return rep
	})
	return fake
}

type loadResult struct {
	kind   string
	fault  string
	status int
	added  time.Duration
	id     string
	err    error
}

func loadRun(b *testing.B, driver string, dur time.Duration) {
	fake := loadFake(b)
	chat := newChatPlatforms(b)
	gl := newFakeGitLab(b)
	b.Setenv("TIMON_GITLAB_URL", gl.URL())
	b.Setenv("TIMON_GITLAB_TOKEN", glToken)
	b.Setenv("TIMON_GITLAB_WEBHOOK_SECRET", glSecret)
	extra := "quotas:\n  user: {requests_per_minute: 1000000, tokens_per_day: 1000000000, concurrent: 1000}\n" + chat.chatSection()
	if driver == "postgres" {
		b.Setenv("TIMON_TEST_PG_DSN", storetest.PostgresDSN(b))
		extra += "store:\n  driver: postgres\n  dsn_env: TIMON_TEST_PG_DSN\n"
	}
	cfg := strings.Replace(hubConfigWith(fake.URL(), extra), "log_level: debug", "log_level: warn", 1)
	h := chat.startHub(b, fake, cfg)
	(&gitlabHub{hub: h, gl: gl}).waitReady(b)
	tok := h.token("load", "staff")
	// Merge requests to review, one open event each during the run.
	var mrs []int64
	for i := range 20 {
		mrs = append(mrs, (&gitlabHub{hub: h, gl: gl}).openMR(fmt.Sprint("load-", i), map[string]string{
			"main.go": fmt.Sprintf("package main\n\nfunc main() {\n\trun(%d)\n\tpanic(\"unreachable\")\n}\n", i)}))
	}
	var slackEvents, gitlabDeliveries []string
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 512}, Timeout: 30 * time.Second}

	rates := []int{50, 100, 200, 400, 600, 800}
	step := dur / time.Duration(len(rates))
	var (
		mu      sync.Mutex
		results = map[int][]loadResult{}
		wg      sync.WaitGroup
		seq     int
	)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, rate := range rates {
		interval := time.Second / time.Duration(rate)
		end := time.Now().Add(step)
		next := time.Now()
		for time.Now().Before(end) {
			seq++
			delay := 5 + rng.IntN(46)
			fault := "none"
			switch p := rng.IntN(100); {
			case p < 2:
				fault = "429"
			case p < 4:
				fault = "500"
			case p < 5:
				fault = "cut"
			}
			kind := [...]string{"assist", "assist", "stream", "openai", "assist", "stream", "openai", "slack"}[rng.IntN(8)]
			if len(gitlabDeliveries) < len(mrs) && seq%25 == 0 {
				kind = "gitlab"
			}
			prompt := fmt.Sprintf("load request delay=%d fault=%s id=%d", delay, fault, seq)
			var hook []byte
			var hookKey string
			switch kind {
			case "slack":
				ts := chat.slack.AddMessage("C123ABC456", "", chat.ada, "<@"+slacktest.BotUserID+"> ask "+prompt)
				hookKey = fmt.Sprint("EvLoad", seq)
				hook = slacktest.AppMention(hookKey, "C123ABC456", chat.ada, "ask "+prompt, ts, "")
				slackEvents = append(slackEvents, ts)
			case "gitlab":
				iid := mrs[len(gitlabDeliveries)]
				hookKey = fmt.Sprint("delivery-", iid)
				hook = gl.MergeRequestHook(glProject, iid, gitlabtest.HookOptions{Action: "open"})
				gitlabDeliveries = append(gitlabDeliveries, hookKey)
			}
			wg.Add(1)
			go func(rate int) {
				defer wg.Done()
				var r loadResult
				switch kind {
				case "slack", "gitlab":
					r = deliverHook(client, h.url, kind, hookKey, hook)
				default:
					r = loadRequest(client, h.url, tok, kind, prompt)
					r.added -= time.Duration(delay) * time.Millisecond
				}
				r.kind, r.fault = kind, fault
				mu.Lock()
				results[rate] = append(results[rate], r)
				mu.Unlock()
			}(rate)
			next = next.Add(interval)
			time.Sleep(time.Until(next)) // the open-loop arrival rate under test

		}
	}
	wg.Wait()

	// Report per step.
	held, holding := 0, true
	var answered []string
	for _, rate := range rates {
		rs := results[rate]
		var clean []time.Duration
		acks := map[string][]time.Duration{}
		causes := map[string]int{}
		unexpected := 0
		for _, r := range rs {
			if r.kind == "slack" || r.kind == "gitlab" {
				if r.err != nil || (r.status != 200 && r.status != 202) {
					causes[fmt.Sprintf("%s ack %d %v", r.kind, r.status, r.err)]++
					unexpected++
				} else {
					acks[r.kind] = append(acks[r.kind], r.added)
				}
				continue
			}
			switch {
			case r.err != nil:
				causes["transport error"]++
				unexpected++
			case r.status != 200:
				causes[fmt.Sprintf("%d after injected %s", r.status, r.fault)]++
				if r.fault == "none" {
					unexpected++
				}
			case r.fault == "none":
				clean = append(clean, r.added)
			}
			if r.err == nil && r.status == 200 && r.id != "" {
				answered = append(answered, r.id)
			}
		}
		slices.Sort(clean)
		p50, p99 := pct(clean, 50), pct(clean, 99)
		// Held: this step and every lower one kept p99 under 100 ms with no
		// failure other than the injected ones.
		holding = holding && p99 < 100*time.Millisecond && unexpected == 0
		if holding {
			held = rate
		}
		ackText := ""
		for _, k := range []string{"slack", "gitlab"} {
			a := acks[k]
			if len(a) == 0 {
				continue
			}
			slices.Sort(a)
			ackText += fmt.Sprintf(", %s acks %d p99 %.1f ms", k, len(a), ms(pct(a, 99)))
		}
		b.Logf("%s %4d req/s offered: %5d sent, %5.0f req/s answered, added p50 %6.2f ms p99 %6.2f ms%s, errors by cause: %v",
			driver, rate, len(rs), float64(len(rs)-sumCauses(causes))/step.Seconds(), ms(p50), ms(p99), ackText, causes)
	}
	b.ReportMetric(float64(held), "req/s-held")
	b.Logf("%s: held %d req/s with p99 added latency < 100 ms", driver, held)

	// Every chat event is answered once, every merge request reviewed once.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		done := 0
		for _, ts := range slackEvents {
			if len(chat.slack.Replies("C123ABC456", ts)) > 0 {
				done++
			}
		}
		reviewed := 0
		for _, iid := range mrs[:len(gitlabDeliveries)] {
			if summaries(gl, iid) > 0 {
				reviewed++
			}
		}
		if done == len(slackEvents) && reviewed == len(gitlabDeliveries) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("after the load, %d of %d Slack events answered, %d of %d merge requests reviewed", done, len(slackEvents), reviewed, len(gitlabDeliveries))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Every event and delivery was queued (or found a duplicate) before it
	// was acknowledged: once no job is left, nothing more can post.
	if err := waitJobsDone(h); err != nil {
		b.Fatal(err)
	}
	for _, ts := range slackEvents {
		if n := len(chat.slack.Replies("C123ABC456", ts)); n != 1 {
			b.Fatalf("a Slack event got %d replies", n)
		}
	}
	for _, iid := range mrs[:len(gitlabDeliveries)] {
		if n := summaries(gl, iid); n != 1 {
			b.Fatalf("merge request !%d got %d reviews", iid, n)
		}
	}
	b.Logf("%s: %d Slack events answered once each, %d merge requests reviewed once each", driver, len(slackEvents), len(gitlabDeliveries))

	// The journal: it verifies, and every answered request is in it once.
	out, errOut, code := h.timon("audit", "verify", "--allow-no-checkpoint") // the hub runs: maybe no checkpoint yet
	if code != 0 {
		b.Fatalf("the journal does not verify after the load: %s %s", out, errOut)
	}
	exp, errOut, code := h.timon("audit", "export", "--format", "jsonl")
	if code != 0 {
		b.Fatalf("audit export: %s", errOut)
	}
	ids := map[string]int{}
	byIntegration := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(exp), "\n") {
		var e struct {
			RequestID   string `json:"request_id"`
			Integration string `json:"integration"`
		}
		json.Unmarshal([]byte(line), &e)
		ids[e.RequestID]++
		byIntegration[e.Integration]++
	}
	if byIntegration["slack"] < len(slackEvents) || byIntegration["gitlab"] < len(gitlabDeliveries) {
		b.Fatalf("journal entries by integration %v for %d Slack events and %d reviews", byIntegration, len(slackEvents), len(gitlabDeliveries))
	}
	missing := 0
	for _, id := range answered {
		if ids[id] != 1 {
			missing++
		}
	}
	if missing > 0 {
		b.Fatalf("%d of %d answered requests do not have exactly one journal entry", missing, len(answered))
	}
	b.Logf("%s: journal verifies; %d answered requests, each with one entry (%d entries in all)", driver, len(answered), len(ids))
}

func sumCauses(c map[string]int) int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// deliverHook sends one signed Slack event or GitLab delivery and measures
// its acknowledgement.
func deliverHook(client *http.Client, url, kind, key string, body []byte) loadResult {
	start := time.Now()
	var resp *http.Response
	var err error
	if kind == "slack" {
		resp, err = slacktest.Deliver(client, url+"/slack/events", "application/json", body, slackSecret, 0)
	} else {
		req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/gitlab", bytes.NewReader(body))
		req.Header = gitlabtest.Headers(gitlab.EventMergeRequest, glSecret, key, key)
		resp, err = client.Do(req)
	}
	if err != nil {
		return loadResult{err: err}
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return loadResult{status: resp.StatusCode, added: time.Since(start)}
}

// loadRequest sends one request of the given kind and measures it.
func loadRequest(client *http.Client, url, tok, kind, prompt string) loadResult {
	msgs := []map[string]string{{"role": "user", "content": prompt}}
	var path string
	var body map[string]any
	switch kind {
	case "assist":
		path, body = "/v1/assist", map[string]any{"task": "chat", "messages": msgs}
	case "stream":
		path, body = "/v1/assist", map[string]any{"task": "chat", "stream": true, "messages": msgs}
	case "openai":
		path, body = "/v1/chat/completions", map[string]any{"model": "mistral-small-latest", "messages": msgs}
	}
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+tok)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return loadResult{err: err}
	}
	defer resp.Body.Close()
	r := loadResult{status: resp.StatusCode}
	if kind == "stream" && resp.StatusCode == 200 {
		sc := bufio.NewScanner(resp.Body)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				var d struct {
					RequestID string `json:"request_id"`
				}
				json.Unmarshal([]byte(v), &d)
				switch event {
				case "done":
					r.id = d.RequestID
				case "error":
					r.status = 502 // the stream failed after its headers
				}
			}
		}
	} else {
		raw, _ := io.ReadAll(resp.Body)
		var d struct {
			RequestID string `json:"request_id"`
			ID        string `json:"id"`
		}
		json.Unmarshal(raw, &d)
		r.id = d.RequestID + d.ID
	}
	r.added = time.Since(start)
	return r
}

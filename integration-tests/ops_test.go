package integrationtests

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"timon.dev/timon/core/provider/fakellm"
)

// scrape reads /metrics into name{labels} → value.
func scrape(t *testing.T, h *hub) map[string]float64 {
	t.Helper()
	resp, err := http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetricsCountWhatHappened: requests by outcome, redactions by type,
// provider latency, tokens and quota refusals appear on /metrics, and no
// user name or content does.
func TestMetricsCountWhatHappened(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	h := startHubWith(t, fake, hubConfigWith(fake.URL(), "quotas:\n  users: {tight: {requests_per_minute: 1}}\n"))
	tok := h.token("ada-the-user")
	chat := func(tok, text string) int {
		status, _, _ := h.post("/v1/assist", tok, map[string]any{"task": "chat", "messages": []map[string]string{{"role": "user", "content": text}}})
		return status
	}
	if s := chat(tok, "mail ada.lovelace@lab-univ.fr about ORION"); s != 200 {
		t.Fatalf("chat: %d", s)
	}
	if s, _, _ := h.post("/v1/assist", h.token("intern", "interns"), map[string]any{"task": "review", "input": "diff"}); s != 403 {
		t.Fatalf("denied review: %d", s)
	}
	tight := h.token("tight")
	chat(tight, "one")
	if s := chat(tight, "two"); s != 429 {
		t.Fatalf("over quota: %d", s)
	}

	m := scrape(t, h)
	want := map[string]float64{
		`timon_requests_total{integration="api",outcome="ok",task="chat"}`:             2,
		`timon_requests_total{integration="api",outcome="denied",task="review"}`:       1,
		`timon_requests_total{integration="api",outcome="quota_exceeded",task="chat"}`: 1,
		`timon_quota_refusals_total{limit="requests per minute"}`:                      1,
		`timon_http_requests_total{code="200",route="/v1/assist"}`:                     2,
		`timon_http_requests_total{code="403",route="/v1/assist"}`:                     1,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	var redactions, providerCalls, tokens float64
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, "timon_redactions_total{"):
			redactions += v
		case strings.HasPrefix(k, `timon_provider_request_duration_seconds_count{operation="chat",provider="fake"}`):
			providerCalls += v
		case strings.HasPrefix(k, "timon_tokens_total{"):
			tokens += v
		}
		if strings.Contains(k, "ada") || strings.Contains(k, "ORION") {
			t.Errorf("a metric names a user or content: %s", k)
		}
	}
	if redactions < 2 {
		t.Errorf("redactions counted: %v", redactions)
	}
	if providerCalls != 2 {
		t.Errorf("provider calls observed: %v, want 2", providerCalls)
	}
	if tokens == 0 {
		t.Error("no tokens counted")
	}
	if _, ok := m["timon_journal_lag_seconds"]; !ok {
		t.Error("no journal lag gauge")
	}
}

// hubConfigWith is the integration tests' configuration with extra
// top-level sections replacing the default ones of the same name.
func hubConfigWith(providerURL, extra string) string {
	cfg := strings.Replace(hubConfig, "%s", providerURL, 1)
	for _, sec := range strings.Split(extra, "\n") {
		if sec == "" || sec[0] == ' ' {
			continue
		}
		name := sec[:strings.IndexByte(sec, ':')+1]
		if i := strings.Index(cfg, "\n"+name); i >= 0 {
			j := i + 1 + len(name)
			for {
				k := strings.IndexByte(cfg[j:], '\n')
				if k < 0 || j+k+1 >= len(cfg) || cfg[j+k+1] != ' ' {
					if k < 0 {
						j = len(cfg)
					} else {
						j += k
					}
					break
				}
				j += k + 1
			}
			cfg = cfg[:i] + cfg[j:]
		}
	}
	return cfg + "\n" + extra
}

// TestLogsNeverCarryContentOrSecrets runs requests full of planted
// secrets, personal data and a marker phrase through every path (plain,
// streamed, OpenAI-compatible, refused, failing provider) with debug logs,
// then scans everything the hub printed.
func TestLogsNeverCarryContentOrSecrets(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	tok := h.token("grace", "staff")
	planted := []string{
		"AKIAZ3MSJV4WWNKWW5FI", "ghp_4c7dFb1eA9b8C7d6E5f4A3b2C1d0E9f8A7b6", "ada.lovelace@lab-univ.fr",
		"FR76 3000 6000 0112 3456 7890 189", "unpublished-marker-zebra-quartz",
	}
	text := "Please keep " + strings.Join(planted, " and ") + " safe"
	msgs := []map[string]string{{"role": "user", "content": text}}
	h.post("/v1/assist", tok, map[string]any{"task": "chat", "messages": msgs})
	h.stream(tok, map[string]any{"task": "chat", "stream": true, "messages": msgs})
	h.post("/v1/chat/completions", tok, map[string]any{"model": "mistral-small-latest", "messages": msgs})
	h.post("/v1/assist", h.token("i", "interns"), map[string]any{"task": "review", "input": text})
	h.post("/v1/assist", h.token("s", "strict"), map[string]any{"task": "chat", "messages": msgs})
	fake.Enqueue(fakellm.Reply{Status: 500}, fakellm.Reply{Status: 500})
	h.post("/v1/assist", tok, map[string]any{"task": "chat", "messages": msgs})
	h.post("/v1/assist", tok, `{"task": "chat", "messages": [{"role": "user", "content": "`+planted[4]+`"`) // malformed
	h.post("/v1/assist", "timon_"+planted[1], map[string]any{"task": "chat", "messages": msgs})             // bad token

	logs := h.logs.String()
	if !strings.Contains(logs, `"msg":"request"`) {
		t.Fatalf("the hub logged no request line; logs:\n%s", logs)
	}
	for _, p := range append(planted, tok, strings.TrimPrefix(tok, "timon_")) {
		if strings.Contains(logs, p) {
			t.Errorf("the logs contain %q", p)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("a log line is not JSON: %q", line)
		}
	}
}

// TestGracefulShutdown: on SIGTERM the hub stops accepting, finishes the
// request in flight, then exits 0.
func TestGracefulShutdown(t *testing.T) {
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	tok := h.token("hedy")
	fake.Enqueue(fakellm.Reply{Text: "slow but whole", FirstTokenDelay: 1500 * time.Millisecond})

	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/v1/assist", strings.NewReader(`{"task":"chat","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	if err := fake.WaitCount(ctxT(t), 1); err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused soon after the signal.
	deadline := time.Now().Add(2 * time.Second)
	for {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
		resp, err := c.Get(h.url + "/healthz")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("the hub still accepts connections 2 s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := <-done
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, "slow but whole") {
		t.Fatalf("the request in flight was not finished: %d %q %v", r.status, r.body, r.err)
	}
	select {
	case <-h.waited:
	case <-time.After(10 * time.Second):
		t.Fatal("the hub did not exit after draining")
	}
	if code := h.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if out, _, code := h.timon("audit", "verify"); code != 0 {
		t.Fatalf("journal does not verify after shutdown: %s", out)
	}
}

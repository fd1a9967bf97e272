package slack_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/bots/slack"
	"timon.dev/timon/bots/slack/slacktest"
	"timon.dev/timon/core/assistant/assistanttest"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/jobs"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/core/store"
)

const secret = "8f742231b10e8888abcd99yyyzzz85a5" // Slack's documented example secret

// rig is the Slack adapter over a real router, engine, SQLite store and
// job queue, against the fake Slack and fakellm, with the HTTP endpoints on
// an httptest server.
type rig struct {
	slack   *slacktest.Server
	fake    *fakellm.Server
	adapter *slack.Adapter
	queue   *jobs.Queue
	http    *httptest.Server
	journal *audit.Journal
	store   *store.Store
}

type rigOptions struct {
	noSecret  bool
	updates   int
	interval  time.Duration
	chat      chat.Config
	now       func() time.Time
	mode      string
	skipStart bool
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{slack: slacktest.New(), fake: fakellm.New()}
	t.Cleanup(r.fake.Close)
	t.Cleanup(r.slack.Close)
	r.slack.AddUser("U061F7AUR", "ada", "ada@lab-univ.fr", "fr-FR")
	r.slack.AddUser("U2147483697", "bob", "bob@lab-univ.fr", "en-US")
	r.slack.AddUser("U222", "carla", "carla@lab-univ.fr", "en-GB")
	r.slack.AddChannel("C123ABC456", "lab", "public", "U061F7AUR", "U2147483697", slacktest.BotUserID)
	r.slack.AddChannel("C111", "random", "public", "U222", slacktest.BotUserID)
	r.slack.AddChannel("D024BE91L", "", "im", "U2147483697", slacktest.BotUserID)
	r.slack.AddChannel("G8PSS9T3V", "foobar", "private", "U2CERLKJA", slacktest.BotUserID)

	eng := assistanttest.New(t, assistanttest.Options{ProviderURL: r.fake.URL(), ProviderName: "local"})
	st := eng.Store
	r.store, r.journal = st, eng.Journal
	r.queue = jobs.New(st, jobs.Options{PollInterval: 50 * time.Millisecond})
	if o.chat.DefaultLocale == "" {
		o.chat.DefaultLocale = "en"
	}
	router, err := chat.New(chat.Options{Assistant: eng.Engine, Store: st, Jobs: r.queue, JobKey: []byte("test-job-key-0123456789abcdefghi"), Config: o.chat})
	if err != nil {
		t.Fatal(err)
	}
	cfg := slack.Config{Mode: "http", BotToken: "xoxb-test-token", AppToken: "xapp-1-test", SigningSecret: secret, APIURL: r.slack.APIURL()}
	if o.mode != "" {
		cfg.Mode = o.mode
	}
	if o.noSecret {
		cfg.SigningSecret = ""
	}
	if o.updates == 0 {
		o.updates = 60000
	}
	if o.interval == 0 {
		o.interval = 20 * time.Millisecond
	}
	base, _ := url.Parse(r.slack.APIURL())
	client := &http.Client{Timeout: 10 * time.Second, Transport: hooksToFake{base}}
	r.adapter, err = slack.New(slack.Options{Router: router, Config: cfg, UpdatesPerMinute: o.updates, UpdateInterval: o.interval,
		Now: o.now, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.queue.Stop(context.Background()) })
	mux := http.NewServeMux()
	mux.Handle("POST /slack/events", r.adapter.EventsHandler())
	mux.Handle("POST /slack/commands", r.adapter.CommandsHandler())
	r.http = httptest.NewServer(mux)
	t.Cleanup(r.http.Close)
	return r
}

// deliver posts a signed request to the hub's endpoint.
func (r *rig) deliver(t *testing.T, path, contentType string, body []byte, retry int) int {
	t.Helper()
	resp, err := slacktest.Deliver(r.http.Client(), r.http.URL+path, contentType, body, secret, retry)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// settle waits until every queued chat job ran.
func (r *rig) settle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.queue.Wait(ctx, chat.JobKind); err != nil {
		t.Fatal(err)
	}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (r *rig) journalEntries(t *testing.T) ([]audit.Entry, error) {
	t.Helper()
	return audit.List(context.Background(), r.store, audit.Filter{})
}

// hooksToFake sends what the adapter posts to Slack's response URLs
// (hooks.slack.com) to the fake instead, as a proxy would.
type hooksToFake struct{ base *url.URL }

func (h hooksToFake) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == "hooks.slack.com" {
		u := *req.URL
		u.Scheme, u.Host, u.Path = h.base.Scheme, h.base.Host, "/response"+u.Path
		req = req.Clone(req.Context())
		req.URL, req.Host = &u, ""
	}
	return http.DefaultTransport.RoundTrip(req)
}

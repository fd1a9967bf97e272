package gitlab_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/assistant/assistanttest"
	"timon.dev/timon/core/config"
	"timon.dev/timon/core/jobs"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/core/redact"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
	"timon.dev/timon/webhooks/gitlab"
	"timon.dev/timon/webhooks/gitlab/gitlabtest"
	"timon.dev/timon/webhooks/review"
)

const (
	apiToken      = "glpat-test-token-for-the-bot"
	webhookSecret = "hook-secret-0123456789"
	projectID     = 42
	projectPath   = "research/solver"
)

var (
	bot   = gitlabtest.User{ID: 900, Username: "timon-bot"}
	alice = gitlabtest.User{ID: 7, Username: "alice"}
	guest = gitlabtest.User{ID: 8, Username: "guest"}
)

// rig is the GitLab front end over real parts: a SQLite store, the River
// queue, the governed engine with fakellm behind it, the fake GitLab, and
// the webhook handler on a real HTTP server.
type rig struct {
	t     *testing.T
	store *store.Store
	queue *jobs.Queue
	svc   *gitlab.Service
	llm   *fakellm.Server
	gl    *gitlabtest.Server
	hook  *httptest.Server
	cfg   *review.Config
}

type rigOptions struct {
	configure    func(*review.Config)
	blockSecrets bool
	postgres     bool // the store (and River) on PostgreSQL instead of SQLite
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{t: t, llm: fakellm.New(), gl: gitlabtest.New(apiToken, bot)}
	if o.postgres {
		r.store = storetest.Postgres(t)
	} else {
		r.store = storetest.SQLite(t)
	}
	t.Cleanup(r.llm.Close)
	t.Cleanup(r.gl.Close)
	r.llm.Handle(gitlabtest.Reviewer(gitlabtest.DefaultRules))
	r.gl.AddUser(alice)
	r.gl.AddUser(guest)
	r.gl.AddProject(projectID, projectPath, map[string]string{
		"main.go":   "package main\n\nimport \"os\"\n\nfunc main() {\n\tf, _ := os.Open(\"x\")\n\tdefer f.Close()\n\t// TODO: flags\n\trun(f)\n}\n",
		"README.md": "# Solver\n",
	})
	r.gl.SetMember(projectID, alice.ID, gitlabtest.Developer)
	r.gl.SetMember(projectID, guest.ID, gitlabtest.Reporter)

	engine := newEngine(t, r.store, r.llm.URL(), o.blockSecrets)
	r.cfg = &review.Config{
		URL: r.gl.URL(), Token: apiToken, WebhookSecret: webhookSecret, PrincipalGroups: []string{"gitlab"},
		ChunkTokens: 6000, MaxChunks: 8, AnswerTokens: 2048, DiffWait: config.Duration(5 * time.Second),
		LinkAllowlist: []string{"docs.example.org"},
	}
	if o.configure != nil {
		o.configure(r.cfg)
	}
	r.queue = jobs.New(r.store, jobs.Options{PollInterval: 20 * time.Millisecond, JobTimeout: 30 * time.Second, Workers: 4})
	scan, err := redact.New(redact.Profile{Name: "gitlab-scan"})
	if err != nil {
		t.Fatal(err)
	}
	r.svc, err = gitlab.New(ctx, gitlab.Options{
		Config: r.cfg, Store: r.store, Queue: r.queue, Assistant: engine, Redactor: scan,
		Client:       gitlab.ClientOptions{MinWait: 10 * time.Millisecond, MaxWait: 2 * time.Second},
		PollInterval: 20 * time.Millisecond, LeaseFor: time.Minute, KeyFile: filepath.Join(t.TempDir(), "gitlab-review.key"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.queue.Stop(sctx)
	})
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.svc.Run(runCtx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	r.hook = httptest.NewServer(r.svc)
	t.Cleanup(r.hook.Close)
	// The handler drops the bot's own notes once it knows its id.
	deadline := time.Now().Add(5 * time.Second)
	for r.svc.Client().KnownBotUserID() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return r
}

// newEngine is the governed engine over the test store, with fakellm as
// its only (sovereign) provider and secrets masked (or blocked) before
// anything leaves.
func newEngine(t *testing.T, st *store.Store, llmURL string, blockSecrets bool) core.Assistant {
	t.Helper()
	o := assistanttest.Options{
		ProviderURL: llmURL, Store: st, Timeout: 10 * time.Second,
		Rules: []policy.Rule{{Name: "gitlab", Effect: "allow", Match: policy.Match{Integrations: []core.Integration{core.IntegrationGitLab}}}},
	}
	if blockSecrets {
		o.Redaction.Actions = map[string]redact.Action{"secret": redact.ActionBlock}
	}
	return assistanttest.New(t, o).Engine
}

// deliver posts a webhook delivery and returns the status and body.
func (r *rig) deliver(h http.Header, body []byte) (int, string) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.hook.URL, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header = h.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var keyN atomic.Int64

func newKey() string { return fmt.Sprintf("delivery-%d", keyN.Add(1)) }

// mrEvent delivers a Merge Request Hook with a fresh delivery key.
func (r *rig) mrEvent(iid int64, o gitlabtest.HookOptions) (int, string) {
	r.t.Helper()
	return r.deliver(gitlabtest.Headers(gitlab.EventMergeRequest, webhookSecret, newKey(), ""), r.gl.MergeRequestHook(projectID, iid, o))
}

// command writes a note as u and delivers its Note Hook.
func (r *rig) command(iid int64, u gitlabtest.User, body string) (int, string) {
	r.t.Helper()
	id := r.gl.AddNote(projectID, iid, u, body)
	return r.deliver(gitlabtest.Headers(gitlab.EventNote, webhookSecret, newKey(), ""), r.gl.NoteHook(projectID, iid, id, u, body))
}

// wait waits until no review job is pending.
func (r *rig) wait() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.queue.Wait(ctx, gitlab.JobKind); err != nil {
		r.t.Fatal(err)
	}
}

// openMR pushes a branch with files and opens a merge request from it.
func (r *rig) openMR(files map[string]string, o gitlabtest.MROptions) int64 {
	r.t.Helper()
	if o.Source == "" {
		o.Source = "feature-" + newKey()
	}
	if o.Title == "" {
		o.Title = "Improve the solver"
	}
	if o.Author.ID == 0 {
		o.Author = alice
	}
	r.gl.Commit(projectID, o.Source, "Change the solver", files)
	return r.gl.OpenMR(projectID, o)
}

// summary returns the bot's summary note, "" if none.
func (r *rig) summary(iid int64) string {
	var found []string
	for _, n := range r.gl.Notes(projectID, iid) {
		if n.Author.ID == bot.ID && strings.Contains(n.Body, "<!-- timon:summary -->") {
			found = append(found, n.Body)
		}
	}
	if len(found) > 1 {
		r.t.Fatalf("%d summary notes, want one edited in place", len(found))
	}
	if len(found) == 0 {
		return ""
	}
	return found[0]
}

// modelCalls returns the chat requests the model received.
func (r *rig) modelCalls() []fakellm.Request {
	var out []fakellm.Request
	for _, q := range r.llm.Requests() {
		if strings.HasSuffix(q.Path, "/chat/completions") {
			out = append(out, q)
		}
	}
	return out
}

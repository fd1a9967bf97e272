package chat_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/core"
	"timon.dev/timon/core/assistant/assistanttest"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/biblio"
	"timon.dev/timon/core/jobs"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/core/quota"
	"timon.dev/timon/core/redact"
	"timon.dev/timon/core/store"
)

// rig is a router over the real governed engine: a SQLite store, journal,
// quotas, redaction, and fakellm as the model.
type rig struct {
	router *chat.Router
	store  *store.Store
	fake   *fakellm.Server
	quota  *quota.Quota
	plat   *recorder
}

type rigOptions struct {
	cfg    chat.Config
	limits quota.Limits
	store  *store.Store
	max    int
	every  time.Duration
	jobs   *jobs.Queue
	// sources are the bibliographic sources (refs_test.go).
	sources []biblio.Source
	// estimates, if set, is the cost and energy figures of the usage
	// command.
	estimates *audit.Estimator
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	r := &rig{fake: fakellm.New()}
	t.Cleanup(r.fake.Close)
	eng := assistanttest.New(t, assistanttest.Options{
		ProviderURL: r.fake.URL(), ProviderName: "local", Store: o.store, Limits: o.limits,
		Routes: map[string][]string{"default": {"mistral-small-latest"}},
		Rules: []policy.Rule{
			{Name: "no-review-for-interns", Effect: "deny", Reason: "interns may not ask for reviews", Match: policy.Match{Groups: []string{"interns"}, Tasks: []core.Task{core.TaskReview}}},
			{Name: "everyone", Effect: "allow", Models: []string{"codestral-latest"}},
		},
		Redaction: redact.Profile{Terms: []string{"ORION"}},
		Sources:   o.sources,
	})
	r.store, r.quota = eng.Store, eng.Quota
	if o.cfg.DefaultLocale == "" {
		o.cfg.DefaultLocale = "en"
	}
	var err error
	r.router, err = chat.New(chat.Options{Assistant: eng.Engine, Store: r.store, Jobs: o.jobs, JobKey: []byte("test-job-key-0123456789abcdefghi"), Config: o.cfg, Quota: r.quota, Subjects: eng.Subjects,
		Estimates: o.estimates})
	if err != nil {
		t.Fatal(err)
	}
	r.plat = newRecorder(core.IntegrationSlack, o.max, o.every)
	r.router.Register(r.plat)
	return r
}

func (r *rig) journal(t testing.TB) []audit.Entry {
	t.Helper()
	es, err := audit.List(context.Background(), r.store, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// recorder is a test double of a chat platform (an external system): it
// keeps every post and edit, serves a scripted thread, and can be told to
// fail.
type recorder struct {
	name  core.Integration
	max   int
	every time.Duration

	mu       sync.Mutex
	seq      int
	posts    []*post
	byID     map[string]*post
	updates  int
	thread   []chat.ThreadPost
	threadEr error
	failNext map[string]error // "post" or "update" → error returned once
}

type post struct {
	id        string
	ev        string
	text      string
	ephemeral bool
	edits     []string
	at        time.Time
}

func newRecorder(name core.Integration, max int, every time.Duration) *recorder {
	if max == 0 {
		max = 4000
	}
	if every == 0 {
		every = 20 * time.Millisecond
	}
	return &recorder{name: name, max: max, every: every, byID: map[string]*post{}, failNext: map[string]error{}}
}

func (p *recorder) Name() core.Integration        { return p.name }
func (p *recorder) MaxRunes() int                 { return p.max }
func (p *recorder) UpdateInterval() time.Duration { return p.every }

func (p *recorder) Thread(ctx context.Context, ev *chat.Event) ([]chat.ThreadPost, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.thread), p.threadEr
}

func (p *recorder) Post(ctx context.Context, ev *chat.Event, r chat.Reply) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.failNext["post"]; err != nil {
		delete(p.failNext, "post")
		return "", err
	}
	p.seq++
	id := fmt.Sprintf("p%d", p.seq)
	ps := &post{id: id, ev: ev.ID, text: r.Text, ephemeral: r.Ephemeral, at: time.Now()}
	p.posts = append(p.posts, ps)
	p.byID[id] = ps
	return id, nil
}

func (p *recorder) Update(ctx context.Context, ev *chat.Event, id, text string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.failNext["update"]; err != nil {
		delete(p.failNext, "update")
		return err
	}
	ps := p.byID[id]
	if ps == nil {
		return errors.New("no such post")
	}
	if ps.ephemeral {
		return errors.New("ephemeral posts cannot be edited")
	}
	ps.text = text
	ps.edits = append(ps.edits, text)
	p.updates++
	return nil
}

func (p *recorder) fail(op string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failNext[op] = err
}

func (p *recorder) setThread(msgs []chat.ThreadPost, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.thread, p.threadEr = msgs, err
}

// of returns copies of the posts made for event id.
func (p *recorder) of(id string) []post {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []post
	for _, ps := range p.posts {
		if ps.ev == id {
			c := *ps
			c.edits = slices.Clone(ps.edits)
			out = append(out, c)
		}
	}
	return out
}

// text is the final text of all posts of event id, joined.
func (p *recorder) text(id string) string {
	var parts []string
	for _, ps := range p.of(id) {
		parts = append(parts, ps.text)
	}
	return strings.Join(parts, "\n---\n")
}

var evSeq int

func mention(text string) *chat.Event {
	evSeq++
	return &chat.Event{Platform: core.IntegrationSlack, ID: fmt.Sprintf("Ev%d", evSeq), UserID: "U061F7AUR", UserName: "ada",
		TeamID: "T123ABC456", ChannelID: "C123ABC456", ChannelName: "lab", ChannelType: chat.ChannelPublic,
		ThreadID: "1515449522.000016", MessageID: "1515449522.000016", Trigger: chat.TriggerMention, Text: text}
}

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

package mattermost_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/bots/mattermost"
	"timon.dev/timon/bots/mattermost/mattermosttest"
	"timon.dev/timon/core/assistant/assistanttest"
	"timon.dev/timon/core/jobs"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

// Fixture identities: the user and channel of
// shared/fixtures/mattermost/slash_command.form.txt.
const (
	alanID     = "erj6qck3rfgtujs86w5r6rckzh"
	townID     = "fukxanjgjbnp7ng383at53k1sy"
	fixtureTok = "qzgakf1nx3yt9dr4n8585ihbxy"
)

// rig is the bot over the real governed engine (SQLite store, journal,
// quotas, redaction, River jobs, fakellm as the model), talking to the fake
// Mattermost server.
type rig struct {
	mm     *mattermosttest.Server
	llm    *fakellm.Server
	store  *store.Store
	jobs   *jobs.Queue
	router *chat.Router
	bot    *mattermost.Adapter
	botID  string

	alan, grace *model.User
	town        *model.Channel // open channel: alan, grace and the bot
}

type rigOptions struct {
	cfg          chat.Config
	commandToken string
	interval     time.Duration
	noRun        bool // do not start the WebSocket loop
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{mm: mattermosttest.New(), llm: fakellm.New(), store: storetest.SQLite(t)}
	t.Cleanup(r.mm.Close)
	t.Cleanup(r.llm.Close)
	r.botID = r.mm.Bot().Id
	r.alan = r.mm.AddUser(&model.User{Id: alanID, Username: "alan", Email: "alan@example.org", Locale: "en"})
	r.grace = r.mm.AddUser(&model.User{Username: "grace", Email: "grace@example.org", Locale: "fr"})
	r.town = r.mm.AddChannel(&model.Channel{Id: townID, Name: "town-square", DisplayName: "Town Square"}, r.alan.Id, r.grace.Id, r.botID)

	eng := assistanttest.New(t, assistanttest.Options{ProviderURL: r.llm.URL(), ProviderName: "local", Store: r.store, Timeout: 10 * time.Second})
	r.jobs = jobs.New(r.store, jobs.Options{PollInterval: 50 * time.Millisecond})
	var err error
	if r.router, err = chat.New(chat.Options{Assistant: eng.Engine, Store: r.store, Jobs: r.jobs, JobKey: []byte("test-job-key-0123456789abcdefghi"), Config: o.cfg}); err != nil {
		t.Fatal(err)
	}
	r.bot, err = mattermost.New(mattermost.Options{Config: mattermost.Config{URL: r.mm.URL(), BotToken: r.mm.BotToken(), CommandToken: o.commandToken},
		Router: r.router, UpdateInterval: o.interval, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.jobs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.jobs.Stop(context.Background()) })
	if o.noRun {
		return r
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.bot.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	r.wait(t, "the bot to connect", func() bool { return r.bot.Connected() })
	return r
}

// wait waits for cond, failing the test after 20 s.
func (r *rig) wait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.mm.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// settle waits until no chat job is pending.
func (r *rig) settle(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.jobs.Wait(ctx, chat.JobKind); err != nil {
		t.Fatal(err)
	}
}

// post posts as a user, failing the test on error.
func (r *rig) post(t testing.TB, userID, channelID, rootID, msg string) *model.Post {
	t.Helper()
	p, err := r.mm.Post(userID, channelID, rootID, msg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// finished reports whether a message is a finished answer: it carries the
// transparency line with the journal request id (English or French).
func finished(msg string) bool {
	return strings.Contains(msg, "journal request") || strings.Contains(msg, "requête du journal")
}

// answered reports whether a finished answer is among posts.
func answered(posts []*model.Post) bool { return answers(posts) > 0 }

// answers counts the finished answers among posts.
func answers(posts []*model.Post) int {
	n := 0
	for _, p := range posts {
		if finished(p.Message) {
			n++
		}
	}
	return n
}

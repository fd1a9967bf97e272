package assistant_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/assistant"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/core/quota"
	"timon.dev/timon/core/redact"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

// rig is a governed engine over real stages: a SQLite store, the journal,
// quotas, redactors, and fakellm behind one or two providers.
type rig struct {
	engine  *assistant.Engine
	store   *store.Store
	journal *audit.Journal
	quota   *quota.Quota
	fake    *fakellm.Server
	fake2   *fakellm.Server
}

type rigOptions struct {
	limits quota.Limits
	second bool // a second provider for failover
	// redactTimeout is Options.RedactTimeout.
	redactTimeout time.Duration
}

func newRig(t *testing.T, o rigOptions) *rig { return newRigB(t, o) }

func newRigB(t testing.TB, o rigOptions) *rig {
	t.Helper()
	r := &rig{store: storetest.SQLite(t), fake: fakellm.New()}
	t.Cleanup(r.fake.Close)
	ctx := context.Background()
	mk := func(name, url string) *provider.Client {
		c, err := provider.New(provider.Config{Name: name, Kind: provider.KindMistral, BaseURL: url,
			Models: []string{"mistral-small-latest", "codestral-latest"}, Timeout: 5 * time.Second, MaxRetries: -1, Sovereign: true})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	provs := []*provider.Client{mk("first", r.fake.URL())}
	infos := []policy.Provider{{Name: "first", Models: provs[0].Models(), Sovereign: true}}
	if o.second {
		r.fake2 = fakellm.New()
		t.Cleanup(r.fake2.Close)
		provs = append(provs, mk("second", r.fake2.URL()))
		infos = append(infos, policy.Provider{Name: "second", Models: provs[1].Models(), Sovereign: true})
	}
	pol, err := policy.New(policy.Config{
		Routes: map[string][]string{"default": {"mistral-small-latest"}, "complete": {"codestral-latest"}},
		Rules: []policy.Rule{
			{Name: "no-review-for-interns", Effect: "deny", Match: policy.Match{Groups: []string{"interns"}, Tasks: []core.Task{core.TaskReview}}},
			{Name: "strict", Effect: "allow", Match: policy.Match{Groups: []string{"strict"}}, Profile: "strict"},
			{Name: "everyone", Effect: "allow"},
		},
	}, infos)
	if err != nil {
		t.Fatal(err)
	}
	def, err := redact.New(redact.Profile{Name: "default", Terms: []string{"ORION"}})
	if err != nil {
		t.Fatal(err)
	}
	strict, err := redact.New(redact.Profile{Name: "strict", Actions: map[string]redact.Action{"secret": redact.ActionBlock}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := quota.New(ctx, r.store)
	if err != nil {
		t.Fatal(err)
	}
	r.quota = q
	r.journal, err = audit.Open(ctx, r.store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.journal.Close() })
	r.engine, err = assistant.New(assistant.Options{
		Policy: pol, Providers: provs, Redactors: map[string]*redact.Redactor{"default": def, "strict": strict},
		Quota: q, Subjects: func(p core.Principal) []quota.Subject {
			return []quota.Subject{{Key: "user:" + p.UserID, Limits: o.limits}}
		},
		Journal: r.journal, RedactTimeout: o.redactTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) entries(t *testing.T) []audit.Entry {
	t.Helper()
	es, err := audit.List(context.Background(), r.store, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func chat(user string, groups []string, text string) *core.Request {
	return &core.Request{Principal: core.Principal{UserID: user, Groups: groups, Integration: core.IntegrationAPI},
		Task: core.TaskChat, Messages: []core.Message{{Role: "user", Content: text}}}
}

func TestAllowedRequestIsAnsweredAndJournaled(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	resp, err := r.engine.Do(ctx, chat("alice", nil, "Write to ada@lab-univ.fr about ORION"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text != "echo: Write to ada@lab-univ.fr about ORION" {
		t.Fatalf("answer %q", resp.Text)
	}
	sent := r.fake.Requests()[0].LastUser()
	if strings.Contains(sent, "ada@lab-univ.fr") || strings.Contains(sent, "ORION") {
		t.Fatalf("the model received raw values: %q", sent)
	}
	es := r.entries(t)
	if len(es) != 1 {
		t.Fatalf("%d journal entries, want 1", len(es))
	}
	e := es[0]
	if e.RequestID != resp.RequestID || e.Outcome != "ok" || e.Decision != "allow" || e.Rule != "everyone" || e.Provider != "first" ||
		e.Model != "mistral-small-latest" || e.SentHash == "" || e.ReturnedHash == "" || e.TokensIn == 0 || e.Redactions["email"] != 1 {
		t.Fatalf("journal entry %+v", e)
	}
}

// TestFailClosed: a stage that fails means zero provider calls, a clear
// error, and one journal entry saying so.
func TestFailClosed(t *testing.T) {
	cases := []struct {
		name    string
		limits  quota.Limits
		req     *core.Request
		prepare func(t *testing.T, r *rig)
		kind    core.Kind
		outcome string
		says    string
	}{
		{name: "invalid", req: &core.Request{Principal: core.Principal{UserID: "a", Integration: core.IntegrationAPI}, Task: "dance"},
			kind: core.KindInvalid, outcome: "invalid", says: "unknown task"},
		{name: "policy", req: func() *core.Request {
			q := chat("i", []string{"interns"}, "x")
			q.Task, q.Input, q.Messages = core.TaskReview, "diff", nil
			return q
		}(),
			kind: core.KindDenied, outcome: "denied", says: "no-review-for-interns"},
		{name: "redaction", req: chat("s", []string{"strict"}, "my key is AKIAZ3MSJV4WWNKWW5FI"),
			kind: core.KindBlocked, outcome: "blocked", says: "nothing was sent"},
		{name: "quota", limits: quota.Limits{RequestsPerMinute: 1}, req: chat("q", nil, "hello"),
			prepare: func(t *testing.T, r *rig) {
				if _, err := r.engine.Do(context.Background(), chat("q", nil, "first")); err != nil {
					t.Fatal(err)
				}
			},
			kind: core.KindQuota, outcome: "quota_exceeded", says: "requests per minute"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, rigOptions{limits: c.limits})
			if c.prepare != nil {
				c.prepare(t, r)
			}
			before := r.fake.Count()
			_, err := r.engine.Do(context.Background(), c.req)
			var ce *core.Error
			if !errors.As(err, &ce) || ce.Kind != c.kind {
				t.Fatalf("got %v, want kind %s", err, c.kind)
			}
			if !strings.Contains(ce.Message+ce.Rule, c.says) || ce.RequestID == "" {
				t.Fatalf("error %+v does not say %q or lacks the request id", ce, c.says)
			}
			if n := r.fake.Count() - before; n != 0 {
				t.Fatalf("the provider was called %d time(s)", n)
			}
			es := r.entries(t)
			last := es[len(es)-1]
			if last.Outcome != c.outcome || last.RequestID != ce.RequestID {
				t.Fatalf("journal entry %+v, want outcome %s", last, c.outcome)
			}
		})
	}
}

// TestJournalDownSendsNothing: when the journal cannot write, the answer is
// withheld and, from then on, nothing is sent to a model.
func TestJournalDownSendsNothing(t *testing.T) {
	r := newRig(t, rigOptions{})
	if _, err := r.engine.Do(context.Background(), chat("a", nil, "warm up")); err != nil {
		t.Fatal(err)
	}
	r.store.DB().Exec(`DROP TABLE audit_entries`)
	r.store.DB().Exec(`ALTER TABLE audit_entries RENAME TO audit_entries_gone`)
	_, err := r.engine.Do(context.Background(), chat("a", nil, "one"))
	if core.ErrorKind(err) != core.KindInternal || !strings.Contains(err.Error(), "journal") {
		t.Fatalf("first request after the journal broke: %v", err)
	}
	before := r.fake.Count()
	_, err = r.engine.Do(context.Background(), chat("a", nil, "two"))
	if core.ErrorKind(err) != core.KindInternal || !strings.Contains(err.Error(), "journal") {
		t.Fatalf("second request: %v", err)
	}
	if r.fake.Count() != before {
		t.Fatal("a request was sent to the model while the journal was down")
	}
}

func TestStreamRestoresAcrossChunks(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.fake.Handle(func(req fakellm.Request) fakellm.Reply {
		return fakellm.Reply{Text: "Dear " + strings.TrimPrefix(req.LastUser(), "to ") + ",\nthanks.", ChunkSize: 3}
	})
	var got strings.Builder
	resp, err := r.engine.Stream(context.Background(), chat("a", nil, "to ada@lab-univ.fr"), func(d string) error {
		got.WriteString(d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != "Dear ada@lab-univ.fr,\nthanks." || resp.Text != got.String() {
		t.Fatalf("streamed %q, response %q", got.String(), resp.Text)
	}
}

func TestOutputSecretsAreMasked(t *testing.T) {
	r := newRig(t, rigOptions{})
	leak := "ghp_" + strings.Repeat("aB3dE5fG7h", 3) + "123456"
	r.fake.Handle(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{Text: "use token " + leak + " here"} })
	resp, err := r.engine.Do(context.Background(), chat("a", nil, "give me a token"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(resp.Text, leak) {
		t.Fatalf("a secret written by the model reached the user: %q", resp.Text)
	}
	var streamed strings.Builder
	if _, err := r.engine.Stream(context.Background(), chat("a", nil, "again"), func(d string) error { streamed.WriteString(d); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(streamed.String(), leak) {
		t.Fatalf("a secret written by the model reached the user in a stream: %q", streamed.String())
	}
}

func TestFailoverToSecondProvider(t *testing.T) {
	r := newRig(t, rigOptions{second: true})
	r.fake.Handle(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{Status: 500} })
	resp, err := r.engine.Do(context.Background(), chat("a", nil, "hi"))
	if err != nil || resp.Provider != "second" {
		t.Fatalf("whole: %v %+v", err, resp)
	}
	resp, err = r.engine.Stream(context.Background(), chat("a", nil, "hi"), func(string) error { return nil })
	if err != nil || resp.Provider != "second" {
		t.Fatalf("stream: %v %+v", err, resp)
	}
}

func TestStreamCutMidwayIsAnError(t *testing.T) {
	r := newRig(t, rigOptions{second: true})
	r.fake.Handle(func(fakellm.Request) fakellm.Reply {
		return fakellm.Reply{Text: strings.Repeat("word ", 50), CutAfter: 3}
	})
	_, err := r.engine.Stream(context.Background(), chat("a", nil, "hi"), func(string) error { return nil })
	if core.ErrorKind(err) != core.KindUnavailable {
		t.Fatalf("got %v", err)
	}
	if r.fake2.Count() != 0 {
		t.Fatal("a stream that had started failed over to another provider")
	}
}

func TestCancellationAbortsUpstream(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.fake.Handle(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{Hang: true} })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := r.engine.Do(ctx, chat("a", nil, "hi"))
		errc <- err
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := r.fake.WaitCount(wctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; core.ErrorKind(err) != core.KindCanceled {
		t.Fatalf("got %v", err)
	}
	if err := r.fake.WaitCancelled(wctx, 1); err != nil {
		t.Fatal("the upstream request was not aborted")
	}
	if es := r.entries(t); es[len(es)-1].Outcome != "canceled" {
		t.Fatalf("journal: %+v", es[len(es)-1])
	}
}

func TestCompletionUsesFIM(t *testing.T) {
	r := newRig(t, rigOptions{})
	resp, err := r.engine.Do(context.Background(), &core.Request{Principal: core.Principal{UserID: "a", Integration: core.IntegrationLSP},
		Task: core.TaskComplete, Prefix: "func add(a, b int) int {", Suffix: "\n}"})
	if err != nil {
		t.Fatal(err)
	}
	req := r.fake.Requests()[0]
	if req.Path != "/v1/fim/completions" || req.Model != "codestral-latest" || resp.Text == "" {
		t.Fatalf("request %+v, answer %q", req, resp.Text)
	}
}

func TestNewRequiresEveryStage(t *testing.T) {
	if _, err := assistant.New(assistant.Options{}); err == nil {
		t.Fatal("an engine without stages was built")
	}
}

// TestStreamGuardHoldsSecretsForEveryChunking: whatever the chunk size, a
// secret the model writes never reaches the caller, what the caller gets
// equals the whole answer's check, and a long line still arrives in pieces.
func TestStreamGuardHoldsSecretsForEveryChunking(t *testing.T) {
	r := newRig(t, rigOptions{})
	secret := "Sup3r-S3cret-Passw0rd-42"
	answer := "Here is the configuration you asked for, with every field explained in turn:\n" +
		"DB_PASSWORD=" + secret + "\nand the same as a URL: postgres://app:" + secret + "@db.internal:5432/x done"
	r.fake.Handle(func(req fakellm.Request) fakellm.Reply {
		return fakellm.Reply{Text: answer, ChunkSize: 1 + len(req.LastUser())%9}
	})
	whole, err := r.engine.Do(context.Background(), chat("a", nil, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(whole.Text, secret) {
		t.Fatalf("whole answer leaks: %q", whole.Text)
	}
	for size := 1; size <= 9; size++ {
		var deltas []string
		resp, err := r.engine.Stream(context.Background(), chat("a", nil, strings.Repeat("x", size-1+9)), func(d string) error {
			deltas = append(deltas, d)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(deltas, "")
		if strings.Contains(got, secret) || strings.Contains(got, secret[:12]) {
			t.Fatalf("chunk size %d: a secret reached the caller: %q", size, got)
		}
		if got != whole.Text || resp.Text != got {
			t.Fatalf("chunk size %d: streamed %q, whole %q", size, got, whole.Text)
		}
		if len(deltas) < 5 {
			t.Fatalf("chunk size %d: only %d deltas: the answer was not streamed", size, len(deltas))
		}
	}
}

// A streamed completion used to end with an empty answer: the FIM answer
// never went through the streaming guard.
func TestStreamedCompletionEmitsItsText(t *testing.T) {
	r := newRig(t, rigOptions{})
	leak := "ghp_" + strings.Repeat("aB3dE5fG7h", 3) + "123456"
	r.fake.Handle(func(req fakellm.Request) fakellm.Reply {
		// The model echoes the placeholder the prefix carried, and a secret.
		return fakellm.Reply{Text: "return a + b // " + strings.TrimPrefix(req.Prompt, "// ask ") + "\n\t_ = \"token " + leak + "\""}
	})
	var deltas []string
	resp, err := r.engine.Stream(context.Background(), &core.Request{Principal: core.Principal{UserID: "a", Integration: core.IntegrationLSP},
		Task: core.TaskComplete, Prefix: "// ask ada@lab-univ.fr", Suffix: "\n}"}, func(d string) error {
		deltas = append(deltas, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(deltas, "")
	if len(deltas) == 0 || got == "" {
		t.Fatal("a streamed completion emitted nothing")
	}
	if resp.Text != got {
		t.Fatalf("response %q, streamed %q", resp.Text, got)
	}
	if !strings.HasPrefix(got, "return a + b // ada@lab-univ.fr\n") {
		t.Fatalf("placeholder not restored in the streamed completion: %q", got)
	}
	if strings.Contains(got, leak) {
		t.Fatalf("a secret written by the model reached the editor: %q", got)
	}
	if sent := r.fake.Requests()[0].Prompt; strings.Contains(sent, "ada@lab-univ.fr") {
		t.Fatalf("the address left unredacted: %q", sent)
	}
}

// A provider without the model (Ollama before "ollama pull") hands the
// request to the next; when none serves it, the error names the model.
func TestModelNotServedFailsOverThenNamesIt(t *testing.T) {
	r := newRig(t, rigOptions{second: true})
	r.fake.SetModels("codestral-latest")
	r.fake.ServeListedOnly(true)
	resp, err := r.engine.Do(context.Background(), chat("a", nil, "hi"))
	if err != nil || resp.Provider != "second" {
		t.Fatalf("whole: %v %+v", err, resp)
	}
	r.fake2.SetModels()
	r.fake2.ServeListedOnly(true)
	_, err = r.engine.Do(context.Background(), chat("a", nil, "hi"))
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Kind != core.KindUnavailable || ce.Message != `model "mistral-small-latest" is not served by provider second (404): check the model name and the base URL` {
		t.Fatalf("error %v", err)
	}
}

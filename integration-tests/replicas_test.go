package integrationtests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"timon.dev/timon/bots/slack/slacktest"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/core/store/storetest"
	"timon.dev/timon/webhooks/gitlab"
	"timon.dev/timon/webhooks/gitlab/gitlabtest"
)

// startReplicas starts two timon serve processes on one PostgreSQL
// database, sharing the configuration and the journal's keys, as a
// deployment behind a load balancer does.
func startReplicas(t *testing.T, extra string) (a, b *hub) {
	t.Helper()
	return startReplicasWith(t, newFake(t), extra)
}

// startReplicasWith is startReplicas with a fake model and environment
// variables (NAME=value) of the test's own.
func startReplicasWith(t *testing.T, fake *fakellm.Server, extra string, env ...string) (a, b *hub) {
	t.Helper()
	env = append(env, "TIMON_TEST_PG_DSN="+storetest.PostgresDSN(t))
	cfg := hubConfigWith(fake.URL(), "store:\n  driver: postgres\n  dsn_env: TIMON_TEST_PG_DSN\n"+extra)
	a = startHubEnv(t, fake, cfg, env...)
	bData := t.TempDir()
	// The signing key and the key of the journal's content hashes.
	for _, name := range []string{"audit-signing.key", "audit-hash.key"} {
		key, err := os.ReadFile(filepath.Join(a.data, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bData, name), key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b = launchHub(t, fake, a.cfg, bData)
	return a, b
}

// assist posts a chat request and returns the status and the request id.
func assist(client *http.Client, url, tok, text string) (int, string, error) {
	body, _ := json.Marshal(map[string]any{"task": "chat", "messages": []map[string]string{{"role": "user", "content": text}}})
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/assist", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out struct {
		RequestID string `json:"request_id"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.RequestID, nil
}

// journalIDs exports the journal and counts entries per request id.
func journalIDs(t *testing.T, h *hub) map[string]int {
	t.Helper()
	out, errOut, code := h.timon("audit", "export", "--format", "jsonl")
	if code != 0 {
		t.Fatalf("audit export: %d %s", code, errOut)
	}
	ids := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		ids[e.RequestID]++
	}
	return ids
}

// TestReplicasShareQuota: a user's quota is one budget across replicas,
// not one per replica.
func TestReplicasShareQuota(t *testing.T) {
	t.Parallel()
	a, b := startReplicas(t, "quotas:\n  user: {requests_per_minute: 1000}\n  users: {capped: {requests_per_minute: 10}}\n")
	tok := a.token("capped")
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := a.url
			if i%2 == 1 {
				url = b.url
			}
			status, _, err := assist(http.DefaultClient, url, tok, fmt.Sprint("question ", i))
			switch {
			case err != nil:
				t.Error(err)
			case status == 200:
				ok.Add(1)
			case status == 429:
				refused.Add(1)
			default:
				t.Errorf("status %d", status)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 10 || refused.Load() != 14 {
		t.Fatalf("two replicas admitted %d and refused %d of 24 requests; the shared limit is 10 per minute", ok.Load(), refused.Load())
	}
	if out, errOut, code := b.timon("audit", "verify", "--allow-no-checkpoint"); code != 0 || !strings.Contains(out, "OK: 24 entries") {
		t.Fatalf("one journal across replicas should verify with 24 entries: %d %s %s", code, out, errOut)
	}
}

// TestReplicaKilledMidLoadLosesNothing: while both replicas serve, one is
// killed with SIGKILL. Every request that was answered has exactly one
// journal entry, and the journal verifies.
func TestReplicaKilledMidLoadLosesNothing(t *testing.T) {
	t.Parallel()
	// Budgets no load of this test reaches: eight clients of a fast hub
	// send over a thousand requests a minute.
	a, b := startReplicas(t, "quotas:\n  user: {requests_per_minute: 1000000, tokens_per_day: 1000000000, concurrent: 64}\n")
	tok := a.token("load")
	var (
		mu       sync.Mutex
		answered []string
		failedB  atomic.Int32
		okB      atomic.Int32
	)
	nAnswered := func() int { mu.Lock(); defer mu.Unlock(); return len(answered) }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				url := a.url
				if (w+i)%2 == 1 {
					url = b.url
				}
				status, id, err := assist(client, url, tok, fmt.Sprint("load ", w, " ", i))
				if err != nil || status != 200 {
					if url == b.url {
						failedB.Add(1)
						continue
					}
					t.Errorf("replica a: %d %v", status, err)
					continue
				}
				if url == b.url {
					okB.Add(1)
				}
				mu.Lock()
				answered = append(answered, id)
				mu.Unlock()
			}
		}()
	}
	// Killed while both replicas answer; the load goes on until the
	// clients have found b gone and a has answered more.
	waitFor(t, 30*time.Second, "both replicas to answer", func() bool { return okB.Load() >= 5 && nAnswered()-int(okB.Load()) >= 5 })
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-b.waited
	atKill := nAnswered()
	waitFor(t, 30*time.Second, "the load to go on without b", func() bool { return failedB.Load() > 0 && nAnswered() >= atKill+10 })
	close(stop)
	wg.Wait()

	if len(answered) < 20 || failedB.Load() == 0 {
		t.Fatalf("the load did not run as planned: %d answered, %d failed on the killed replica", len(answered), failedB.Load())
	}
	ids := journalIDs(t, a)
	for _, id := range answered {
		if ids[id] != 1 {
			t.Errorf("answered request %s has %d journal entries, want 1", id, ids[id])
		}
	}
	if out, errOut, code := a.timon("audit", "verify", "--allow-no-checkpoint"); code != 0 {
		t.Fatalf("the journal does not verify after a replica was killed: %s %s", out, errOut)
	}
	t.Logf("%d requests answered, %d failed on the killed replica, %d journal entries", len(answered), failedB.Load(), len(ids))
}

// TestReplicasAnswerEachChatEventOnce: Slack retries an event to another
// replica, and both replicas' Mattermost WebSockets receive the same post;
// each is answered exactly once.
func TestReplicasAnswerEachChatEventOnce(t *testing.T) {
	t.Parallel()
	p := newChatPlatforms(t)
	fake := newFake(t)
	a, b := startReplicasWith(t, fake, p.chatSection(), p.env...)
	ctx := ctxT(t)

	root := p.slack.AddMessage("C123ABC456", "", p.ada, "<@"+slacktest.BotUserID+"> ask which replica answers?")
	body := slacktest.AppMention("EvReplica", "C123ABC456", p.ada, "ask which replica answers?", root, "")
	for retry, h := range []*hub{a, b, a} {
		resp, err := slacktest.Deliver(http.DefaultClient, h.url+"/slack/events", "application/json", body, slackSecret, retry)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("delivery %d: status %d", retry, resp.StatusCode)
		}
	}
	if err := p.mm.Wait(ctx, func() bool { return p.mm.Connected(p.mm.Bot().Id) }); err != nil {
		t.Fatal("the Mattermost bots did not connect")
	}
	if err := p.mm.Wait(ctx, func() bool {
		sessions := map[string]bool{}
		for _, c := range p.mm.Connections() {
			if c.UserID == p.mm.Bot().Id {
				sessions[c.Assigned] = true
			}
		}
		return len(sessions) >= 2
	}); err != nil {
		t.Fatalf("both replicas' Mattermost bots did not connect: %+v", p.mm.Connections())
	}
	post, err := p.mm.Post(p.alan.Id, p.town.Id, "", "@"+p.mm.Bot().Username+" ask which replica answers?")
	if err != nil {
		t.Fatal(err)
	}
	final := func(text string) bool { return strings.Contains(text, " req_") }
	if err := p.slack.Wait(ctx, func() bool {
		r := p.slack.Replies("C123ABC456", root)
		return len(r) >= 1 && final(r[0].Text)
	}); err != nil {
		t.Fatalf("no Slack answer: %+v", p.slack.BotMessages())
	}
	if err := p.mm.Wait(ctx, func() bool {
		r := p.mm.Replies(post.Id, p.mm.Bot().Id)
		return len(r) >= 1 && final(r[0].Message)
	}); err != nil {
		t.Fatalf("no Mattermost answer: %+v", p.mm.Replies(post.Id, ""))
	}
	// Room for a duplicate to show: the Slack retries were queued (or
	// found a duplicate) before they were answered; the replica that did
	// not answer the post says when it found it queued; then, once no job
	// is left, nothing more can post.
	waitFor(t, 30*time.Second, "the other replica to find the post queued", func() bool {
		return strings.Contains(a.logs.String()+b.logs.String(), "Mattermost post already queued")
	})
	if err := waitJobsDone(a); err != nil {
		t.Fatal(err)
	}
	if r := p.slack.Replies("C123ABC456", root); len(r) != 1 {
		t.Errorf("Slack got %d replies from two replicas, want 1", len(r))
	}
	if r := p.mm.Replies(post.Id, p.mm.Bot().Id); len(r) != 1 {
		t.Errorf("Mattermost got %d replies from two replicas, want 1", len(r))
	}
	if n := fake.Count(); n != 2 {
		t.Errorf("the model was asked %d times for two events", n)
	}
}

// TestReplicasReviewEachMergeRequestOnce: GitLab delivers each merge
// request event twice (as two deliveries, to two replicas); each merge
// request gets exactly one review.
func TestReplicasReviewEachMergeRequestOnce(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.Handle(gitlabtest.Reviewer(gitlabtest.DefaultRules))
	gl := newFakeGitLab(t)
	a, b := startReplicasWith(t, fake, "", glEnv(gl)...)
	ga, gb := &gitlabHub{hub: a, gl: gl}, &gitlabHub{hub: b, gl: gl}
	ga.waitReady(t)
	gb.waitReady(t)

	const mrs = 8
	iids := make([]int64, mrs)
	for i := range iids {
		iids[i] = ga.openMR(fmt.Sprint("feature-", i), map[string]string{"main.go": fmt.Sprintf("package main\n\nfunc main() {\n\trun(%d)\n\tpanic(\"unreachable\")\n}\n", i)})
	}
	var wg sync.WaitGroup
	for i, iid := range iids {
		body := gl.MergeRequestHook(glProject, iid, gitlabtest.HookOptions{Action: "open"})
		for r, g := range []*gitlabHub{ga, gb} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := gitlabtest.Headers(gitlab.EventMergeRequest, glSecret, fmt.Sprintf("delivery-%d-%d", i, r), fmt.Sprintf("event-%d-%d", i, r))
				if code := g.deliver(t, h, body); code != http.StatusAccepted && code != http.StatusOK {
					t.Errorf("delivery to replica %d: %d", r, code)
				}
			}()
		}
	}
	wg.Wait()
	waitFor(t, 60*time.Second, "one summary per merge request", func() bool {
		for _, iid := range iids {
			if summaries(gl, iid) < 1 {
				return false
			}
		}
		return true
	})
	// Every delivery was queued (or found a duplicate) before it was
	// answered: once no job is left, nothing more can post.
	if err := waitJobsDone(a); err != nil {
		t.Fatal(err)
	}
	for _, iid := range iids {
		if n := summaries(gl, iid); n != 1 {
			t.Errorf("merge request !%d has %d summaries, want 1", iid, n)
		}
	}
	if fake.Count() != mrs {
		t.Errorf("the model reviewed %d times for %d merge requests", fake.Count(), mrs)
	}
}

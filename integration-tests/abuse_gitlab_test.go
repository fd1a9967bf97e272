package integrationtests

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/core/store/storetest"
	"timon.dev/timon/webhooks/gitlab"
	"timon.dev/timon/webhooks/gitlab/gitlabtest"
)

// Issue 13, GitLab side: each attack replayed against the real binary.

const (
	sandboxID, sandboxPath = 90, "sandbox/x"
	vaultID, vaultPath     = 91, "secret/vault"
	sandboxSecret          = "sandbox-group-webhook-secret"
	vaultSecret            = "vault-group-webhook-secret"
)

// withProjectPath rewrites the project path a delivery claims (or drops
// it when path is "").
func withProjectPath(t *testing.T, body []byte, path string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	p := m["project"].(map[string]any)
	if path == "" {
		delete(p, "path_with_namespace")
	} else {
		p["path_with_namespace"] = path
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// touched lists the requests the fake GitLab received about a project
// beyond reading the project itself.
func touched(gl *gitlabtest.Server, project int64) []string {
	var out []string
	prefix := "/api/v4/projects/" + strconv.FormatInt(project, 10)
	for _, r := range gl.Requests() {
		if strings.HasPrefix(r.Path, prefix+"/") {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

func botNotes(gl *gitlabtest.Server, project, iid int64) int {
	n := 0
	for _, note := range gl.Notes(project, iid) {
		if note.Author.ID == glBot.ID {
			n++
		}
	}
	return n
}

func promptsContaining(f *fakellm.Server, s string) int {
	n := 0
	for _, r := range f.Requests() {
		if strings.HasSuffix(r.Path, "/chat/completions") && strings.Contains(r.LastUser(), s) {
			n++
		}
	}
	return n
}

// TestAbuseGitLabCrossProjectDelivery: the secret of group sandbox, a
// body naming sandbox/x and carrying the id of secret/vault. The delivery
// is refused; nothing of vault is read but the project itself, nothing
// is sent to the model, nothing is posted.
func TestAbuseGitLabCrossProjectDelivery(t *testing.T) {
	fake := newFake(t)
	fake.Handle(gitlabtest.Reviewer(gitlabtest.DefaultRules))
	t.Setenv("TIMON_TEST_GL_SANDBOX", sandboxSecret)
	t.Setenv("TIMON_TEST_GL_VAULT", vaultSecret)
	g := startGitLabHub(t, fake, `gitlab:
  groups:
    - {path: sandbox, secret_env: TIMON_TEST_GL_SANDBOX}
    - {path: secret, secret_env: TIMON_TEST_GL_VAULT, exclude: ["data/**"]}
`)
	g.gl.AddProject(sandboxID, sandboxPath, map[string]string{"a.go": "package a\n"})
	g.gl.AddProject(vaultID, vaultPath, map[string]string{"v.go": "package v\n"})
	g.gl.SetMember(sandboxID, glDev.ID, gitlabtest.Developer)
	g.gl.SetMember(vaultID, glDev.ID, gitlabtest.Developer)
	g.gl.Commit(vaultID, "leak", "Vault work", map[string]string{
		"data/patients.csv": "name,diagnosis\nVAULT-DATA-7f3a,flu\n",
		"v.go":              "package v\n\nfunc V() { panic(\"VAULT-CODE-91\") }\n",
	})
	vaultMR := g.gl.OpenMR(vaultID, gitlabtest.MROptions{Source: "leak", Title: "Vault work", Author: glDev})
	vaultBody := g.gl.MergeRequestHook(vaultID, vaultMR, gitlabtest.HookOptions{Action: "open"})

	for name, c := range map[string]struct {
		token string
		body  []byte
	}{
		"sandbox secret, sandbox path, vault id": {sandboxSecret, withProjectPath(t, vaultBody, sandboxPath)},
		"sandbox secret, no path, vault id":      {sandboxSecret, withProjectPath(t, vaultBody, "")},
		"default secret, default path, vault id": {glSecret, withProjectPath(t, vaultBody, glPath)},
	} {
		code := g.deliver(t, gitlabtest.Headers(gitlab.EventMergeRequest, c.token, "x-"+name, ""), c.body)
		if code != http.StatusForbidden && code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want a refusal", name, code)
		}
	}
	// The vault's own secret still works for the vault (proof that the
	// refusals were about scope), and a sandbox delivery for sandbox.
	g.gl.Commit(sandboxID, "work", "Sandbox work", map[string]string{"a.go": "package a\n\nfunc A() { panic(1) }\n"})
	sandboxMR := g.gl.OpenMR(sandboxID, gitlabtest.MROptions{Source: "work", Title: "Sandbox work", Author: glDev})
	if code := g.deliver(t, gitlabtest.Headers(gitlab.EventMergeRequest, sandboxSecret, "ok-sandbox", ""),
		g.gl.MergeRequestHook(sandboxID, sandboxMR, gitlabtest.HookOptions{Action: "open"})); code != http.StatusAccepted {
		t.Fatalf("sandbox's own delivery: %d", code)
	}
	waitFor(t, 30*time.Second, "the sandbox review", func() bool { return botNotes(g.gl, sandboxID, sandboxMR) > 0 && fake.Count() >= 1 })
	waitFor(t, 30*time.Second, "the sandbox summary", func() bool {
		for _, n := range g.gl.Notes(sandboxID, sandboxMR) {
			if strings.Contains(n.Body, "<!-- timon:summary -->") {
				return true
			}
		}
		return false
	})
	if got := touched(g.gl, vaultID); len(got) != 0 {
		t.Fatalf("the vault was read or written through another scope's secret: %q", got)
	}
	if promptsContaining(fake, "VAULT-") != 0 || fake.Count() != 1 {
		t.Fatalf("%d model calls, %d with the vault's content", fake.Count(), promptsContaining(fake, "VAULT-"))
	}
	if n := botNotes(g.gl, vaultID, vaultMR); n != 0 {
		t.Fatalf("%d notes posted on the vault", n)
	}

	// With its own secret the vault is reviewed, under its own settings:
	// its data/** stays out of the model's sight.
	if code := g.deliver(t, gitlabtest.Headers(gitlab.EventMergeRequest, vaultSecret, "ok-vault", ""), vaultBody); code != http.StatusAccepted {
		t.Fatalf("the vault's own delivery: %d", code)
	}
	waitFor(t, 30*time.Second, "the vault review", func() bool { return fake.Count() == 2 && botNotes(g.gl, vaultID, vaultMR) > 0 })
	if promptsContaining(fake, "VAULT-DATA") != 0 || promptsContaining(fake, "VAULT-CODE") != 1 {
		t.Fatal("the vault's excluded file reached the model")
	}
}

// TestAbuseGitLabUnsignedDelivery: with a signing secret set, a delivery
// without a signature (or with a bad one) is refused.
func TestAbuseGitLabUnsignedDelivery(t *testing.T) {
	fake := newFake(t)
	fake.Handle(gitlabtest.Reviewer(gitlabtest.DefaultRules))
	signing := "whsec_" + base64.StdEncoding.EncodeToString([]byte("integration signing key 32 bytes"))
	t.Setenv("TIMON_TEST_GL_SIGNING", signing)
	g := startGitLabHub(t, fake, "gitlab:\n  webhook:\n    signing_secret_env: TIMON_TEST_GL_SIGNING\n")
	iid := g.openMR("signed", map[string]string{"main.go": "package main\n\nfunc main() {\n\tpanic(1)\n}\n"})
	body := g.gl.MergeRequestHook(glProject, iid, gitlabtest.HookOptions{Action: "open"})

	unsigned := gitlabtest.Headers(gitlab.EventMergeRequest, glSecret, "unsigned", "")
	if code := g.deliver(t, unsigned, body); code != http.StatusUnauthorized {
		t.Fatalf("unsigned delivery: %d, want 401", code)
	}
	now := time.Now()
	bad := gitlabtest.Headers(gitlab.EventMergeRequest, glSecret, "badsig", "")
	bad.Set("Webhook-Id", "msg_1")
	bad.Set("Webhook-Timestamp", strconv.FormatInt(now.Unix(), 10))
	bad.Set("Webhook-Signature", gitlab.Sign(signing, "msg_1", now, append([]byte(" "), body...)))
	if code := g.deliver(t, bad, body); code != http.StatusUnauthorized {
		t.Fatalf("badly signed delivery: %d, want 401", code)
	}
	signed := gitlabtest.Headers(gitlab.EventMergeRequest, glSecret, "signed", "")
	signed.Set("Webhook-Id", "msg_2")
	signed.Set("Webhook-Timestamp", strconv.FormatInt(now.Unix(), 10))
	signed.Set("Webhook-Signature", gitlab.Sign(signing, "msg_2", now, body))
	if code := g.deliver(t, signed, body); code != http.StatusAccepted {
		t.Fatalf("signed delivery: %d, want 202", code)
	}
	waitFor(t, 30*time.Second, "the review", func() bool { return summaries(g.gl, iid) == 1 })
	if fake.Count() != 1 {
		t.Fatalf("%d model calls, want 1 (the signed delivery's)", fake.Count())
	}
}

// TestAbuseGitLabRepositoryFileCannotWiden: a .timon.yaml on the target
// branch that replaces the institution's include and asks for more is
// narrowed: what the institution leaves out never reaches the model.
func TestAbuseGitLabRepositoryFileCannotWiden(t *testing.T) {
	fake := newFake(t)
	fake.Handle(gitlabtest.Reviewer(gitlabtest.DefaultRules))
	g := startGitLabHub(t, fake, "gitlab:\n  review:\n    include: [\"src/**\"]\n    exclude: [\"data/**\"]\n    max_inline_comments: 1\n")
	g.gl.Commit(glProject, "main", "Widen the review", map[string]string{
		".timon.yaml": "include: [\"**\"]\nprofile: thorough\nmax_inline_comments: 50\nmin_confidence: 0.01\nreview_drafts: true\n",
	})
	iid := g.openMR("widen", map[string]string{
		"src/a.go":      "package src\n\nfunc A() { panic(\"SRC-IN\") }\nfunc B() { panic(\"SRC-IN-2\") }\n",
		"data/rows.csv": "WIDEN-DATA-MARK\n",
		"notes/n.go":    "package notes\n\n// WIDEN-NOTES-MARK\n",
	})
	if code := g.openEvent(t, iid, "widen"); code != http.StatusAccepted {
		t.Fatalf("delivery: %d", code)
	}
	waitFor(t, 30*time.Second, "the review", func() bool { return summaries(g.gl, iid) == 1 })
	if promptsContaining(fake, "SRC-IN") != 1 {
		t.Fatal("the included file was not reviewed")
	}
	if promptsContaining(fake, "WIDEN-DATA-MARK") != 0 || promptsContaining(fake, "WIDEN-NOTES-MARK") != 0 {
		t.Fatal("a file the institution leaves out reached the model")
	}
	if n := len(g.gl.InlineNotes(glProject, iid)); n != 1 {
		t.Fatalf("%d inline comments, want 1 (the institution's cap)", n)
	}
	for _, n := range g.gl.Notes(glProject, iid) {
		if strings.Contains(n.Body, "<!-- timon:summary -->") && !strings.Contains(n.Body, "asks for more than the institution") {
			t.Fatalf("the summary does not say the file was narrowed:\n%s", n.Body)
		}
	}
}

// TestAbuseGitLabKill9MidReviewAsksNoChunkTwice: a review of several
// chunks, the hub killed with SIGKILL while the model works on the
// second; after a restart the review resumes: the first chunk is not
// asked again, and exactly one review is posted.
func TestAbuseGitLabKill9MidReviewAsksNoChunkTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the hub")
	}
	fake := newFake(t)
	rules := gitlabtest.Reviewer(gitlabtest.DefaultRules)
	arrived := make(chan struct{})
	release := make(chan struct{})
	var n atomic.Int64
	fake.Handle(func(q fakellm.Request) fakellm.Reply {
		if n.Add(1) == 2 {
			close(arrived)
			<-release // held until the hub is dead
			return fakellm.Reply{Status: http.StatusServiceUnavailable}
		}
		return rules(q)
	})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	g := startGitLabHub(t, fake, "gitlab:\n  chunk_tokens: 1000\njobs:\n  workers: 2\n  job_timeout: 4s\n  rescue_after: 5s\n")

	const files = 4
	content := map[string]string{}
	for i := 0; i < files; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "package p%d\n\n// CHUNK-MARK-%d\nfunc F%d() {\n\tpanic(%d)\n}\n", i, i, i, i)
		for k := 0; k < 6; k++ {
			fmt.Fprintf(&b, "\n// filler line %02d of file %d, to give each file a chunk of its own.\n", k, i)
		}
		content[fmt.Sprintf("p%d/f.go", i)] = b.String()
	}
	iid := g.openMR("chunks", content)
	if code := g.openEvent(t, iid, "chunks"); code != http.StatusAccepted {
		t.Fatalf("delivery: %d", code)
	}
	select {
	case <-arrived:
	case <-time.After(60 * time.Second):
		t.Fatal("the review never asked for a second chunk")
	}
	g.cmd.Process.Kill()
	<-g.waited
	free()
	if botNotes(g.gl, glProject, iid) != 0 {
		t.Fatal("something was posted before the kill; the test would prove nothing")
	}
	h2 := launchHub(t, fake, g.cfg, g.data)
	g2 := &gitlabHub{hub: h2, gl: g.gl}
	g2.waitReady(t)
	waitFor(t, 90*time.Second, "the resumed review", func() bool { return summaries(g.gl, iid) == 1 })
	// One request per chunk, plus the one cut by the kill.
	asked := map[int]int{}
	total := 0
	for i := 0; i < files; i++ {
		asked[i] = promptsContaining(fake, fmt.Sprintf("CHUNK-MARK-%d", i))
		total += asked[i]
	}
	first := -1
	for _, q := range fake.Requests() {
		if !strings.HasSuffix(q.Path, "/chat/completions") {
			continue
		}
		for i := 0; i < files; i++ {
			if strings.Contains(q.LastUser(), fmt.Sprintf("CHUNK-MARK-%d", i)) {
				first = i
			}
		}
		break
	}
	if first < 0 {
		t.Fatalf("no chunk found in the first request; asked %v", asked)
	}
	if asked[first] != 1 {
		t.Fatalf("the chunk answered before the kill was asked %d times (asked %v)", asked[first], asked)
	}
	twice := 0
	for i, c := range asked {
		switch {
		case c == 2:
			twice++
		case c != 1:
			t.Fatalf("chunk of file %d asked %d times (asked %v)", i, c, asked)
		}
	}
	if twice != 1 || total != files+1 || fake.Count() != files+1 {
		t.Fatalf("asked %v, %d model calls; want each chunk once and the one cut by the kill once more", asked, fake.Count())
	}
	if s := summaries(g.gl, iid); s != 1 {
		t.Fatalf("%d summaries", s)
	}
	if n := len(g.gl.InlineNotes(glProject, iid)); n != files {
		t.Fatalf("%d inline comments, want %d (one panic a file)", n, files)
	}
}

// reviewForRest opens a merge request whose title, description and diff
// carry markers, has it reviewed and a question answered, and returns the
// markers.
func reviewForRest(t *testing.T, g *gitlabHub, fake *fakellm.Server) []string {
	t.Helper()
	marks := []string{"REST-TITLE-5e1d", "REST-DESC-9b7c", "REST-DIFF-c0de", "REST-QUESTION-4a2f"}
	g.gl.Commit(glProject, "rest", "Rest work", map[string]string{
		"main.go": "package main\n\nfunc main() {\n\tpanic(\"" + marks[2] + "\")\n}\n",
	})
	iid := g.gl.OpenMR(glProject, gitlabtest.MROptions{Source: "rest", Title: "Work " + marks[0], Description: "Why: " + marks[1], Author: glDev})
	if code := g.openEvent(t, iid, "rest"); code != http.StatusAccepted {
		t.Fatalf("delivery: %d", code)
	}
	waitFor(t, 60*time.Second, "the review", func() bool { return summaries(g.gl, iid) == 1 })
	note := "/timon explain what does " + marks[3] + " mean?"
	id := g.gl.AddNote(glProject, iid, glDev, note)
	if code := g.deliver(t, gitlabtest.Headers(gitlab.EventNote, glSecret, "rest-note", ""), g.gl.NoteHook(glProject, iid, id, glDev, note)); code != http.StatusAccepted {
		t.Fatalf("command: %d", code)
	}
	waitFor(t, 60*time.Second, "the answer", func() bool {
		for _, n := range g.gl.Notes(glProject, iid) {
			if n.Author.ID == glBot.ID && strings.Contains(n.Body, marks[3]) {
				return true
			}
		}
		return false
	})
	for _, m := range marks[:3] {
		if promptsContaining(fake, m) == 0 {
			t.Fatalf("%s never reached the model: the test would prove nothing", m)
		}
	}
	return marks
}

// TestAbuseGitLabNoDiffAtRestSQLite: after a finished review, neither
// the SQLite file nor its WAL nor the hub's logs hold the diff, the title,
// the description or the question.
func TestAbuseGitLabNoDiffAtRestSQLite(t *testing.T) {
	fake := newFake(t)
	fake.Handle(gitlabtest.Reviewer(gitlabtest.DefaultRules))
	g := startGitLabHub(t, fake, "")
	marks := reviewForRest(t, g, fake)
	files, _ := filepath.Glob(filepath.Join(g.data, "timon.db*"))
	if len(files) == 0 {
		t.Fatal("no SQLite file")
	}
	check := func(when string) {
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			for _, m := range marks {
				if bytes.Contains(b, []byte(m)) {
					t.Errorf("%s: %s holds %s in clear", when, filepath.Base(f), m)
				}
			}
		}
		for _, m := range marks {
			if strings.Contains(g.logs.String(), m) {
				t.Errorf("%s: the logs hold %s", when, m)
			}
		}
	}
	check("running")
	g.cmd.Process.Signal(os.Interrupt)
	<-g.waited
	check("stopped")
}

// TestAbuseGitLabNoDiffAtRestPostgres: the same on PostgreSQL, over the
// rows of every table (River's jobs included).
func TestAbuseGitLabNoDiffAtRestPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	t.Setenv("TIMON_TEST_PG_DSN", dsn)
	fake := newFake(t)
	fake.Handle(gitlabtest.Reviewer(gitlabtest.DefaultRules))
	g := startGitLabHub(t, fake, "store:\n  driver: postgres\n  dsn_env: TIMON_TEST_PG_DSN\n")
	marks := reviewForRest(t, g, fake)

	tables := pgRowsAsText(t, dsn)
	if _, ok := tables["river_job"]; len(tables) < 5 || !ok {
		t.Fatalf("%d tables, river_job among them: %v", len(tables), ok)
	}
	for tb, texts := range tables {
		for _, row := range texts {
			for _, m := range marks {
				if strings.Contains(row, m) {
					t.Errorf("table %s holds %s in clear", tb, m)
				}
			}
		}
	}
	for _, m := range marks {
		if strings.Contains(g.logs.String(), m) {
			t.Errorf("the logs hold %s", m)
		}
	}
}

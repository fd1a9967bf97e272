package integrationtests

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/webhooks/gitlab"
	"timon.dev/timon/webhooks/gitlab/gitlabtest"
)

// reviewSuppressions runs `timon review suppressions` on the hub's
// configuration and data.
func reviewSuppressions(t *testing.T, g *gitlabHub, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"review", "suppressions", "--config", g.cfg}, args...)...)
	cmd.Env = append(append(os.Environ(), "TIMON_DATA_DIR="+g.data, "TIMON_PROVIDER_URL="), g.env...)
	out, errOut, code := runCmd(t, cmd)
	if code != 0 {
		t.Fatalf("timon review suppressions %v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// TestGitLabReviewsLearnAndAnswerInDiscussions: the real binary learns
// from 👎 given to its findings (the kind is suppressed in the project and
// `timon review suppressions` shows it and clears it), and answers a
// /timon ask in the discussion it was asked in, once under a retried
// delivery.
func TestGitLabReviewsLearnAndAnswerInDiscussions(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	review := gitlabtest.Reviewer(gitlabtest.DefaultRules)
	fake.Handle(func(q fakellm.Request) fakellm.Reply {
		if len(q.ResponseFormat) == 0 {
			return fakellm.Reply{Text: "It stops the program on a bad input."}
		}
		return review(q)
	})
	g := startGitLabHub(t, fake, "")
	iid := g.openMR("three-panics", map[string]string{
		"a.go": "package main\n\nfunc a() {\n\tpanic(\"a\")\n}\n",
		"b.go": "package main\n\nfunc b() {\n\tpanic(\"b\")\n}\n",
		"c.go": "package main\n\nfunc c() {\n\tpanic(\"c\")\n}\n",
	})
	if code := g.openEvent(t, iid, "learn-open"); code != http.StatusAccepted {
		t.Fatalf("open: %d", code)
	}
	waitFor(t, 30*time.Second, "the review", func() bool { return summaries(g.gl, iid) == 1 })
	if err := waitJobsDone(g.hub); err != nil {
		t.Fatal(err)
	}
	inline := g.gl.InlineNotes(glProject, iid)
	if len(inline) != 3 {
		t.Fatalf("%d findings, want 3", len(inline))
	}
	for _, n := range inline {
		g.gl.AwardEmoji(glProject, iid, n.ID, glDev, "thumbsdown")
	}

	// /timon ask in a discussion on a line: answered there, once.
	_, disc := g.gl.AddDiffNote(glProject, iid, glDev, "Why?", gitlabtest.Position{OldPath: "a.go", NewPath: "a.go", NewLine: 4})
	ask := "/timon ask what happens on bad input?"
	note := g.gl.Reply(glProject, iid, disc, glDev, ask)
	hook := g.gl.DiffNoteHook(glProject, iid, note, glDev, ask)
	for i := 0; i < 3; i++ {
		g.deliver(t, gitlabtest.Headers(gitlab.EventNote, glSecret, "ask-once", ""), hook)
	}
	answered := func() int {
		n := 0
		for _, d := range g.gl.Discussions(glProject, iid) {
			for _, x := range d.Notes {
				if x.Author.ID == glBot.ID && d.ID == disc && strings.Contains(x.Body, "It stops the program") {
					n++
				}
			}
		}
		return n
	}
	waitFor(t, 30*time.Second, "the answer in the discussion", func() bool { return answered() > 0 })

	// The next review learns the three dismissals.
	head := g.gl.Push(glProject, iid, "Readme", map[string]string{"README.md": "# Solver\n"})
	g.deliver(t, gitlabtest.Headers(gitlab.EventMergeRequest, glSecret, "learn-push", ""),
		g.gl.MergeRequestHook(glProject, iid, gitlabtest.HookOptions{Action: "update", OldRev: "x"}))
	waitFor(t, 30*time.Second, "the second review", func() bool {
		for _, n := range g.gl.Notes(glProject, iid) {
			if n.Author.ID == glBot.ID && strings.Contains(n.Body, "<!-- timon:summary -->") && strings.Contains(n.Body, head[:8]) {
				return true
			}
		}
		return false
	})
	if err := waitJobsDone(g.hub); err != nil {
		t.Fatal(err)
	}
	if n := answered(); n != 1 {
		t.Fatalf("%d answers in the discussion, want 1", n)
	}

	out := reviewSuppressions(t, g, "--project", glPath)
	if !strings.Contains(out, "error-handling") || !strings.Contains(out, "suppressed (dismissed 3 times, threshold 3)") {
		t.Fatalf("suppressions:\n%s", out)
	}
	// A new merge request in the project: no error-handling finding.
	iid2 := g.openMR("one-panic", map[string]string{"d.go": "package main\n\nfunc d() {\n\tpanic(\"d\")\n}\n"})
	g.openEvent(t, iid2, "learn-open-2")
	waitFor(t, 30*time.Second, "the review of the second merge request", func() bool { return summaries(g.gl, iid2) == 1 })
	if n := len(g.gl.InlineNotes(glProject, iid2)); n != 0 {
		t.Fatalf("a suppressed kind was raised: %d notes", n)
	}

	// Cleared: raised again.
	if out := reviewSuppressions(t, g, "--project", glPath, "--clear", "error-handling"); !strings.Contains(out, "count started afresh") {
		t.Fatalf("clear: %s", out)
	}
	if out := reviewSuppressions(t, g, "--project", glPath); strings.Contains(out, "error-handling") {
		t.Fatalf("after clear:\n%s", out)
	}
	iid3 := g.openMR("one-more-panic", map[string]string{"e.go": "package main\n\nfunc e() {\n\tpanic(\"e\")\n}\n"})
	g.openEvent(t, iid3, "learn-open-3")
	waitFor(t, 30*time.Second, "the review of the third merge request", func() bool { return summaries(g.gl, iid3) == 1 })
	if n := len(g.gl.InlineNotes(glProject, iid3)); n != 1 {
		t.Fatalf("%d findings after the clear, want 1", n)
	}
	if logs := g.logs.String(); strings.Contains(logs, "what happens on bad input") {
		t.Fatal("the logs carry the question")
	}
}
